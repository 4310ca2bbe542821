// tests/vectors/sessions.json through the Node binding (raw core ops on memory:// with a
// ManualClock); pytest and the C++ suite run the same file.
'use strict';

const { connect, ManualClock } = require('../..');
const { PrimitiveHandle } = require('../../node/lib/primitive');
const { load } = require('./helpers/vectors');

const VECTORS = load('sessions.json');

function resolve(value, saved) {
  if (typeof value === 'string' && value.startsWith('$') && value.slice(1) in saved) return saved[value.slice(1)];
  if (Array.isArray(value)) return value.map((v) => resolve(v, saved));
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolve(v, saved)]));
  return value;
}

function expected(value, start) {
  if (typeof value === 'string' && value.startsWith('$T+')) return start + Number(value.slice(3));
  if (Array.isArray(value)) return value.map((v) => expected(v, start));
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, expected(v, start)]));
  return value;
}

function drop(value, keys) {
  if (Array.isArray(value)) return value.map((v) => drop(v, keys));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).filter(([k]) => !keys.includes(k)).map(([k, v]) => [k, drop(v, keys)]));
  }
  return value;
}

describe('sessions vectors (memory)', () => {
  test.each(VECTORS.cases.map((c) => [c.name, c]))('%s', async (_name, c) => {
    const clock = new ManualClock(VECTORS.start_ms);
    const rk = connect('memory://', { clock });
    try {
      const handle = new PrimitiveHandle(rk, 'sessions', c.config);
      const saved = {};
      for (const [i, step] of c.steps.entries()) {
        if (step.advance_ms !== undefined) {
          clock.advance(step.advance_ms);
          continue;
        }
        const args = resolve(step.args, saved);
        if (step.expect_error !== undefined) {
          await expect(handle.call(step.op, args)).rejects.toMatchObject({ code: step.expect_error });
          continue;
        }
        let result = await handle.call(step.op, args);
        if (step.save_as !== undefined) {
          expect(typeof result).toBe('string');
          saved[step.save_as] = result;
        }
        result = drop(result, step.ignore || []);
        const where = `step ${i}: ${JSON.stringify(step)}`;
        if (step.expect !== undefined) expect([where, result]).toEqual([where, expected(step.expect, VECTORS.start_ms)]);
        if (step.expect_json !== undefined) expect([where, JSON.parse(result)]).toEqual([where, step.expect_json]);
        if (step.expect_len !== undefined) expect([where, result.length]).toEqual([where, step.expect_len]);
      }
    } finally {
      await rk.close();
    }
  });
});
