// rk.otp on memory:// (ManualClock), a private redis-server and a private Redis Cluster: the shared vectors
// (tests/vectors/otp.json, raw core ops), generated codes, the sixth wrong guess refused even with the
// right code, cooldown, the secret policy, the stored form (an HMAC rebuilt with node:crypto, never
// the code) and bad input.
'use strict';

const crypto = require('crypto');
const { connect, ManualClock } = require('../..');
const { Otp } = require('../../node/lib/otp');
const { PrimitiveHandle } = require('../../node/lib/primitive');
const { load } = require('./helpers/vectors');
const { useRedisBackends } = require('./helpers/backends');

const T0 = 1700000000000;
const SECRET = 'test-secret-0123456789abcdef';
const backends = useRedisBackends(30000);
let counter = 0;

function prefix() { counter += 1; return `jo${process.pid}x${counter}`; }

function open(backend, clock) {
  if (backend === 'memory') return connect('memory://', { clock, prefix: prefix() });
  return connect(backend === 'cluster' ? backends.cluster.url : backends.server.url, { prefix: prefix() });
}

async function runVectorCase(c, backend) {
  const clock = new ManualClock(c.start_ms || T0);
  const rk = open(backend, clock);
  try {
    if (c.config_error !== undefined) {
      expect(() => new PrimitiveHandle(rk, 'otp', c.config)).toThrow(expect.objectContaining({ code: c.config_error }));
      return;
    }
    const handle = new PrimitiveHandle(rk, 'otp', c.config);
    for (const [i, step] of c.steps.entries()) {
      const where = `${c.name} step ${i}`;
      if (step.op === 'advance') {
        clock.advance(step.ms);
        continue;
      }
      if (step.error !== undefined) {
        await expect(handle.call(step.op, step.args || {})).rejects.toMatchObject({ code: step.error });
        continue;
      }
      const result = await handle.call(step.op, step.args || {});
      for (const [field, want] of Object.entries(step.expect)) {
        const got = result[field] === undefined ? null : result[field];
        if (backend !== 'memory' && field.endsWith('_ms') && Number.isInteger(want) && Number.isInteger(got)) {
          expect([where, field, got <= want && got >= want - 1000]).toEqual([where, field, true]);
        } else {
          expect([where, field, got]).toEqual([where, field, want]);
        }
      }
    }
  } finally {
    await rk.close();
  }
}

const CASES = [];
for (const c of load('otp.json').cases) {
  for (const backend of ['memory', 'redis', 'cluster']) {
    // Cases needing the injected clock run on memory only: Redis expires keys on its own clock.
    if (!(c.clock && backend !== 'memory')) CASES.push([`${backend}: ${c.name}`, c, backend]);
  }
}

describe('otp vectors', () => {
  test.each(CASES)('%s', async (_name, c, backend) => { await runVectorCase(c, backend); });
});

describe.each(['memory', 'redis', 'cluster'])('rk.otp on %s', (backend) => {
  let clock;
  let rk;
  beforeEach(() => {
    clock = new ManualClock(T0);
    rk = open(backend, clock);
  });
  afterEach(async () => { await rk.close(); });

  test('a generated code verifies once', async () => {
    const otp = rk.otp.withOptions({ secret: SECRET });
    expect(otp).toBeInstanceOf(Otp);
    const sent = await otp.issue('user:1', { digits: 8 });
    expect(sent).toMatchObject({ issued: true, reason: 'issued', ttlMs: 300000, retryAfterMs: 0 });
    expect(sent.code).toMatch(/^[0-9]{8}$/);
    expect(await otp.verify('user:1', sent.code)).toEqual({ ok: true, reason: 'ok', attemptsLeft: 5, retryAfterMs: 0 });
    expect((await otp.verify('user:1', sent.code)).reason).toBe('expired_or_missing');
  });

  test('the sixth wrong guess is refused even with the right code', async () => {
    const otp = rk.otp.withOptions({ secret: SECRET });
    const { code } = await otp.issue('victim');
    const wrong = code === '000000' ? '111111' : '000000';
    const left = [];
    for (let i = 0; i < 5; i += 1) left.push((await otp.verify('victim', wrong)).attemptsLeft);
    expect(left).toEqual([4, 3, 2, 1, 0]);
    const sixth = await otp.verify('victim', code);
    expect(sixth).toMatchObject({ ok: false, reason: 'locked', attemptsLeft: 0 });
    expect(sixth.retryAfterMs).toBeGreaterThan(299000);
    expect(await otp.issue('victim')).toMatchObject({ issued: false, reason: 'locked', code: null });
  });

  test('cooldown, supplied codes, revoke', async () => {
    const otp = rk.otp.withOptions({ secret: SECRET, cooldownMs: '30s', ttlMs: '10m' });
    const first = await otp.issue('u', { code: 'abc-123' });
    expect(first).toMatchObject({ issued: true, code: 'abc-123', ttlMs: 600000 });
    const resend = await otp.issue('u');
    expect(resend).toMatchObject({ issued: false, reason: 'cooldown', code: null });
    expect(resend.retryAfterMs).toBeGreaterThan(29000);
    expect(resend.retryAfterMs).toBeLessThanOrEqual(30000);
    if (backend === 'memory') {
      clock.advance(30001);
      const second = await otp.issue('u', { ttlMs: 5000 });
      expect(second).toMatchObject({ issued: true, ttlMs: 5000 });
      expect((await otp.verify('u', 'abc-123')).reason).toBe('invalid');
    }
    expect(await otp.revoke('u')).toBe(true);
    expect(await otp.revoke('u')).toBe(false);
  });

  test('bad input rejects with ERR_RK_INVALID_ARGUMENT', async () => {
    const otp = rk.otp.withOptions({ secret: SECRET });
    const bad = { code: 'ERR_RK_INVALID_ARGUMENT' };
    await expect(otp.issue('')).rejects.toMatchObject(bad);
    await expect(otp.issue('u', { ttlMs: -1 })).rejects.toMatchObject(bad);
    await expect(otp.issue('u', { ttlMs: Infinity })).rejects.toMatchObject(bad);
    await expect(otp.issue('u', { digits: 3 })).rejects.toMatchObject(bad);
    await expect(otp.issue('u', { code: '' })).rejects.toMatchObject(bad);
    await expect(otp.issue('u', 'soon')).rejects.toMatchObject(bad);
    await expect(otp.verify('u', 123456)).rejects.toMatchObject(bad);
    await expect(otp.verify('u', '1'.repeat(65))).rejects.toMatchObject(bad);
    await expect(rk.otp.withOptions({ secret: 'short' }).issue('u')).rejects.toMatchObject(bad);
    await expect(otp.withOptions({ maxAttempts: 0 }).issue('u')).rejects.toMatchObject(bad);
    expect(() => otp.withOptions({ cooldownMs: -1 })).toThrow(expect.objectContaining(bad));
    expect(() => otp.withOptions({ colour: 'red' })).toThrow(expect.objectContaining(bad));
    expect((await otp.issue('u')).issued).toBe(true);  // nothing above consumed anything
  });
});

describe('secrets', () => {
  const saved = process.env.REDKEEPER_OTP_SECRET;
  afterEach(() => {
    if (saved === undefined) delete process.env.REDKEEPER_OTP_SECRET;
    else process.env.REDKEEPER_OTP_SECRET = saved;
  });

  test('Redis requires one; withOptions supplies it', async () => {
    delete process.env.REDKEEPER_OTP_SECRET;
    const rk = connect(backends.server.url, { prefix: prefix() });
    try {
      const otp = rk.otp;
      await expect(otp.issue('u')).rejects.toMatchObject({ code: 'ERR_RK_INVALID_ARGUMENT', message: expect.stringMatching(/^secret/) });
      expect((await otp.withOptions({ secret: Buffer.alloc(32, 7) }).issue('u')).issued).toBe(true);
    } finally {
      await rk.close();
    }
  });

  test('REDKEEPER_OTP_SECRET is shared by every client', async () => {
    process.env.REDKEEPER_OTP_SECRET = SECRET;
    const p = prefix();
    const a = connect(backends.server.url, { prefix: p });
    const b = connect(backends.server.url, { prefix: p });
    try {
      const { code } = await a.otp.issue('shared');
      expect((await b.otp.verify('shared', code)).ok).toBe(true);
    } finally {
      await a.close();
      await b.close();
    }
  });

  test('memory defaults to one random secret per client', async () => {
    delete process.env.REDKEEPER_OTP_SECRET;
    const rk = connect('memory://');
    try {
      const { code } = await rk.otp.issue('u');
      expect((await rk.otp.withOptions({ cooldownMs: 0 }).verify('u', code)).ok).toBe(true);
    } finally {
      await rk.close();
    }
  });

  test('the stored form is the documented HMAC, never the code', async () => {
    const p = prefix();
    const rk = connect(backends.server.url, { prefix: p });
    try {
      const { code } = await rk.otp.withOptions({ secret: SECRET, name: 'login', ttlMs: 120000 }).issue('user:42');
      const fields = await backends.server.call(['HGETALL', `${p}:otp:login:{user:42}`]);
      const stored = {};
      for (let i = 0; i < fields.length; i += 2) stored[String(fields[i])] = String(fields[i + 1]);
      expect(Object.keys(stored).sort()).toEqual(['fails', 'hmac', 'ttl']);
      for (const v of Object.values(stored)) expect(v.includes(code)).toBe(false);
      const len = (n) => { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b; };
      const msg = Buffer.concat([Buffer.from('rk-otp-v1'), len(5), Buffer.from('login'), len(7), Buffer.from('user:42'), Buffer.from(code)]);
      expect(stored.hmac).toBe(crypto.createHmac('sha256', SECRET).update(msg).digest('hex'));
      expect(stored.ttl).toBe('120000');
    } finally {
      await rk.close();
    }
  });
});
