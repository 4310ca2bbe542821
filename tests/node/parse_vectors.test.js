// Runs every case of the shared parse vectors (tests/vectors/parse.json): durations, rates and rendered
// headers, through the same public functions and options users call.
'use strict';

const { connect, RedkeeperError, parseDuration, parseRate, renderHeaders } = require('../..');
const { load, resultFromVector } = require('./helpers/vectors');

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
