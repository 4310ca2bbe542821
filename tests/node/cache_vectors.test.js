// tests/vectors/cache.json through the generic PrimitiveHandle on memory:// (ManualClock), a
// private redis-server and a private Redis Cluster (advance_ms sleeps there): the same core ops and results as C++ and Python.
'use strict';

const fs = require('fs');
const path = require('path');
const crypto = require('crypto');
const { connect, ManualClock } = require('../..');
const { PrimitiveHandle } = require('../../node/lib/primitive');
const { useRedisBackends } = require('./helpers/backends');

const dir = process.env.REDKEEPER_VECTORS_DIR || path.join(__dirname, '..', 'vectors');
const data = JSON.parse(fs.readFileSync(path.join(dir, 'cache.json'), 'utf8'));

function toNative(v) {
  if (Array.isArray(v)) return v.map(toNative);
  if (v !== null && typeof v === 'object') {
    const keys = Object.keys(v);
    if (keys.length === 1 && keys[0] === '$bytes') return Buffer.from(v.$bytes, 'hex');
    return Object.fromEntries(keys.map((k) => [k, toNative(v[k])]));
  }
  return v;
}

function resolve(v, kept) {
  if (typeof v === 'string' && v.startsWith('$') && v.includes('.')) {
    const [name, field] = v.slice(1).split('.', 2);
    return kept[name][field];
  }
  if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
    return Object.fromEntries(Object.keys(v).map((k) => [k, resolve(v[k], kept)]));
  }
  return v;
}

// On Redis advance_ms is real time and a value must outlive a few round trips of it: positive
// numeric durations (ttl_ms, default_ttl_ms, advance_ms) are x4 there, so a stalled box has 600 ms
// (not 150 ms) before a TTL that must still hold runs out; memory:// runs the vectors as written.
const REAL_SCALE = 4;
const DURATION_FIELDS = new Set(['ttl_ms', 'default_ttl_ms', 'advance_ms']);
function scaled(v, scale) {
  if (scale === 1) return v;
  if (Array.isArray(v)) return v.map((x) => scaled(x, scale));
  if (v !== null && typeof v === 'object') {
    return Object.fromEntries(Object.keys(v).map((k) => [k,
      DURATION_FIELDS.has(k) && typeof v[k] === 'number' && v[k] > 0 ? v[k] * scale : scaled(v[k], scale)]));
  }
  return v;
}

const backends = useRedisBackends();

describe.each(['memory', 'redis', 'cluster'])('cache vectors on %s', (backend) => {
  test.each(data.cases.map((c) => [c.name, c]))('%s', async (_name, vector) => {
    const c = scaled(vector, backend === 'memory' ? 1 : REAL_SCALE);
    const clock = new ManualClock(1700000000000);
    const rk = backend === 'memory'
      ? connect('memory://', { clock })
      : connect(backend === 'cluster' ? backends.cluster.url : backends.server.url, { prefix: `v${crypto.randomBytes(4).toString('hex')}` });
    try {
      const handle = new PrimitiveHandle(rk, 'cache', c.config);
      const kept = {};
      for (const [i, step] of c.steps.entries()) {
        if (step.advance_ms !== undefined) {
          if (backend === 'memory') clock.advance(step.advance_ms);
          else await new Promise((r) => setTimeout(r, step.advance_ms));
          continue;
        }
        const args = toNative(resolve(step.args, kept));
        const where = `step ${i} (${step.op})`;
        if (step.error !== undefined) {
          await expect(handle.call(step.op, args)).rejects.toMatchObject({ code: step.error });
          continue;
        }
        const got = await handle.call(step.op, args);
        const want = toNative(step.result);
        if (step.op === 'claim') {
          for (const k of Object.keys(want)) expect([where, k, got[k]]).toEqual([where, k, want[k]]);
        } else {
          expect([where, got]).toEqual([where, want]);
        }
        if (step.keep !== undefined) kept[step.keep] = got;
      }
    } finally {
      await rk.close();
    }
  });
});

test.each(data.config_errors.map((b) => [JSON.stringify(b.config), b]))('config error %s', (_n, bad) => {
  const rk = connect('memory://');
  expect(() => new PrimitiveHandle(rk, 'cache', bad.config)).toThrow(expect.objectContaining({ code: 'ERR_RK_INVALID_ARGUMENT' }));
  return rk.close();
});
