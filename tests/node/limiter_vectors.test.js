// Runs every case of the shared limiter vectors (tests/vectors/limiter.json) on memory:// with a
// ManualClock: the same inputs and expected outputs the C++ and Python suites use.
'use strict';

const { connect, ManualClock } = require('../..');
const { load } = require('./helpers/vectors');
const { runCase } = require('./helpers/limiterSteps');

const limiterVectors = load('limiter.json');

describe('limiter vectors', () => {
  test('the vector file has cases for every algorithm', () => {
    const algorithms = new Set(limiterVectors.cases.map((c) => c.limiter && c.limiter.algorithm));
    for (const a of ['fixed_window', 'sliding_window', 'sliding_log', 'token_bucket', 'gcra']) {
      expect(algorithms).toContain(a);
    }
  });

  test.each(limiterVectors.cases.map((c) => [c.name, c]))('%s', async (_name, c) => {
    const clock = new ManualClock(c.start_ms === undefined ? 1700000000000 : c.start_ms);
    const rk = connect('memory://', { clock });
    try {
      await runCase(rk, clock, c);
    } finally {
      await rk.close();
    }
  });
});

