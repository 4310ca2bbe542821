// Benchmark: the getOrSet HIT path of redkeeper's cache against cache-manager 7 wrap() over Keyv with
// @keyv/redis (node-redis), one private redis-server started here, one process run. Both caches hold
// the same small JSON values and every call is a hit (a loader run is counted and printed). Closed
// loop at concurrency 1 and 64; rounds interleaved, median ops/s, ratio printed.
// Usage: node bench/node_cache.js [--seconds S] [--rounds R] [--keys K]
'use strict';

const { createCache } = require('cache-manager');
const { Keyv } = require('keyv');
const KeyvRedis = require('@keyv/redis').default;
const { connect } = require('..');
const { startRedis } = require('../tests/node/helpers/redisServer');

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

const SECONDS = Number(arg('seconds', 1.5));
const ROUNDS = Number(arg('rounds', 3));
const KEYS = Number(arg('keys', 1000));
const TTL_MS = 3600 * 1000;

const keys = Array.from({ length: KEYS }, (_, i) => `k${i}`);
const valueFor = (i) => ({ id: i, name: `user-${i}`, roles: ['reader', 'writer'], score: i * 1.5 });

// CPU time (ms) of a process from /proc (Linux): steadier than ops/s on a busy machine.
const fs = require('fs');
function serverCpuMs(pid) {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

// -> [ops/s, client CPU us/op (this process, addon threads included), server CPU us/op]
async function measure(op, concurrency, serverPid) {
  const stopAt = performance.now() + SECONDS * 1000;
  let total = 0;
  async function worker(w) {
    let i = w;
    let n = 0;
    for (;;) {
      await op(keys[i % KEYS]);
      n++;
      i += 7;
      if ((n & 31) === 0 && performance.now() >= stopAt) break;
    }
    total += n;
  }
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const s0 = serverCpuMs(serverPid);
  await Promise.all(Array.from({ length: concurrency }, (_, w) => worker(w)));
  const c = process.cpuUsage(c0);
  return [total / ((performance.now() - t0) / 1000), (c.user + c.system) / total, ((serverCpuMs(serverPid) - s0) * 1000) / total];
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main() {
  const server = await startRedis();
  try {
    const rk = connect(server.url);
    const ours = rk.cache('bench', { ttlMs: TTL_MS });
    const keyv = new Keyv({ store: new KeyvRedis(server.url), namespace: 'cm' });
    const theirs = createCache({ stores: [keyv] });
    for (let i = 0; i < KEYS; i++) {
      await ours.set(keys[i], valueFor(i));
      await theirs.set(keys[i], valueFor(i), TTL_MS);
    }
    const loaderRuns = { redkeeper: 0, 'cache-manager': 0 };
    const loaderFor = (who, k) => async () => { loaderRuns[who]++; return valueFor(Number(k.slice(1))); };
    const oursOp = (k) => ours.getOrSet(k, loaderFor('redkeeper', k));
    const theirsOp = (k) => theirs.wrap(k, loaderFor('cache-manager', k), TTL_MS);

    const a = await oursOp('k3');
    const b = await theirsOp('k3');
    if (JSON.stringify(a) !== JSON.stringify(valueFor(3)) || JSON.stringify(b) !== JSON.stringify(valueFor(3))) {
      throw new Error('the two caches disagree on a stored value');
    }
    console.log(`getOrSet hit path vs cache-manager wrap() + @keyv/redis, ${server.url}, ${ROUNDS} rounds x ${SECONDS}s, median ops/s`);
    for (const conc of [1, 64]) {
      const r = { ours: [], theirs: [] };
      for (let round = 0; round < ROUNDS; round++) {
        r.ours.push(await measure(oursOp, conc, server.pid));
        r.theirs.push(await measure(theirsOp, conc, server.pid));
      }
      const x = [0, 1, 2].map((i) => median(r.ours.map((m) => m[i])));
      const y = [0, 1, 2].map((i) => median(r.theirs.map((m) => m[i])));
      console.log(`  concurrency ${String(conc).padStart(2)}: redkeeper ${x[0].toFixed(0).padStart(9)}  cache-manager ${y[0].toFixed(0).padStart(9)}  ratio ${(x[0] / y[0]).toFixed(2)}x`
        + `   client CPU us/op ${x[1].toFixed(1)} vs ${y[1].toFixed(1)} (${(y[1] / x[1]).toFixed(2)}x less)   server CPU us/op ${x[2].toFixed(1)} vs ${y[2].toFixed(1)}`);
    }
    console.log(`  loader runs (misses on keys that are all cached): ${JSON.stringify(loaderRuns)}`);
    const s = await ours.stats();
    console.log(`  redkeeper stats: hits=${s.hits} misses=${s.misses}`);
    await theirs.disconnect();
    await rk.close();
  } finally {
    await server.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
