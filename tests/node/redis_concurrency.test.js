// Exact admission across processes: 4 child processes x 64 concurrent callers hit one key of a
// limit of 1000 (1280 attempts in all) on a real redis-server with Redis TIME; exactly 1000 pass,
// for every algorithm. Each limiter op is one atomic script, so no interleaving can over-admit.
'use strict';

const { fork } = require('child_process');
const path = require('path');
const { startRedis } = require('./helpers/redisServer');
const { windowClearOfBoundary } = require('./helpers/timing');

const PROCESSES = 4;
const CALLERS = 64;
const ATTEMPTS_PER_CALLER = 5; // 4 * 64 * 5 = 1280 attempts
const LIMIT = 1000;
// Long enough that no token refills and no window turns over during the test, even on a slow box.
const WINDOW_MS = 30 * 24 * 3600 * 1000;
const ALGORITHMS = ['fixed_window', 'sliding_window', 'sliding_log', 'token_bucket', 'gcra'];

let server;
let workers = [];

function nextMessage(child, type) {
  return new Promise((resolve, reject) => {
    const onMessage = (msg) => {
      if (msg.type !== type) return;
      cleanup();
      resolve(msg);
    };
    const onExit = (code) => {
      cleanup();
      reject(new Error(`worker exited (${code}) before sending ${type}`));
    };
    function cleanup() {
      child.off('message', onMessage);
      child.off('exit', onExit);
    }
    child.on('message', onMessage);
    child.on('exit', onExit);
  });
}

beforeAll(async () => {
  server = await startRedis();
  workers = Array.from({ length: PROCESSES }, () =>
    fork(path.join(__dirname, 'helpers', 'hitWorker.js'), [server.url], { stdio: 'inherit' }),
  );
  await Promise.all(workers.map((w) => nextMessage(w, 'ready')));
});

afterAll(async () => {
  await Promise.all(
    workers.map(
      (w) =>
        new Promise((resolve) => {
          if (w.exitCode !== null || w.signalCode !== null) return resolve();
          const timer = setTimeout(() => w.kill('SIGKILL'), 5000);
          w.once('exit', () => {
            clearTimeout(timer);
            resolve();
          });
          if (w.connected) w.send({ type: 'exit' });
          else w.kill('SIGKILL');
        }),
    ),
  );
  if (server) await server.stop();
});

test.each(ALGORITHMS)('%s admits exactly the limit across 4 processes x 64 callers', async (algorithm) => {
  const started = Date.now();
  const job = {
    type: 'run',
    name: `conc_${algorithm}`,
    algorithm,
    limit: LIMIT,
    // sliding_window's epoch-aligned boundaries (every 30 days, at UTC midnight) must not fall in the test.
    windowMs: windowClearOfBoundary(WINDOW_MS),
    key: 'shared-key',
    callers: CALLERS,
    attemptsPerCaller: ATTEMPTS_PER_CALLER,
  };
  const tallies = await Promise.all(
    workers.map((w) => {
      const reply = nextMessage(w, 'tally');
      w.send(job);
      return reply.then((m) => m.tally);
    }),
  );
  const total = tallies.reduce(
    (t, x) => ({ admitted: t.admitted + x.admitted, rejected: t.rejected + x.rejected, degraded: t.degraded + x.degraded, errors: t.errors.concat(x.errors) }),
    { admitted: 0, rejected: 0, degraded: 0, errors: [] },
  );
  expect(total.errors).toEqual([]);
  expect(total.degraded).toBe(0);
  expect(total.admitted + total.rejected).toBe(PROCESSES * CALLERS * ATTEMPTS_PER_CALLER);
  expect(total.admitted).toBe(LIMIT);
  // More than one process got a share: the callers really raced each other.
  expect(tallies.filter((t) => t.admitted > 0).length).toBeGreaterThan(1);
  expect(Date.now() - started).toBeLessThan(20000);
});
