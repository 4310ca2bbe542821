// rk.tokens / rk.tokenVersions from Node: the shared vectors (tests/vectors/tokens.json, raw core
// ops) on memory:// and Redis with a ManualClock, then the typed API on both backends (real TTLs on
// Redis), malformed input, signatures, fail-closed, the loader; and requireValidToken through a real
// Express app with supertest.
'use strict';

const crypto = require('crypto');
const express = require('express');
const request = require('supertest');
const { connect, ManualClock } = require('../..');
const { requireValidToken } = require('../../node/express');
const { PrimitiveHandle } = require('../../node/lib/primitive');
const { load } = require('./helpers/vectors');
const { delay } = require('./helpers/redisServer');
const { useRedisBackends } = require('./helpers/backends');

const V = load('tokens.json');
const SECRET = 'node-secret';
const CODES = {
  TokenMalformed: 'ERR_RK_TOKEN_MALFORMED',
  TokenInvalid: 'ERR_RK_TOKEN_INVALID',
  TokenRevoked: 'ERR_RK_TOKEN_REVOKED',
  InvalidArgument: 'ERR_RK_INVALID_ARGUMENT',
};

const b64 = (buf) => Buffer.from(buf).toString('base64url');
function makeJwt(claims, secret = SECRET, alg = 'HS256') {
  const input = `${b64(JSON.stringify({ alg, typ: 'JWT' }))}.${b64(JSON.stringify(claims))}`;
  const algo = { HS256: 'sha256', HS384: 'sha384', HS512: 'sha512' }[alg];
  return `${input}.${crypto.createHmac(algo, secret).update(input).digest('base64url')}`;
}

const clients = [];
afterAll(() => Promise.all(clients.map((c) => c.close())));  // declared first: runs before the servers stop
const backends = useRedisBackends();

let n = 0;
function open(kind, clock) {
  const prefix = `tk${process.pid}x${n++}`;
  const url = backends.url(kind);
  const rk = kind === 'memory' ? connect(url, { clock, prefix }) : connect(url, { clock, prefix, commandTimeoutMs: 5000 });
  clients.push(rk);
  return rk;
}

function env(kind) {
  if (kind === 'memory') {
    const clock = new ManualClock(Date.now());
    return { rk: open(kind, clock), now: () => clock.nowMs / 1000, advance: async (ms) => clock.advance(ms) };
  }
  return { rk: open(kind), now: () => Date.now() / 1000, advance: (ms) => delay(ms) };
}

describe.each(['memory', 'redis', 'cluster'])('token vectors on %s', (kind) => {
  test.each(V.sequences.map((s) => [s.name, s]))('%s', async (_name, seq) => {
    const clock = new ManualClock(V.clock_start_ms);
    const rk = open(kind, clock);
    const handle = new PrimitiveHandle(rk, seq.kind, seq.options);
    for (const [i, step] of seq.steps.entries()) {
      if (step.advance_ms) clock.advance(step.advance_ms);
      const where = `step ${i} ${step.op}`;
      if (step.expect !== null && typeof step.expect === 'object' && 'error' in step.expect) {
        await expect(handle.call(step.op, step.args)).rejects.toMatchObject({ code: CODES[step.expect.error] });
      } else {
        expect([where, await handle.call(step.op, step.args)]).toEqual([where, step.expect]);
      }
    }
  });
});

describe('decode and verify vectors', () => {
  const clock = new ManualClock(V.clock_start_ms);
  test.each(V.decode.map((c) => [c.name, c]))('decode: %s', async (_name, c) => {
    const tokens = open('memory', clock).tokens;
    if (c.expect.error) {
      for (const op of ['decode', 'isRevoked', 'check', 'revoke']) {
        await expect(tokens[op](c.token)).rejects.toMatchObject({ code: CODES[c.expect.error] });
      }
    } else {
      expect(await tokens.decode(c.token)).toEqual(c.expect);
      expect(await tokens.isRevoked(c.token)).toBe(false);
    }
  });
  test.each(V.verify.map((c) => [c.name, c]))('verify: %s', async (_name, c) => {
    const options = {};
    if (c.key !== null) options.verifyKey = V.keys[c.key];
    if (c.algorithms) options.algorithms = c.algorithms;
    const tokens = open('memory', clock).tokens.withOptions(options);
    if (c.expect === 'ok') expect((await tokens.check(c.token)).sub).toBe('alice');
    else await expect(tokens.check(c.token)).rejects.toMatchObject({ code: CODES[c.expect] });
  });
});

describe.each(['memory', 'redis', 'cluster'])('tokens on %s', (kind) => {
  test('revoke, isRevoked, check, expiry, stats', async () => {
    const { rk, now, advance } = env(kind);
    const tokens = rk.tokens;
    const t0 = Math.floor(now());
    // exp is in whole seconds: t0 + 3 leaves >= 2 s of real time on Redis (t0 + 2 left as little
    // as 1 s) for the seven round trips that need the token unexpired.
    const t = makeJwt({ sub: 'alice', jti: 'j1', iat: t0, exp: t0 + 3 });
    const other = makeJwt({ sub: 'alice', jti: 'j2', iat: t0, exp: t0 + 60 });
    expect(await tokens.isRevoked(t)).toBe(false);
    expect((await tokens.check(t)).jti).toBe('j1');
    expect(await tokens.revoke(t)).toBe(true);
    expect(await tokens.revoke(t)).toBe(false);
    expect(await tokens.isRevoked(t)).toBe(true);
    expect(await tokens.isRevoked(other)).toBe(false);
    await expect(tokens.check(t)).rejects.toMatchObject({ code: 'ERR_RK_TOKEN_REVOKED' });
    expect(await tokens.stats()).toEqual({ denylisted: 1, usersRevoked: 0 });
    await advance(3200);
    expect(await tokens.isRevoked(t)).toBe(true);
    await expect(tokens.check(t)).rejects.toMatchObject({ code: 'ERR_RK_TOKEN_INVALID', message: 'token: expired' });
    expect(await tokens.stats()).toEqual({ denylisted: 0, usersRevoked: 0 });
  });

  test('revokeUser and audit', async () => {
    const { rk, now } = env(kind);
    const tokens = rk.tokens.withOptions({ auditLimit: 2, maxLifetimeMs: '1 day' });
    const t0 = now();
    const before = makeJwt({ sub: '42', jti: 'b', iat: t0 - 5, exp: t0 + 600 });
    const bystander = makeJwt({ sub: '43', iat: t0 - 5, exp: t0 + 600 });
    const r = await tokens.revokeUser(42, 'password changed');
    expect(r.expiresAtMs - r.revokedBeforeMs).toBe(86400000);
    expect(await tokens.isRevoked(before)).toBe(true);
    expect(await tokens.isRevoked(bystander)).toBe(false);
    const after = makeJwt({ sub: '42', jti: 'a', iat: r.revokedBeforeMs / 1000 + 0.5, exp: t0 + 600 });
    expect(await tokens.isRevoked(after)).toBe(false);
    await tokens.revokeUser('42', 'again');
    await tokens.revokeUser('42');
    const audit = await tokens.audit(42);
    expect(audit.entries.map((e) => e.reason)).toEqual(['', 'again']);
    expect((await tokens.stats()).usersRevoked).toBe(1);
  });

  test('malformed and non-string input are typed errors', async () => {
    const { rk } = env(kind);
    for (const bad of [undefined, null, 42, {}, ['a.b.c'], '', 'a.b', 'x'.repeat(20000), '!!.??.##', () => 1, Symbol('t')]) {
      for (const op of ['isRevoked', 'check', 'revoke']) {
        await expect(rk.tokens[op](bad)).rejects.toMatchObject({ code: 'ERR_RK_TOKEN_MALFORMED' });
      }
    }
    await expect(rk.tokens.revokeUser('')).rejects.toMatchObject({ code: 'ERR_RK_INVALID_ARGUMENT' });
    await expect(rk.tokens.revokeUser(true)).rejects.toMatchObject({ code: 'ERR_RK_INVALID_ARGUMENT' });
    expect(() => rk.tokens.withOptions({ onError: 'open' })).toThrow(/on_error/);
    expect(() => rk.tokens.withOptions({ maxLifeTime: 5 })).toThrow(/unknown option/);
  });

  test('token versions: counter, epoch, loader', async () => {
    const { rk, advance } = env(kind);
    const v = rk.tokenVersions;
    expect(await v.get('alice')).toBe(0);
    expect(await v.bump('alice')).toBe(1);
    expect(await v.verify('alice', 0)).toBe(false);
    expect(await v.verify('alice', 1)).toBe(true);
    const epoch = await v.bumpAll();
    expect(await v.get('alice')).toBe(epoch * 2 ** 32 + 1);
    expect(await v.verify('alice', 1)).toBe(false);
    const calls = [];
    const loaded = v.withOptions({ loader: async (u) => { calls.push(u); return u === 'db' ? 7 : null; }, cacheTtlMs: 1000 });
    expect(await loaded.get('db')).toBe(epoch * 2 ** 32 + 7);
    expect(await loaded.get('db')).toBe(epoch * 2 ** 32 + 7);
    expect(calls).toEqual(['db']);
    expect(await loaded.bump('db2')).toBe(epoch * 2 ** 32 + 1);
    expect(await v.withOptions({ loader: () => 41 }).bump('fresh')).toBe(epoch * 2 ** 32 + 42);
    await advance(1200);
    await loaded.get('db');
    expect(calls.filter((u) => u === 'db').length).toBe(2);
    const bumps = await Promise.all(Array.from({ length: 50 }, () => v.bump('hot')));
    expect(bumps.map((x) => x - epoch * 2 ** 32).sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    await expect(v.verify('alice', '1')).rejects.toMatchObject({ code: 'ERR_RK_INVALID_ARGUMENT' });
  });
});

test('fails closed when the store is unreachable', async () => {
  const net = require('net');
  const port = await new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
  const rk = connect(`redis://127.0.0.1:${port}`, { connectTimeoutMs: 200, commandTimeoutMs: 300 });
  clients.push(rk);
  const t = makeJwt({ sub: 's', exp: Math.floor(Date.now() / 1000) + 60 });
  expect(await rk.tokens.isRevoked(t)).toBe(true);
  await expect(rk.tokens.check(t)).rejects.toMatchObject({ code: 'ERR_RK_TOKEN_REVOKED' });
  await expect(rk.tokens.withOptions({ onError: 'raise' }).isRevoked(t)).rejects.toMatchObject({ code: expect.stringMatching(/CONNECTION|TIMEOUT/) });
  expect(await rk.tokenVersions.verify('s', 0)).toBe(false);
});

describe.each(['memory', 'redis'])('requireValidToken (Express) on %s', (kind) => {
  test('401 JSON for missing, malformed, invalid and revoked tokens; claims on req', async () => {
    const { rk, now } = env(kind);
    const tokens = rk.tokens.withOptions({ verifyKey: SECRET });
    const app = express();
    app.get('/me', requireValidToken({ client: tokens }), (req, res) => res.json({ sub: req.tokenClaims.sub }));
    app.post('/logout', requireValidToken({ client: tokens }), async (req, res) => {
      await rk.tokens.revoke(req.headers.authorization.slice(7));
      res.json({ ok: true });
    });
    app.get('/cookie', requireValidToken({ client: rk, getToken: async (req) => req.headers['x-jwt'] }), (req, res) => res.json(req.tokenClaims));
    const t0 = Math.floor(now());
    const token = makeJwt({ sub: 'ann', jti: 'ex1', iat: t0, exp: t0 + 60 });
    const auth = `Bearer ${token}`;
    await request(app).get('/me').set('Authorization', auth).expect(200, { sub: 'ann' });
    const missing = await request(app).get('/me').expect(401);
    expect(missing.body.error).toBe('token_missing');
    expect(missing.headers['www-authenticate']).toBe('Bearer');
    expect((await request(app).get('/me').set('Authorization', 'Bearer a.b').expect(401)).body.error).toBe('token_malformed');
    expect((await request(app).get('/me').set('Authorization', `Bearer ${makeJwt({ sub: 'x' }, 'other')}`).expect(401)).body.error).toBe('token_invalid');
    await request(app).post('/logout').set('Authorization', auth).expect(200);
    const revoked = await request(app).get('/me').set('Authorization', auth).expect(401);
    expect(revoked.body).toEqual({ error: 'token_revoked', message: 'token: revoked' });
    const other = makeJwt({ sub: 'bob', iat: t0 - 5, exp: t0 + 60 });
    expect((await request(app).get('/cookie').set('x-jwt', other).expect(200)).body.sub).toBe('bob');
    await rk.tokens.revokeUser('bob', 'suspended');
    expect((await request(app).get('/cookie').set('x-jwt', other).expect(401)).body.error).toBe('token_revoked');
  });
});
