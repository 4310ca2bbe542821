// Benchmark: redkeeper limiter.hit() on memory:// against rate-limiter-flexible's
// RateLimiterMemory.consume(), same limit and window, same process. Prints ops/s and the ratio.
// Each figure is the median of --rounds measurements, ours and the peer's interleaved, so load from
// other processes hits both alike. Next to wall-clock ops/s it gives the ratio in process CPU time
// (user + system, all threads): on a shared machine, time spent descheduled shows up in wall time
// only, so the CPU ratio is the steadier of the two. Usage:
// node bench/node_memory.js [--ops N] [--batch B] [--rounds R]
'use strict';

const { connect } = require('..');
const { RateLimiterMemory } = require('rate-limiter-flexible');

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

const OPS = arg('ops', 300_000);
const ROUNDS = arg('rounds', 5);
const BATCH = arg('batch', 100);
const KEYS = 1000;
// High enough that every call is admitted: both libraries do their full accounting work.
const LIMIT = 1_000_000_000;
const WINDOW_S = 60;

const keys = Array.from({ length: KEYS }, (_, i) => `10.0.${i >> 8}.${i & 255}`);

async function sequential(op) {
  for (let i = 0; i < OPS; i++) await op(keys[i % KEYS]);
}

async function batched(op) {
  const batch = new Array(BATCH);
  for (let i = 0; i < OPS; i += BATCH) {
    for (let j = 0; j < BATCH; j++) batch[j] = op(keys[(i + j) % KEYS]);
    await Promise.all(batch);
  }
}

// [wall-clock ops/s, CPU-time ops/s] of one measurement.
async function timeOnce(mode, op) {
  const cpu = process.cpuUsage();
  const start = process.hrtime.bigint();
  await mode(op);
  const wallS = Number(process.hrtime.bigint() - start) / 1e9;
  const used = process.cpuUsage(cpu);
  return [OPS / wallS, OPS / ((used.user + used.system) / 1e6)];
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

// Warm both up (JIT, key creation), then alternate them round by round.
async function compare(mode, ours, theirs) {
  await mode(ours);
  await mode(theirs);
  const a = [];
  const b = [];
  for (let r = 0; r < ROUNDS; r++) {
    a.push(await timeOnce(mode, ours));
    b.push(await timeOnce(mode, theirs));
  }
  const wall = (xs) => median(xs.map((x) => x[0]));
  const cpu = (xs) => median(xs.map((x) => x[1]));
  return [wall(a), wall(b), cpu(a) / cpu(b)];
}

async function main() {
  const rk = connect('memory://');
  const results = [];
  for (const algorithm of ['fixed_window', 'sliding_window']) {
    const limiter = rk.limiter(`bench_${algorithm}`, { limit: LIMIT, window: WINDOW_S, algorithm });
    // RateLimiterMemory is a fixed window counter; it is the peer for both.
    const peer = new RateLimiterMemory({ points: LIMIT, duration: WINDOW_S });
    const ours = (key) => limiter.hit(key);
    const theirs = (key) => peer.consume(key);
    for (const [modeName, mode] of [['sequential await', sequential], [`batches of ${BATCH}`, batched]]) {
      const [a, b, cpuRatio] = await compare(mode, ours, theirs);
      results.push({ algorithm, mode: modeName, redkeeper: a, peer: b, ratio: a / b, cpuRatio });
    }
  }
  await rk.close();
  console.log(`node ${process.version}, ${OPS} ops per measurement, median of ${ROUNDS}, ${KEYS} keys, all hits admitted`);
  console.log('algorithm        mode                 redkeeper ops/s   rate-limiter-flexible ops/s   ratio   ratio (CPU time)');
  for (const r of results) {
    console.log(
      `${r.algorithm.padEnd(16)} ${r.mode.padEnd(20)} ${Math.round(r.redkeeper).toLocaleString('en-US').padStart(15)}   ` +
        `${Math.round(r.peer).toLocaleString('en-US').padStart(27)}   ${r.ratio.toFixed(2)}x   ${r.cpuRatio.toFixed(2)}x`,
    );
  }
  const worst = Math.min(...results.map((r) => r.ratio));
  const worstCpu = Math.min(...results.map((r) => r.cpuRatio));
  console.log(`worst ratio: ${worst.toFixed(2)}x wall clock, ${worstCpu.toFixed(2)}x CPU time (target >= 2x)`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
