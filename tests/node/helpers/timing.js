// Timing helpers for tests that run on the wall clock (real Redis, or memory:// without a ManualClock).
'use strict';

const { Worker } = require('worker_threads');

// Waits until `probe()` (sync or async) is truthy, polling every 10 ms, and returns its value;
// throws once `timeoutMs` has passed. For state another thread, process or server reaches a moment
// later (a post-response refund, a closed socket noticed, a handler started).
async function eventually(probe, timeoutMs = 3000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

// A window length of at least `minMs` whose next epoch-aligned boundary is more than `marginMs`
// away. sliding_window aligns its windows to the epoch (core/src/limiter/README.md): a boundary
// passed mid-test turns the count into floor(prev * (W - e) / W), one unit short, so an exact
// count breaks (a 1-day window at every UTC midnight). Whole hours are added until clear.
function windowClearOfBoundary(minMs, marginMs = 3600000, now = Date.now()) {
  let w = minMs;
  while (Math.ceil((now + 1) / w) * w - now <= marginMs) w += 3600000;
  return w;
}

// Watches for this process being starved of CPU (a busy CI box): a worker thread ticks every
// `tickMs` and records each late tick as a stall [due, seen] (Date.now() ms). It has its own event
// loop, so it does not see the main JS thread being blocked: a product bug that blocks or delays
// that thread, or an op that overruns its timeout, is never counted as a stall.
// stop() resolves with { stalls, overlap(t0, t1) }: the stalled ms within [t0, t1].
function watchStalls({ tickMs = 5, minLateMs = 20 } = {}) {
  const worker = new Worker(`
    const { parentPort } = require('worker_threads');
    const stalls = [];
    let last = Date.now();
    const timer = setInterval(() => {
      const now = Date.now();
      if (now - last - ${tickMs} >= ${minLateMs}) stalls.push([last + ${tickMs}, now]);
      last = now;
    }, ${tickMs});
    parentPort.on('message', () => { clearInterval(timer); parentPort.postMessage(stalls); parentPort.close(); });
  `, { eval: true });
  worker.unref();
  let stopped;
  return {
    stop() {
      if (!stopped) {
        stopped = new Promise((resolve, reject) => {
          worker.once('message', (stalls) => {
            worker.terminate();
            resolve({
              stalls,
              overlap: (t0, t1) => stalls.reduce((sum, [a, b]) => sum + Math.max(0, Math.min(b, t1) - Math.max(a, t0)), 0),
            });
          });
          worker.once('error', reject);
          worker.postMessage('stop');
        });
      }
      return stopped;
    },
  };
}

module.exports = { eventually, windowClearOfBoundary, watchStalls };
