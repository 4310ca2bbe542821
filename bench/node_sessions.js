// Benchmark: our express-session SessionStore (rk.sessions on Redis) against connect-redis over the
// node-redis client, on one private redis-server started here, in one run:
//   (a) store.get(sid, cb) called directly, closed loop at concurrency 1 and 64 (interleaved rounds,
//       median ops/s), over a pool of pre-created sessions;
//   (b) a real Express app with express-session (resave: false, so every request is get + touch),
//       one child process per store, loaded with autocannon. A third app uses a store that
//       answers at once from process memory (no I/O, no parsing): its rate is the ceiling any
//       store can reach through this stack, so "ceiling / connect-redis" bounds the ratio any
//       Redis store could show here.
// Prints ops/s (req/s), p50/p99, client and server CPU per op (steadier than ops/s on a loaded
// machine) and ratios ours / connect-redis.
// Usage: node bench/node_sessions.js [--seconds S] [--rounds R] [--sessions N] [--concurrency 1,64]
//                                    [--connections 64] [--http-seconds S] [--json]
'use strict';

const { fork } = require('child_process');

const signature = require('cookie-signature');

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

const SECRET = 'bench secret';
const PREFIX = 'bench';
const SESSION_NAME = 'express';  // our namespace (SessionStore's default)

// A typical express-session payload: cookie + a logged-in user and a few fields.
function sessionData(i) {
  return {
    cookie: { originalMaxAge: 86400000, expires: new Date(Date.now() + 86400000).toISOString(), httpOnly: true, path: '/' },
    userId: `user-${i}`,
    views: i % 17,
    roles: ['reader', 'writer'],
    csrf: `token-${i}-abcdefghijklmnopqrstuvwxyz`,
  };
}

function makeStores(redisUrl) {
  const { createClient } = require('redis');
  const { RedisStore } = require('connect-redis');
  const { connect } = require('..');
  const { SessionStore } = require('../node/express');
  const nodeRedis = createClient({ url: redisUrl });
  const rk = connect(redisUrl, { prefix: PREFIX, commandTimeoutMs: 5000 });
  return {
    nodeRedis,
    rk,
    ours: new SessionStore({ client: rk, name: SESSION_NAME }),
    peer: new RedisStore({ client: nodeRedis, prefix: 'sess:' }),
    async close() {
      await nodeRedis.quit();
      await rk.close();
    },
  };
}

const sids = (n) => Array.from({ length: n }, (_, i) => `bench-sid-${i}-${'x'.repeat(16)}`);

// ---- child: one Express app on one store ----
async function serve(which, redisUrl) {
  const express = require('express');
  const session = require('express-session');
  const stores = makeStores(redisUrl);
  await stores.nodeRedis.connect();
  const app = express();
  let store = stores[which];
  if (which === 'instant') {
    // The cheapest store express-session can have: a fresh copy of one session, on the next tick.
    const data = sessionData(0);
    store = new session.Store();
    store.get = (sid, cb) => process.nextTick(cb, null, { ...data, cookie: { ...data.cookie } });
    store.set = (sid, sess, cb) => process.nextTick(cb, null);
    store.touch = (sid, sess, cb) => process.nextTick(cb, null);
    store.destroy = (sid, cb) => process.nextTick(cb, null);
  }
  app.use(session({ store, secret: SECRET, resave: false, saveUninitialized: false }));
  app.get('/', (req, res) => res.end(String(req.session.views === undefined ? 'none' : req.session.views)));
  const srv = app.listen(0, '127.0.0.1', () => process.send({ port: srv.address().port }));
  process.on('message', async (m) => {
    if (m === 'stop') {
      srv.close();
      await stores.close();
      process.exit(0);
    }
  });
}

// ---- parent ----
// CPU time (ms) a process has used, from /proc (Linux); undefined elsewhere.
function processCpuMs(pid) {
  try {
    const fields = require('fs').readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch (_) {
    return undefined;
  }
}

async function measure(op, concurrency, seconds, pool, serverPid) {
  const latencies = [];
  const endAt = process.hrtime.bigint() + BigInt(Math.round(seconds * 1e9));
  let counter = 0;
  async function caller() {
    for (;;) {
      const t0 = process.hrtime.bigint();
      if (t0 >= endAt) return;
      const v = await op(pool[counter++ % pool.length]);
      if (v === null || v === undefined) throw new Error('session not found');
      latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
  }
  const start = process.hrtime.bigint();
  const cpu0 = process.cpuUsage();
  const server0 = processCpuMs(serverPid);
  await Promise.all(Array.from({ length: concurrency }, caller));
  const cpu = process.cpuUsage(cpu0);
  const server1 = processCpuMs(serverPid);
  const elapsedS = Number(process.hrtime.bigint() - start) / 1e9;
  latencies.sort((a, b) => a - b);
  const n = latencies.length;
  return {
    opsPerS: n / elapsedS,
    latencies,
    clientCpuUs: (cpu.user + cpu.system) / n,
    serverCpuUs: server0 === undefined ? NaN : ((server1 - server0) * 1000) / n,
  };
}

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const promisifiedGet = (store) => (sid) => new Promise((resolve, reject) => store.get(sid, (err, v) => (err ? reject(err) : resolve(v))));

async function httpRun(which, redisUrl, sid, connections, seconds) {
  const autocannon = require('autocannon');
  const child = fork(__filename, ['--serve', which, '--redis', redisUrl], { stdio: 'inherit' });
  const { port } = await new Promise((resolve) => child.once('message', resolve));
  const cookie = `connect.sid=${encodeURIComponent(`s:${signature.sign(sid, SECRET)}`)}`;
  // Warm-up (script cache, connections), then the measured run.
  await autocannon({ url: `http://127.0.0.1:${port}/`, connections, duration: 1, headers: { cookie } });
  const r = await autocannon({ url: `http://127.0.0.1:${port}/`, connections, duration: seconds, headers: { cookie } });
  child.send('stop');
  await new Promise((resolve) => child.once('exit', resolve));
  if (r.non2xx > 0 || r.errors > 0) throw new Error(`${which}: ${r.non2xx} non-2xx, ${r.errors} errors`);
  return { reqPerS: r.requests.average, p50: r.latency.p50, p99: r.latency.p99 };
}

async function main() {
  const SECONDS = Number(arg('seconds', 2));
  const ROUNDS = Number(arg('rounds', 3));
  const N = Number(arg('sessions', 1000));
  const CONCURRENCY = String(arg('concurrency', '1,64')).split(',').map(Number);
  const CONNECTIONS = Number(arg('connections', 64));
  const HTTP_SECONDS = Number(arg('http-seconds', 5));
  const JSON_OUT = process.argv.includes('--json');

  const { startRedis } = require('../tests/node/helpers/redisServer');
  const server = await startRedis();
  const stores = makeStores(server.url);
  await stores.nodeRedis.connect();
  const pool = sids(N);
  for (let i = 0; i < N; i++) {
    const data = sessionData(i);
    await stores.ours.set(pool[i], data);
    await stores.peer.set(pool[i], data);
  }
  // Both stores hand express-session the same object.
  const a = await promisifiedGet(stores.ours)(pool[1]);
  const b = await promisifiedGet(stores.peer)(pool[1]);
  if (!require('util').isDeepStrictEqual(a, b)) {
    throw new Error(`stores disagree: ${JSON.stringify(a)} vs ${JSON.stringify(b)}`);
  }

  const contenders = { ours: promisifiedGet(stores.ours), 'connect-redis': promisifiedGet(stores.peer) };
  const results = { direct: {}, http: {} };
  for (const c of CONCURRENCY) {
    const runs = { ours: [], 'connect-redis': [] };
    for (let r = 0; r < ROUNDS; r++) {
      for (const [name, op] of Object.entries(contenders)) runs[name].push(await measure(op, c, SECONDS, pool, server.pid));
    }
    results.direct[c] = {};
    for (const [name, list] of Object.entries(runs)) {
      const best = list.map((x) => x.opsPerS);
      const mid = list.find((x) => x.opsPerS === median(best));
      results.direct[c][name] = {
        opsPerS: median(best),
        p50: pct(mid.latencies, 50),
        p99: pct(mid.latencies, 99),
        clientCpuUs: median(list.map((x) => x.clientCpuUs)),
        serverCpuUs: median(list.map((x) => x.serverCpuUs)),
      };
    }
    results.direct[c].ratio = results.direct[c].ours.opsPerS / results.direct[c]['connect-redis'].opsPerS;
    results.direct[c].cpuRatio = results.direct[c]['connect-redis'].clientCpuUs / results.direct[c].ours.clientCpuUs;
  }
  await stores.close();

  const HTTP_NAMES = { ours: 'ours', peer: 'connect-redis', instant: 'ceiling' };
  for (const which of ['ours', 'peer', 'instant']) {
    results.http[HTTP_NAMES[which]] = await httpRun(which, server.url, pool[0], CONNECTIONS, HTTP_SECONDS);
  }
  results.http.ratio = results.http.ours.reqPerS / results.http['connect-redis'].reqPerS;
  results.http.ceilingRatio = results.http.ceiling.reqPerS / results.http['connect-redis'].reqPerS;
  await server.stop();

  if (JSON_OUT) {
    process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
    return;
  }
  const f = (x) => x.toFixed(0).padStart(8);
  const ms = (x) => x.toFixed(3).padStart(7);
  console.log(`store.get(sid) direct, ${N} sessions, ${ROUNDS} rounds x ${SECONDS}s (median ops/s)`);
  for (const c of CONCURRENCY) {
    const r = results.direct[c];
    for (const name of ['ours', 'connect-redis']) {
      const x = r[name];
      console.log(`  c=${String(c).padEnd(3)} ${name.padEnd(14)} ${f(x.opsPerS)} ops/s  p50 ${ms(x.p50)} ms  p99 ${ms(x.p99)} ms` +
        `  client ${x.clientCpuUs.toFixed(1)} us/op  server ${x.serverCpuUs.toFixed(1)} us/op`);
    }
    console.log(`  c=${String(c).padEnd(3)} ratio ours/connect-redis: ${r.ratio.toFixed(2)}x ops/s, ${r.cpuRatio.toFixed(2)}x less client CPU per op`);
  }
  console.log(`Express + express-session (get + touch per request), autocannon ${CONNECTIONS} connections, ${HTTP_SECONDS}s`);
  for (const name of ['ours', 'connect-redis', 'ceiling']) {
    const r = results.http[name];
    console.log(`  ${name.padEnd(14)} ${f(r.reqPerS)} req/s  p50 ${r.p50} ms  p99 ${r.p99} ms`);
  }
  console.log(`  ratio ours/connect-redis: ${results.http.ratio.toFixed(2)}x; ceiling (a store answering from memory, no I/O)/connect-redis: ` +
    `${results.http.ceilingRatio.toFixed(2)}x`);
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
