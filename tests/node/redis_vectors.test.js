// The shared limiter vectors (tests/vectors/limiter.json) on redis:// and on a Redis Cluster, every
// case, with a ManualClock whose reading the core passes to the Lua scripts: the same expected values
// as on memory://.
'use strict';

const crypto = require('crypto');
const { connect, ManualClock } = require('../..');
const { load } = require('./helpers/vectors');
const { runCase } = require('./helpers/limiterSteps');
const { useRedisBackends } = require('./helpers/backends');

const limiterVectors = load('limiter.json');
const runId = crypto.randomBytes(4).toString('hex');

const backends = useRedisBackends();

test('the vectors cover every algorithm', () => {
  const algorithms = new Set(limiterVectors.cases.map((c) => c.limiter && c.limiter.algorithm));
  for (const a of ['fixed_window', 'sliding_window', 'sliding_log', 'token_bucket', 'gcra']) {
    expect(algorithms).toContain(a);
  }
});

describe.each(['redis', 'cluster'])('on %s', (store) => {
  test.each(limiterVectors.cases.map((c, i) => [c.name, c, i]))('%s', async (_name, c, i) => {
    const clock = new ManualClock(c.start_ms === undefined ? 1700000000000 : c.start_ms);
    // A fresh prefix per case: no case sees another's keys.
    const rk = connect(store === 'cluster' ? backends.cluster.url : backends.server.url, { clock, prefix: `vec${runId}${store}_${i}` });
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

  test('the cases wrote their state under their own prefix', async () => {
    const keys = store === 'cluster' ? await backends.cluster.keys(`vec${runId}${store}_*`) : await backends.server.call(['KEYS', `vec${runId}${store}_*`]);
    expect(keys.length).toBeGreaterThan(0);
    for (const k of keys) expect(k).toMatch(new RegExp(`^vec${runId}${store}_\\d+:limiter:[A-Za-z0-9_.-]+:\\{.*\\}(:block)?$`));
  });
});
