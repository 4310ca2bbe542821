// Runs every case of the shared vectors (tests/vectors/limiter.json, parse.json) on memory:// with a
// ManualClock: the same inputs and expected outputs the C++ and Python suites use.
'use strict';

const { connect, ManualClock, RedkeeperError, parseDuration, parseRate, renderHeaders } = require('../..');
const { load, limiterOptions, expectedResult, pick, resultFromVector } = require('./helpers/vectors');

const limiterVectors = load('limiter.json');
const parseVectors = load('parse.json');

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
        await expectCode(() => rk.limiter(c.limiter.name || 'vector', limiterOptions(c.limiter)), c.config_error);
        return;
      }
      const limiter = rk.limiter(c.limiter.name || 'vector', limiterOptions(c.limiter));
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

describe('parse vectors', () => {
  const rk = connect('memory://');
  afterAll(() => rk.close());

  test.each(parseVectors.durations.map((d) => [JSON.stringify(d.input), d]))('duration %s', async (_n, d) => {
    const parse = () =>
      typeof d.input === 'string' ? parseDuration(d.input) : rk.limiter('d', { limit: 1, window: d.input }).windowMs;
    if (d.error !== undefined) {
      await expectCode(parse, d.error);
    } else {
      expect(parse()).toBe(d.ms);
      if (typeof d.input === 'string') {
        // The same parser behind the public `window` option.
        expect(rk.limiter('d', { limit: 1, window: d.input }).windowMs).toBe(d.ms);
      }
    }
  });

  test.each(parseVectors.rates.map((r) => [JSON.stringify(r.input), r]))('rate %s', async (_n, r) => {
    if (r.error !== undefined) {
      await expectCode(() => parseRate(r.input), r.error);
      await expectCode(() => rk.limiter('r', { rate: r.input }), r.error);
    } else {
      expect(parseRate(r.input)).toEqual({ limit: r.limit, windowMs: r.window_ms });
      const limiter = rk.limiter('r', { rate: r.input });
      expect([limiter.limit, limiter.windowMs]).toEqual([r.limit, r.window_ms]);
    }
  });

  test.each(parseVectors.headers.map((h, i) => [`${i} ${JSON.stringify(h.options)}`, h]))('headers %s', (_n, h) => {
    const policy = { name: h.policy.name, limit: h.policy.limit, windowMs: h.policy.window_ms };
    const o = h.options || {};
    const options = { standard: o.standard, legacy: o.legacy, nowMs: o.now_ms };
    for (const k of Object.keys(options)) if (options[k] === undefined) delete options[k];
    const headers = renderHeaders(resultFromVector(h.result), policy, options);
    expect(Object.entries(headers)).toEqual(h.expect);
  });
});
