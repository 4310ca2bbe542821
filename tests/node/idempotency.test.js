// rk.idempotency on memory:// (ManualClock), a private redis-server and a private Redis Cluster: the shared vectors
// (tests/vectors/idempotency.json, raw core ops), begin/complete/abandon/extend, once() for webhooks,
// a crashed process freeing its key after the marker TTL, and bad input.
'use strict';

const { spawnSync } = require('child_process');
const path = require('path');
const { connect, ManualClock } = require('../..');
const { Idempotency } = require('../../node/lib/idempotency');
const { PrimitiveHandle } = require('../../node/lib/primitive');
const { delay } = require('./helpers/redisServer');
const { load } = require('./helpers/vectors');
const { useRedisBackends } = require('./helpers/backends');

const T0 = 1700000000000;
const backends = useRedisBackends(30000);
let counter = 0;

function prefix() { counter += 1; return `ji${process.pid}x${counter}`; }

function open(backend, clock) {
  if (backend === 'memory') return connect('memory://', { clock, prefix: prefix() });
  return connect(backend === 'cluster' ? backends.cluster.url : backends.server.url, { prefix: prefix() });
}

// Runs one case of idempotency.json / otp.json through the generic handle (core args and results).
async function runVectorCase(c, kind, backend) {
  const clock = new ManualClock(c.start_ms || T0);
  const rk = open(backend, clock);
  try {
    if (c.config_error !== undefined) {
      expect(() => new PrimitiveHandle(rk, kind, c.config)).toThrow(expect.objectContaining({ code: c.config_error }));
      return;
    }
    const handle = new PrimitiveHandle(rk, kind, c.config);
    const saved = {};
    for (const [i, step] of c.steps.entries()) {
      const where = `${c.name} step ${i}`;
      if (step.op === 'advance') {
        clock.advance(step.ms);
        continue;
      }
      const args = {};
      for (const [k, v] of Object.entries(step.args || {})) {
        args[k] = typeof v === 'string' && v.startsWith('@') ? saved[v.slice(1)] : v;
      }
      if (step.error !== undefined) {
        await expect(handle.call(step.op, args)).rejects.toMatchObject({ code: step.error });
        continue;
      }
      const result = await handle.call(step.op, args);
      for (const [field, want] of Object.entries(step.expect)) {
        const got = result[field];
        if (backend !== 'memory' && field.endsWith('_ms') && Number.isInteger(want) && Number.isInteger(got)) {
          expect([where, field, got <= want && got >= want - 1000]).toEqual([where, field, true]);
        } else {
          expect([where, field, got]).toEqual([where, field, want]);
        }
      }
      if (step.as !== undefined) saved[step.as] = result.token !== undefined ? result.token : result.code;
    }
  } finally {
    await rk.close();
  }
}

// Cases needing the injected clock run on memory only: Redis expires keys on its own clock.
function vectorCases(file) {
  const out = [];
  for (const c of load(file).cases) {
    for (const backend of ['memory', 'redis', 'cluster']) {
      if (!(c.clock && backend !== 'memory')) out.push([`${backend}: ${c.name}`, c, backend]);
    }
  }
  return out;
}

describe('idempotency vectors', () => {
  test.each(vectorCases('idempotency.json'))('%s', async (_name, c, backend) => {
    await runVectorCase(c, 'idempotency', backend);
  });
});

describe.each(['memory', 'redis', 'cluster'])('rk.idempotency on %s', (backend) => {
  let clock;
  let rk;
  beforeEach(() => {
    clock = new ManualClock(T0);
    rk = open(backend, clock);
  });
  afterEach(async () => { await rk.close(); });

  test('begin / inProgress / mismatch / complete / replay, Buffers kept', async () => {
    const idem = rk.idempotency;
    expect(idem).toBeInstanceOf(Idempotency);
    expect(rk.idempotency).toBe(idem);
    const b = await idem.begin('order-1', 'fp');
    expect(b.status).toBe('new');
    expect(typeof b.token).toBe('string');
    const dup = await idem.begin('order-1', 'fp');
    expect(dup.status).toBe('inProgress');
    expect(dup.retryAfterMs).toBeGreaterThan(59000);
    expect(dup.retryAfterMs).toBeLessThanOrEqual(60000);
    expect((await idem.begin('order-1', 'other')).status).toBe('mismatch');
    const response = { status: 201, headers: [['x-id', '7']], body: Buffer.from([0, 1, 254, 255]) };
    await idem.complete('order-1', b.token, response);
    const again = await idem.begin('order-1', 'fp');
    expect(again.status).toBe('completed');
    expect(Buffer.isBuffer(again.response.body)).toBe(true);
    expect(again.response).toEqual(response);
  });

  test('abandon, extend, owner checks', async () => {
    const idem = rk.idempotency;
    const b = await idem.begin('k', Buffer.from('fp'));
    expect(await idem.extend('k', b.token, { lockTtlMs: '2m' })).toBe(true);
    expect((await idem.begin('k', Buffer.from('fp'))).retryAfterMs).toBeGreaterThan(60000);
    expect(await idem.abandon('k', b.token)).toBe(true);
    expect(await idem.abandon('k', b.token)).toBe(false);
    const b2 = await idem.begin('k', Buffer.from('fp'));
    expect(b2.status).toBe('new');
    await expect(idem.complete('k', b.token, 'stale')).rejects.toMatchObject({ code: 'ERR_RK_LOCK_NOT_OWNER' });
    await idem.complete('k', b2.token, ['done', 1, 2.5, null, true]);
    expect((await idem.begin('k', Buffer.from('fp'))).response).toEqual(['done', 1, 2.5, null, true]);
  });

  test('withOptions makes a new namespace', async () => {
    const a = rk.idempotency;
    const w = a.withOptions({ name: 'webhooks', ttlMs: '1h' });
    expect(w.name).toBe('webhooks');
    expect(a.name).toBe('default');
    expect((await a.begin('same')).status).toBe('new');
    expect((await w.begin('same')).status).toBe('new');
    expect(() => a.withOptions({ colour: 'red' })).toThrow(expect.objectContaining({ code: 'ERR_RK_INVALID_ARGUMENT' }));
  });

  test('a crashed request frees its key after lockTtlMs', async () => {
    // On Redis the second begin must land within lockTtlMs of real time: 1200 ms there (a stalled
    // box gets ~1.2 s, not 300 ms); memory:// keeps the exact fake-clock values.
    const lockTtlMs = backend === 'memory' ? 300 : 1200;
    const idem = rk.idempotency.withOptions({ lockTtlMs });
    const crashed = await idem.begin('k', 'fp');
    expect(crashed.status).toBe('new');
    expect((await idem.begin('k', 'fp')).status).toBe('inProgress');
    if (backend === 'memory') clock.advance(lockTtlMs + 1);
    else await delay(lockTtlMs + 150);
    const retry = await idem.begin('k', 'fp');
    expect(retry.status).toBe('new');
    await expect(idem.complete('k', crashed.token, 'late')).rejects.toMatchObject({ code: 'ERR_RK_LOCK_NOT_OWNER' });
  });

  test('once: a duplicate does not run the handler again; a failed handler can be retried', async () => {
    const idem = rk.idempotency.withOptions({ name: 'webhooks' });
    const calls = [];
    const handler = async () => { calls.push(1); return { charged: 5 }; };
    expect(await idem.once('evt_1', handler)).toEqual({ status: 'ran', result: { charged: 5 } });
    expect(await idem.once('evt_1', handler)).toEqual({ status: 'duplicate', result: { charged: 5 } });
    expect(calls).toHaveLength(1);

    let attempts = 0;
    const flaky = () => {
      attempts += 1;
      if (attempts === 1) throw new Error('downstream timeout');
      return 'ok';
    };
    await expect(idem.once('evt_2', flaky)).rejects.toThrow('downstream timeout');
    expect(await idem.once('evt_2', flaky)).toEqual({ status: 'ran', result: 'ok' });
    expect((await idem.once('evt_2', flaky)).status).toBe('duplicate');
    expect(attempts).toBe(2);
  });

  test('once: a delivery during the first run sees inProgress; unstorable results are stored as null', async () => {
    const idem = rk.idempotency;
    let release;
    const gate = new Promise((r) => { release = r; });
    let runs = 0;
    const slow = async () => { runs += 1; await gate; return 42; };
    const first = idem.once('evt', slow);
    await delay(20);
    const during = await idem.once('evt', slow);
    expect(during.status).toBe('inProgress');
    expect(during.retryAfterMs).toBeGreaterThan(0);
    release();
    expect(await first).toEqual({ status: 'ran', result: 42 });
    expect(await idem.once('evt', slow)).toEqual({ status: 'duplicate', result: 42 });
    expect(runs).toBe(1);
    const fn = () => 1;
    const r = await idem.once('evt-fn', () => fn);
    expect(r.status).toBe('ran');
    expect(r.result).toBe(fn);
    expect(await idem.once('evt-fn', () => fn)).toEqual({ status: 'duplicate', result: null });
    expect((await idem.once('evt-fp', () => 1, { fingerprint: 'a' })).status).toBe('ran');
    expect((await idem.once('evt-fp', () => 1, { fingerprint: 'b' })).status).toBe('mismatch');
  });

  test('bad input rejects with ERR_RK_INVALID_ARGUMENT', async () => {
    const idem = rk.idempotency;
    const bad = { code: 'ERR_RK_INVALID_ARGUMENT' };
    await expect(idem.begin('')).rejects.toMatchObject(bad);
    await expect(idem.begin('k'.repeat(513))).rejects.toMatchObject(bad);
    await expect(idem.begin(17)).rejects.toMatchObject(bad);
    await expect(idem.begin('k', undefined, { lockTtlMs: -1 })).rejects.toMatchObject(bad);
    await expect(idem.begin('k', undefined, { lockTtlMs: NaN })).rejects.toMatchObject(bad);
    expect(() => idem.withOptions({ ttlMs: -5 })).toThrow(expect.objectContaining(bad));
    expect(() => idem.withOptions({ ttlMs: 'soon' })).toThrow(expect.objectContaining(bad));
    expect(() => idem.withOptions({ name: '' })).toThrow(expect.objectContaining(bad));
    const b = await idem.begin('k');
    await expect(idem.complete('k', b.token, { when: () => 1 })).rejects.toMatchObject(bad);
    await expect(idem.complete('k', b.token, { n: 10n })).rejects.toMatchObject(bad);
    await expect(idem.complete('k', '', 1)).rejects.toMatchObject(bad);
    const small = idem.withOptions({ maxResponseBytes: 1024 });
    const b2 = await small.begin('big');
    await expect(small.complete('big', b2.token, Buffer.alloc(2048))).rejects.toMatchObject(bad);
    await small.complete('big', b2.token, Buffer.alloc(100));  // the marker survived the refused complete
    await expect(idem.once('e', 'not a function')).rejects.toMatchObject(bad);
    await idem.complete('k', b.token, { ok: true });
  });
});

test('a crashed process frees its key (real crash on Redis)', async () => {
  const p = prefix();
  // The child's marker must still be there when this process looks, after the child's exit and
  // spawnSync's return: connected beforehand, and a 3 s lock (not 500 ms) for a slow exit.
  const lockTtlMs = 3000;
  const rk = connect(backends.server.url, { prefix: p });
  await rk.ping();
  const child = `
    const { connect } = require(${JSON.stringify(path.resolve(__dirname, '../..'))});
    const rk = connect(${JSON.stringify(backends.server.url)}, { prefix: ${JSON.stringify(p)} });
    rk.idempotency.withOptions({ lockTtlMs: ${lockTtlMs} }).begin('payment-9', 'fp').then((b) => {
      if (b.status !== 'new') process.exit(1);
      process.exit(3);  // no complete, no abandon, no close
    });`;
  try {
    const r = spawnSync(process.execPath, ['-e', child], { env: process.env, timeout: 60000 });
    expect(r.status).toBe(3);
    const idem = rk.idempotency;
    expect((await idem.begin('payment-9', 'fp')).status).toBe('inProgress');
    const deadline = Date.now() + lockTtlMs + 5000;
    let b;
    for (;;) {
      b = await idem.begin('payment-9', 'fp');
      if (b.status === 'new' || Date.now() > deadline) break;
      await delay(Math.max(10, Math.min(b.retryAfterMs, 200)));
    }
    expect(b.status).toBe('new');
    await idem.complete('payment-9', b.token, { status: 200 });
  } finally {
    await rk.close();
  }
});
