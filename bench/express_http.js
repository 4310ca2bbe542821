// HTTP benchmark of the same small Express app with (a) no limiter, (b) express-rate-limit +
// rate-limit-redis (node-redis client), (c) redkeeper's rateLimit on the same redis-server, and
// (d) redkeeper on memory:// for reference. Each app runs in its own child process; autocannon
// loads it from this process. Prints requests/s, p99 latency and the ratios, and, steadier on a
// busy machine, the CPU time the app process and redis-server spent per request.
//
//   node bench/express_http.js [--duration 5] [--connections 50] [--rounds 2]
'use strict';

const { spawn } = require('child_process');
const path = require('path');

const VARIANTS = ['none', 'erl-redis', 'redkeeper-redis', 'redkeeper-memory'];
const LABELS = {
  none: 'no limiter',
  'erl-redis': 'express-rate-limit + rate-limit-redis',
  'redkeeper-redis': 'redkeeper rateLimit (redis)',
  'redkeeper-memory': 'redkeeper rateLimit (memory://)',
};
// Huge, so nothing is rejected: every request does the full store round trip and gets a 200.
const LIMIT = 1e9;
const WINDOW_MS = 60000;

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : process.argv[i + 1];
}

// ---- server side (child process) -------------------------------------------------------------

async function serve(variant, redisUrl) {
  const express = require('express');
  const app = express();
  app.disable('etag');
  const headers = { standardHeaders: 'draft-7', legacyHeaders: true };
  let close = async () => {};
  if (variant === 'erl-redis') {
    const { rateLimit } = require('express-rate-limit');
    const { RedisStore } = require('rate-limit-redis');
    const { createClient } = require('redis');
    const redis = createClient({ url: redisUrl });
    await redis.connect();
    app.use(
      rateLimit({
        windowMs: WINDOW_MS,
        limit: LIMIT,
        ...headers,
        store: new RedisStore({ sendCommand: (...args) => redis.sendCommand(args), prefix: 'bench:' }),
      }),
    );
    close = () => redis.quit();
  } else if (variant === 'redkeeper-redis' || variant === 'redkeeper-memory') {
    const { connect } = require('../node/index.js');
    const { rateLimit } = require('../node/express.js');
    const client = connect(variant === 'redkeeper-redis' ? redisUrl : 'memory://', { prefix: 'bench' });
    app.use(rateLimit({ client, windowMs: WINDOW_MS, limit: LIMIT, ...headers }));
    close = () => client.close();
  }
  app.get('/', (req, res) => res.send('ok'));
  const server = app.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }));
  process.on('message', async (m) => {
    if (m === 'cpu') {
      const u = process.cpuUsage();
      process.send({ cpuUs: u.user + u.system });
    } else if (m === 'stop') {
      server.close();
      await close();
      process.exit(0);
    }
  });
}

// ---- load side (this process) ----------------------------------------------------------------

function startServer(variant, redisUrl) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [__filename, '--serve', variant, '--redis', redisUrl], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    child.once('message', (m) => resolve({ child, port: m.port }));
    child.once('exit', (code) => reject(new Error(`${variant} server exited with ${code}`)));
  });
}

function serverCpuUs({ child }) {
  return new Promise((resolve) => {
    child.once('message', (m) => resolve(m.cpuUs));
    child.send('cpu');
  });
}

async function redisCpuUs(redis) {
  const info = await redis.call(['INFO', 'cpu']);
  const field = (name) => Number(new RegExp(`${name}:([0-9.]+)`).exec(info)[1]);
  return (field('used_cpu_user') + field('used_cpu_sys')) * 1e6;
}

function stopServer({ child }) {
  return new Promise((resolve) => {
    child.removeAllListeners('exit');
    child.once('exit', resolve);
    child.send('stop');
  });
}

async function load(port, seconds, connections) {
  const autocannon = require('autocannon');
  const result = await autocannon({ url: `http://127.0.0.1:${port}/`, connections, duration: seconds, pipelining: 1 });
  const bad = result.non2xx + result.errors + result.timeouts;
  if (bad > 0) throw new Error(`port ${port}: ${result.non2xx} non-2xx, ${result.errors} errors, ${result.timeouts} timeouts`);
  return { rps: result.requests.average, p99: result.latency.p99, total: result.requests.total };
}

function median(values) {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

async function main() {
  const seconds = Number(arg('duration', 5));
  const connections = Number(arg('connections', 50));
  const rounds = Number(arg('rounds', 2));
  const { startRedis } = require(path.join(__dirname, '..', 'tests', 'node', 'helpers', 'redisServer.js'));
  const redis = await startRedis();
  console.log(`redis-server ${redis.url}; ${connections} connections, ${seconds} s per run, ${rounds} interleaved rounds, node ${process.version}`);
  const samples = Object.fromEntries(VARIANTS.map((v) => [v, []]));
  try {
    // Interleaved rounds: background noise on a shared machine falls on every variant alike.
    for (let round = 0; round < rounds; round++) {
      for (const variant of VARIANTS) {
        const server = await startServer(variant, redis.url);
        try {
          await load(server.port, 1, connections); // warm-up: JIT, connections, script cache
          const cpu0 = await serverCpuUs(server);
          const redis0 = await redisCpuUs(redis);
          const r = await load(server.port, seconds, connections);
          r.appCpuUs = ((await serverCpuUs(server)) - cpu0) / r.total;
          r.redisCpuUs = ((await redisCpuUs(redis)) - redis0) / r.total;
          samples[variant].push(r);
          console.log(
            `  round ${round + 1} ${LABELS[variant].padEnd(40)} ${r.rps.toFixed(0).padStart(7)} req/s  p99 ${String(r.p99).padStart(4)} ms` +
              `  cpu/req: app ${r.appCpuUs.toFixed(1)} us, redis ${r.redisCpuUs.toFixed(1)} us`,
          );
        } finally {
          await stopServer(server);
        }
      }
    }
  } finally {
    await redis.stop();
  }
  const summary = {};
  for (const v of VARIANTS) {
    const m = (f) => median(samples[v].map(f));
    summary[v] = { rps: m((s) => s.rps), p99: m((s) => s.p99), app: m((s) => s.appCpuUs), redis: m((s) => s.redisCpuUs) };
  }
  console.log('\nmedian over rounds:');
  for (const v of VARIANTS) {
    const x = summary[v];
    console.log(`  ${LABELS[v].padEnd(40)} ${x.rps.toFixed(0).padStart(7)} req/s  p99 ${String(x.p99).padStart(4)} ms  cpu/req: app ${x.app.toFixed(1)} us, redis ${x.redis.toFixed(1)} us`);
  }
  const ours = summary['redkeeper-redis'];
  console.log(`  (app CPU over no limiter, memory://: ${(summary['redkeeper-memory'].app - summary.none.app).toFixed(1)} us/request)`);
  const peer = summary['erl-redis'];
  const none = summary.none;
  console.log('\nratios:');
  console.log(`  redkeeper / express-rate-limit (redis)  throughput x${(ours.rps / peer.rps).toFixed(2)}, p99 ${ours.p99} vs ${peer.p99} ms`);
  console.log(`  redkeeper (redis) vs no limiter         throughput ${((ours.rps / none.rps) * 100).toFixed(1)}% (overhead ${((1 - ours.rps / none.rps) * 100).toFixed(1)}%), p99 ${ours.p99} vs ${none.p99} ms`);
  console.log(`  limiter CPU per request in the app (over no limiter): redkeeper ${(ours.app - none.app).toFixed(1)} us, express-rate-limit ${(peer.app - none.app).toFixed(1)} us; in redis-server: ${ours.redis.toFixed(1)} vs ${peer.redis.toFixed(1)} us`);
  const mem = summary['redkeeper-memory'];
  console.log(`  redkeeper (memory://) vs no limiter     throughput ${((mem.rps / none.rps) * 100).toFixed(1)}% (overhead ${((1 - mem.rps / none.rps) * 100).toFixed(1)}%), p99 ${mem.p99} vs ${none.p99} ms`);
}

if (process.argv.includes('--serve')) {
  serve(arg('serve'), arg('redis')).catch((err) => {
    console.error(err);
    process.exit(1);
  });
} else {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
