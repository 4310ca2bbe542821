// Runs every case of the shared limiter vectors (tests/vectors/limiter.json) on memory:// with a
// ManualClock: the same inputs and expected outputs the C++ and Python suites use.
'use strict';

const { connect, ManualClock, RedkeeperError } = require('../..');
const { load, limiterOptions, expectedResult, pick } = require('./helpers/vectors');

const limiterVectors = load('limiter.json');

async function expectCode(promiseOrFn, code) {
  let error;
  try {
    await (typeof promiseOrFn === 'function' ? promiseOrFn() : promiseOrFn);
  } catch (err) {
    error = err;
  }
  expect(error).toBeInstanceOf(RedkeeperError);
  expect(error.code).toBe(code);
}

async function runStep(limiter, clock, step) {
  let call;
  switch (step.op) {
    case 'advance':
      clock.advance(step.ms);
      return;
    case 'hit':
      call = () => limiter.hit(step.key, { cost: step.cost === undefined ? 1 : step.cost });
      break;
    case 'peek':
      call = () => limiter.peek(step.key);
      break;
    case 'reset':
      call = () => limiter.reset(step.key);
      break;
    case 'refund':
      call = () => limiter.refund(step.key, step.amount);
      break;
    case 'block':
      call = () => limiter.block(step.key, step.ms / 1000);
      break;
    default:
      throw new Error(`unknown vector op ${step.op}`);
  }
  if (step.error !== undefined) {
    await expectCode(call, step.error);
    return;
  }
  const result = await call();
  if (step.expect !== undefined) {
    const want = expectedResult(step.expect);
    expect(pick(result, Object.keys(want))).toEqual(want);
  }
}

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
      if (c.config_error !== undefined) {
        await expectCode(() => rk.limiter((c.limiter.name !== undefined ? c.limiter.name : 'vector'), limiterOptions(c.limiter)), c.config_error);
        return;
      }
      const limiter = rk.limiter((c.limiter.name !== undefined ? c.limiter.name : 'vector'), limiterOptions(c.limiter));
      for (const [i, step] of c.steps.entries()) {
        try {
          await runStep(limiter, clock, step);
        } catch (err) {
          err.message = `step ${i} ${JSON.stringify(step)}: ${err.message}`;
          throw err;
        }
      }
    } finally {
      await rk.close();
    }
  });
});

