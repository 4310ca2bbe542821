// The shared limiter vectors (tests/vectors/limiter.json) on redis://, every case, with a ManualClock
// whose reading the core passes to the Lua scripts: the same expected values as on memory://.
'use strict';

const crypto = require('crypto');
const { connect, ManualClock } = require('../..');
const { load } = require('./helpers/vectors');
const { runCase } = require('./helpers/limiterSteps');
const { startRedis } = require('./helpers/redisServer');

const limiterVectors = load('limiter.json');
const runId = crypto.randomBytes(4).toString('hex');

let server;
beforeAll(async () => {
  server = await startRedis();
});
afterAll(async () => {
  if (server) await server.stop();
});

test('the vectors cover every algorithm', () => {
  const algorithms = new Set(limiterVectors.cases.map((c) => c.limiter && c.limiter.algorithm));
  for (const a of ['fixed_window', 'sliding_window', 'sliding_log', 'token_bucket', 'gcra']) {
    expect(algorithms).toContain(a);
  }
});

test.each(limiterVectors.cases.map((c, i) => [c.name, c, i]))('%s', async (_name, c, i) => {
  const clock = new ManualClock(c.start_ms === undefined ? 1700000000000 : c.start_ms);
  // A fresh prefix per case: no case sees another's keys.
  const rk = connect(server.url, { clock, prefix: `vec${runId}_${i}` });
  try {
    await runCase(rk, clock, c);
    if (c.config_error === undefined) {
      // The results above came from Redis, not a fallback.
      const stats = await rk.stats();
      expect(stats.ops).toBeGreaterThan(0);
      expect(stats.errors).toBe(0);
    }
  } finally {
    await rk.close();
  }
});

test('the cases wrote their state to Redis under their own prefix', async () => {
  const keys = await server.call(['KEYS', `vec${runId}_*`]);
  expect(keys.length).toBeGreaterThan(0);
  for (const k of keys) expect(k).toMatch(new RegExp(`^vec${runId}_\\d+:limiter:[A-Za-z0-9_.-]+:\\{.*\\}(:block)?$`));
});
