// Benchmark: lock acquire + release round trips, redkeeper against redlock (v4, one ioredis client:
// single-instance Redlock), one private redis-server started here, one process run. Every
// iteration takes an uncontended lock and releases it the way apps write it (a lock per critical
// section); each worker has its own lock name, so concurrency measures throughput, not contention.
//   redkeeper: await rk.lock(name, { ttlMs: 30000 }).using(async () => {})   (fencing token, auto-renew)
//   redlock:   const l = await redlock.lock(name, 30000); await l.unlock();
// Both do two round trips per iteration. Closed loop at concurrency 1 and 64; rounds interleaved,
// median ops/s, ratio printed, with the CPU each side used per iteration (this process, addon
// threads included; redis-server from /proc). Client and server share this machine's cores, so
// the last line sets what our iteration costs against what twice the peer's rate would allow.
// Usage: node bench/node_locks.js [--seconds S] [--rounds R]
'use strict';

const Redis = require('ioredis');
const Redlock = require('redlock');
const { connect } = require('..');
const { startRedis } = require('../tests/node/helpers/redisServer');

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

const SECONDS = Number(arg('seconds', 1.5));
const ROUNDS = Number(arg('rounds', 3));
const TTL_MS = 30000;

// CPU time (ms) of a process from /proc (Linux).
const fs = require('fs');
function processCpuMs(pid) {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

// -> { rate (iterations/s), clientUs, serverUs (CPU per iteration) }
async function measure(op, concurrency, tag, serverPid) {
  const stopAt = performance.now() + SECONDS * 1000;
  let total = 0;
  const cpu0 = process.cpuUsage();
  const server0 = processCpuMs(serverPid);
  async function worker(w) {
    const name = `bench:${tag}:${w}`;
    let n = 0;
    for (;;) {
      await op(name);
      n++;
      if ((n & 15) === 0 && performance.now() >= stopAt) break;
    }
    total += n;
  }
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, (_, w) => worker(w)));
  const rate = total / ((performance.now() - t0) / 1000);
  const cpu = process.cpuUsage(cpu0);
  return { rate, clientUs: (cpu.user + cpu.system) / total, serverUs: ((processCpuMs(serverPid) - server0) * 1000) / total };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main() {
  const server = await startRedis();
  try {
    const rk = connect(server.url);
    const ioredis = new Redis(server.url);
    const redlock = new Redlock([ioredis], { retryCount: 10, retryDelay: 200, retryJitter: 200 });

    const ours = (name) => rk.lock(name, { ttlMs: TTL_MS }).using(async () => {});
    const theirs = async (name) => {
      const l = await redlock.lock(name, TTL_MS);
      await l.unlock();
    };

    // Both really lock: a second holder is refused while the first holds.
    await rk.lock('check', { ttlMs: TTL_MS }).using(async () => {
      const err = await rk.lock('check', { waitMs: 0 }).acquire().catch((e) => e);
      if (!err || err.code !== 'ERR_RK_LOCK_NOT_ACQUIRED') throw new Error('redkeeper: two holders');
    });
    const held = await redlock.lock('check-rl', TTL_MS);
    const second = await new Redlock([ioredis], { retryCount: 0 }).lock('check-rl', TTL_MS).catch((e) => e);
    if (!(second instanceof Error)) throw new Error('redlock: two holders');
    await held.unlock();

    console.log(`lock acquire+release, Redis ${server.url}, ${ROUNDS} rounds x ${SECONDS}s, median ops/s ` +
      `(redlock ${require('redlock/package.json').version}, ioredis ${require('ioredis/package.json').version})`);
    const cores = require('os').availableParallelism ? require('os').availableParallelism() : require('os').cpus().length;
    for (const conc of [1, 64]) {
      const results = { redkeeper: [], redlock: [] };
      for (let r = 0; r < ROUNDS; r++) {
        results.redkeeper.push(await measure(ours, conc, 'rk', server.pid));
        results.redlock.push(await measure(theirs, conc, 'rl', server.pid));
      }
      const pick = (list, field) => median(list.map((x) => x[field]));
      const a = pick(results.redkeeper, 'rate');
      const b = pick(results.redlock, 'rate');
      const cpu = (list) => `client ${pick(list, 'clientUs').toFixed(1)} + server ${pick(list, 'serverUs').toFixed(1)} us CPU/iteration`;
      console.log(`  concurrency ${String(conc).padStart(2)}: redkeeper ${a.toFixed(0).padStart(8)}  ` +
        `redlock ${b.toFixed(0).padStart(8)}  ratio ${(a / b).toFixed(2)}x   ` +
        `(redkeeper ${cpu(results.redkeeper)}; redlock ${cpu(results.redlock)})`);
      if (conc > 1) {
        const ourUs = pick(results.redkeeper, 'clientUs') + pick(results.redkeeper, 'serverUs');
        console.log(`  at twice redlock's rate, ${cores} cores allow ${((cores * 1e6) / (2 * b)).toFixed(1)} us of CPU per ` +
          `iteration for client and server together; a redkeeper iteration used ${ourUs.toFixed(1)}`);
      }
    }
    ioredis.disconnect();
    await rk.close();
  } finally {
    await server.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
