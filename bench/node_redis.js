// Benchmark: redkeeper limiter.hit() on Redis against rate-limiter-flexible RateLimiterRedis.consume()
// over ioredis (plain, and with enableAutoPipelining), fixed window, at concurrency 1 and 64, on one
// private redis-server started here; plus the ceiling: redis-benchmark pipelining EVALSHA of a
// fixed-window script against the same server (bench/redis_ceiling.sh). Prints ops/s, p50/p99 and
// ratios. Measurements are interleaved round by round and ops/s is the median, so background load
// hits every contender alike.
// Usage: node bench/node_redis.js [--seconds S] [--rounds R] [--keys K] [--concurrency 1,64]
//                                 [--ceiling-clients 1,4] [--json]
//        node bench/node_redis.js --cluster [--seconds S] [--rounds R] [--keys 10000]
// --cluster: our limiter at concurrency 64 (keys spread over --keys ids) on a private 3-primary Redis
// Cluster (redis+cluster://, no replicas) against a private single redis-server, same run.
'use strict';

const { execFile } = require('child_process');
const fs = require('fs');
const path = require('path');
const Redis = require('ioredis');
const { RateLimiterRedis } = require('rate-limiter-flexible');
const { connect } = require('..');
const { startRedis } = require('../tests/node/helpers/redisServer');

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

const SECONDS = Number(arg('seconds', 2));
const ROUNDS = Number(arg('rounds', 3));
const CLUSTER = process.argv.includes('--cluster');
const KEYS = Number(arg('keys', CLUSTER ? 10000 : 1000));
const CONCURRENCY = String(arg('concurrency', '1,64')).split(',').map(Number);
const CEILING_CLIENTS = String(arg('ceiling-clients', '1,4')).split(',').map(Number);
const JSON_OUT = process.argv.includes('--json');
// Huge, so nothing is rejected: every call does the full accounting work. Same for everyone.
const LIMIT = 1_000_000_000;
const WINDOW_S = 3600;

const keys = Array.from({ length: KEYS }, (_, i) => `10.0.${i >> 8}.${i & 255}`);

// CPU time (ms) a process has used, from /proc (Linux); undefined elsewhere. CPU per op is steadier
// than ops/s on a loaded machine and shows which side (client or server) an op really costs.
function processCpuMs(pid) {
  try {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
  } catch (_) {
    return undefined;
  }
}
const CLOCK_TICKS = 100;

// Closed loop: `concurrency` callers each await one op at a time for SECONDS. Returns ops/s, the
// latency of every op (ms), and client (this process) and server CPU microseconds per op.
// serverPid: one pid, or several (a cluster's nodes: their CPU is summed).
function serversCpuMs(serverPid) {
  let total = 0;
  for (const pid of [].concat(serverPid)) {
    const ms = processCpuMs(pid);
    if (ms === undefined) return undefined;
    total += ms;
  }
  return total;
}

async function measure(op, concurrency, serverPid) {
  const latencies = [];
  const endAt = process.hrtime.bigint() + BigInt(Math.round(SECONDS * 1e9));
  let counter = 0;
  let failures = 0;
  async function caller() {
    for (;;) {
      const t0 = process.hrtime.bigint();
      if (t0 >= endAt) return;
      try {
        await op(keys[counter++ % KEYS]);
      } catch (_) {
        failures++;
      }
      latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
  }
  const start = process.hrtime.bigint();
  const server0 = serversCpuMs(serverPid);
  const client0 = process.cpuUsage();
  await Promise.all(Array.from({ length: concurrency }, caller));
  const client = process.cpuUsage(client0);
  const server1 = serversCpuMs(serverPid);
  const elapsedS = Number(process.hrtime.bigint() - start) / 1e9;
  if (failures > 0) throw new Error(`${failures} ops failed`);
  const n = latencies.length;
  return {
    opsPerS: n / elapsedS,
    latencies,
    clientCpuUs: (client.user + client.system) / n,
    serverCpuUs: server0 === undefined ? undefined : ((server1 - server0) * 1000) / n,
  };
}

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

function run(cmd, args) {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { maxBuffer: 1 << 20 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${cmd} ${args.join(' ')}: ${stderr || error.message}`));
      else resolve(stdout);
    });
  });
}

async function ceilingOnce(server, clients, requests, script, argv) {
  const port = server.port;
  const args = ['-p', String(port), '-c', String(clients), '-P', '64', '-n', String(requests), '-r', String(KEYS)];
  if (script) args.push('-s', script);
  if (argv) args.push('--', ...argv);
  const server0 = processCpuMs(server.pid);
  const out = await run(path.join(__dirname, 'redis_ceiling.sh'), args);
  const server1 = processCpuMs(server.pid);
  const m = /^([\d.]+) ops\/s/m.exec(out);
  if (!m) throw new Error(`redis_ceiling.sh: unexpected output ${out}`);
  // The script load and the connection setup are a rounding error next to `requests` ops.
  return { opsPerS: Number(m[1]), serverCpuUs: server0 === undefined ? undefined : ((server1 - server0) * 1000) / requests };
}

// Inverse of Redis' sdscatrepr (how MONITOR prints arguments).
function unescapeMonitor(str) {
  const simple = { n: 0x0a, r: 0x0d, t: 0x09, a: 0x07, b: 0x08, '"': 0x22, '\\': 0x5c };
  const out = [];
  for (let i = 0; i < str.length; i++) {
    if (str[i] !== '\\') {
      out.push(str.charCodeAt(i));
    } else if (str[i + 1] === 'x') {
      out.push(parseInt(str.slice(i + 2, i + 4), 16));
      i += 3;
    } else {
      out.push(simple[str[i + 1]]);
      i += 1;
    }
  }
  return Buffer.from(out);
}

// The exact script and ARGV redkeeper sends for a fixed_window hit, whatever the addon was built
// from: flush the script cache and watch with MONITOR while one hit runs (EVALSHA -> NOSCRIPT ->
// EVAL <source>). Written to a file for redis_ceiling.sh; null if it cannot be captured.
async function captureOwnScript(server, limiter) {
  await server.call(['SCRIPT', 'FLUSH']);
  const net = require('net');
  const mon = net.connect({ host: '127.0.0.1', port: server.port });
  let text = '';
  mon.setEncoding('latin1');
  mon.on('data', (d) => (text += d));
  mon.write('*1\r\n$7\r\nMONITOR\r\n');
  while (!text.startsWith('+OK')) await new Promise((r) => setTimeout(r, 5));
  await limiter.hit('capture');
  const deadline = Date.now() + 2000;
  let line;
  while (!(line = text.split('\n').find((l) => l.includes('"EVAL"'))) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 5));
  }
  mon.destroy();
  if (!line) return null;
  const tokens = [...line.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) => unescapeMonitor(m[1]));
  const evalAt = tokens.findIndex((t) => t.toString('latin1') === 'EVAL');
  const source = tokens[evalAt + 1];
  const numKeys = Number(tokens[evalAt + 2].toString());
  const argv = tokens.slice(evalAt + 3 + numKeys).map((t) => t.toString('latin1'));
  const file = path.join(server.dir, 'redkeeper_fixed_window.lua');
  fs.writeFileSync(file, source);
  return { file, argv };
}

function fmt(n) {
  return Math.round(n).toLocaleString('en-US');
}

async function main() {
  const server = await startRedis();
  const url = `redis://127.0.0.1:${server.port}/0`;
  const rk = connect(url, { commandTimeoutMs: 5000 });
  const ours = rk.limiter('bench', { algorithm: 'fixed_window', limit: LIMIT, window: WINDOW_S });
  const plainClient = new Redis({ port: server.port, host: '127.0.0.1', enableAutoPipelining: false });
  const autoClient = new Redis({ port: server.port, host: '127.0.0.1', enableAutoPipelining: true });
  const rlfPlain = new RateLimiterRedis({ storeClient: plainClient, points: LIMIT, duration: WINDOW_S, keyPrefix: 'rlf_plain' });
  const rlfAuto = new RateLimiterRedis({ storeClient: autoClient, points: LIMIT, duration: WINDOW_S, keyPrefix: 'rlf_auto' });

  const contenders = [
    ['redkeeper', async (key) => {
      const r = await ours.hit(key);
      if (r.degraded || !r.allowed) throw new Error('not a real admitted hit');
    }],
    ['rlf+ioredis', (key) => rlfPlain.consume(key)],
    ['rlf+ioredis autopipelining', (key) => rlfAuto.consume(key)],
  ];

  // Warm-up: connections, scripts loaded, JIT, every key created.
  for (const [, op] of contenders) {
    await Promise.all(keys.map((k) => op(k)));
  }
  const ownScript = await captureOwnScript(server, ours);
  const ceilings = [['ceiling: redis-benchmark EVALSHA fixed_window_ceiling.lua', null, null]];
  if (ownScript) {
    ceilings.push(['ceiling: redis-benchmark EVALSHA redkeeper fixed_window script', ownScript.file, ownScript.argv]);
  }
  // Size the ceiling runs to about SECONDS each.
  const probe = await ceilingOnce(server, 1, 50000, null, null);
  const ceilingRequests = Math.max(50000, Math.round(probe.opsPerS * SECONDS));

  const samples = new Map(); // label -> { ops: [], lat: [], clientCpu: [], serverCpu: [] }
  const add = (label, m) => {
    if (!samples.has(label)) samples.set(label, { ops: [], lat: [], clientCpu: [], serverCpu: [] });
    const s = samples.get(label);
    s.ops.push(m.opsPerS);
    if (m.latencies) for (const l of m.latencies) s.lat.push(l);
    if (m.clientCpuUs !== undefined) s.clientCpu.push(m.clientCpuUs);
    if (m.serverCpuUs !== undefined) s.serverCpu.push(m.serverCpuUs);
  };
  for (let round = 0; round < ROUNDS; round++) {
    for (const c of CONCURRENCY) {
      for (const [name, op] of contenders) add(`${name} @${c}`, await measure(op, c, server.pid));
    }
    for (const [label, script, argv] of ceilings) {
      let best = null;
      for (const clients of CEILING_CLIENTS) {
        const m = await ceilingOnce(server, clients, ceilingRequests, script, argv);
        if (best === null || m.opsPerS > best.opsPerS) best = m;
      }
      add(label, best);
    }
  }

  const rows = [];
  for (const [label, s] of samples) {
    const lat = s.lat.sort((a, b) => a - b);
    rows.push({
      label,
      opsPerS: median(s.ops),
      p50Ms: percentile(lat, 50),
      p99Ms: percentile(lat, 99),
      clientCpuUsPerOp: s.clientCpu.length ? median(s.clientCpu) : NaN,
      serverCpuUsPerOp: s.serverCpu.length ? median(s.serverCpu) : NaN,
    });
  }
  const get = (label) => rows.find((r) => r.label === label);
  const ratios = [];
  for (const c of CONCURRENCY) {
    const a = get(`redkeeper @${c}`).opsPerS;
    const best = Math.max(get(`rlf+ioredis @${c}`).opsPerS, get(`rlf+ioredis autopipelining @${c}`).opsPerS);
    ratios.push({ label: `redkeeper / best rate-limiter-flexible @${c}`, value: a / best, target: c === 64 ? 3 : undefined });
  }
  const top = Math.max(...CONCURRENCY);
  for (const [label] of ceilings) {
    ratios.push({ label: `redkeeper @${top} / ${label.replace('ceiling: ', '')}`, value: get(`redkeeper @${top}`).opsPerS / get(label).opsPerS, target: 0.7 });
  }

  await rk.close();
  plainClient.disconnect();
  autoClient.disconnect();
  await server.stop();

  if (JSON_OUT) {
    console.log(JSON.stringify({ seconds: SECONDS, rounds: ROUNDS, keys: KEYS, rows, ratios }, null, 2));
    return;
  }
  console.log(`node ${process.version}, redis-server ${(await run('redis-server', ['--version'])).match(/v=(\S+)/)[1]}, ` +
    `fixed window, limit ${LIMIT} per ${WINDOW_S} s (nothing rejected), ${KEYS} keys, ` +
    `${SECONDS} s per measurement, median of ${ROUNDS} interleaved rounds; ceiling: -P 64, best of -c ${CEILING_CLIENTS.join('/')}`);
  const cell = (x, digits) => (Number.isNaN(x) ? '-' : x.toFixed(digits));
  console.log(`${'contender'.padEnd(66)} ${'ops/s'.padStart(10)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ` +
    `${'client CPU us/op'.padStart(17)} ${'server CPU us/op'.padStart(16)}`);
  for (const r of rows) {
    console.log(`${r.label.padEnd(66)} ${fmt(r.opsPerS).padStart(10)} ${cell(r.p50Ms, 3).padStart(8)} ` +
      `${cell(r.p99Ms, 3).padStart(8)} ${cell(r.clientCpuUsPerOp, 1).padStart(17)} ${cell(r.serverCpuUsPerOp, 1).padStart(16)}`);
  }
  for (const r of ratios) {
    const verdict = r.target === undefined ? '' : `   (target >= ${r.target}${r.value >= r.target ? ', met' : ', MISSED'})`;
    console.log(`${r.label}: ${r.value.toFixed(2)}${verdict}`);
  }
  if (!ownScript) console.log('(could not capture the script redkeeper sends: own-script ceiling skipped)');
}

// --cluster: our fixed-window limiter at c=64 on a 3-primary cluster vs one redis-server.
async function clusterMain() {
  const { startCluster } = require('../tests/node/helpers/redisCluster');
  const [server, cluster] = await Promise.all([startRedis(), startCluster({ replicas: 0 })]);
  const stores = [
    ['single node', connect(server.url, { commandTimeoutMs: 5000 }), [server.pid]],
    ['cluster (3 primaries)', connect(cluster.url, { commandTimeoutMs: 5000 }), cluster.nodes.map((n) => n.pid)],
  ];
  const contenders = stores.map(([label, rk, pids]) => {
    const lim = rk.limiter('bench', { algorithm: 'fixed_window', limit: LIMIT, window: WINDOW_S });
    const op = async (key) => {
      const r = await lim.hit(key);
      if (r.degraded || !r.allowed) throw new Error('not a real admitted hit');
    };
    return [label, op, pids, rk];
  });
  try {
    for (const [, op] of contenders) await Promise.all(keys.map((k) => op(k))); // warm-up: every key
    const samples = new Map();
    for (let round = 0; round < ROUNDS; round++) {
      for (const [label, op, pids] of contenders) {
        const m = await measure(op, 64, pids);
        if (!samples.has(label)) samples.set(label, []);
        samples.get(label).push(m);
      }
    }
    console.log(`node ${process.version}, fixed window, limit ${LIMIT} per ${WINDOW_S} s (nothing rejected), ` +
      `concurrency 64 over ${KEYS} ids, ${SECONDS} s per measurement, median of ${ROUNDS} interleaved rounds; ` +
      'server CPU summed over the cluster nodes');
    const medians = {};
    for (const [label, runs] of samples) {
      const mid = [...runs].sort((a, b) => a.opsPerS - b.opsPerS)[runs.length >> 1];
      const lat = runs.flatMap((r) => r.latencies).sort((a, b) => a - b);
      medians[label] = mid.opsPerS;
      console.log(`${label.padEnd(24)} ${fmt(mid.opsPerS).padStart(10)} ops/s   p50 ${percentile(lat, 50).toFixed(3)} ms` +
        `   p99 ${percentile(lat, 99).toFixed(3)} ms   client ${median(runs.map((r) => r.clientCpuUs)).toFixed(1)} us/op` +
        `   server ${median(runs.map((r) => r.serverCpuUs)).toFixed(1)} us/op`);
    }
    const st = await contenders[1][3].stats();
    console.log(`cluster / single node: ${(medians['cluster (3 primaries)'] / medians['single node']).toFixed(2)}x` +
      `; cluster client nodes=${st.nodes} redirects=${st.redirects} errors=${st.errors}`);
  } finally {
    for (const [, , , rk] of contenders) await rk.close();
    await Promise.all([server.stop(), cluster.stop()]);
  }
}

(CLUSTER ? clusterMain() : main()).catch((err) => {
  console.error(err);
  process.exit(1);
});
