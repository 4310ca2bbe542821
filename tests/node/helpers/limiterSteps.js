// Runs one case of tests/vectors/limiter.json against any client (memory:// or redis://) whose
// time comes from `clock`; used by the Redis vector suite so it checks exactly what memory checks.
'use strict';

const { RedkeeperError } = require('../../..');
const { limiterOptions, expectedResult, pick } = require('./vectors');

async function expectCode(fn, code) {
  let error;
  try {
    await fn();
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

// `rk` must have been connected with `clock`. Every result must also be a real store answer.
async function runCase(rk, clock, c) {
  const name = c.limiter.name !== undefined ? c.limiter.name : 'vector';
  if (c.config_error !== undefined) {
    await expectCode(() => rk.limiter(name, limiterOptions(c.limiter)), c.config_error);
    return;
  }
  // 'raise': a store failure must fail the case, not pass as a degraded "allowed".
  const limiter = rk.limiter(name, { ...limiterOptions(c.limiter), onError: 'raise' });
  for (const [i, step] of c.steps.entries()) {
    try {
      await runStep(limiter, clock, step);
    } catch (err) {
      err.message = `step ${i} ${JSON.stringify(step)}: ${err.message}`;
      throw err;
    }
  }
}

module.exports = { runCase, expectCode };
