// The generic primitive bridge (lib/primitive.js PrimitiveHandle over the native primitive), driven
// through the debug_echo diagnostics primitive on memory:// and a real redis-server: JSON round trips,
// conversion errors naming their path, inline vs later completion, every error code, close() with
// ops pending on a long timer, and 10k concurrent calls.
'use strict';

const { execFile } = require('child_process');
const path = require('path');
const { connect, RedkeeperError, ErrorCodes } = require('../..');
const { PrimitiveHandle } = require('../../node/lib/primitive');
const { startRedis } = require('./helpers/redisServer');

let server;
beforeAll(async () => {
  server = await startRedis();
});
afterAll(async () => {
  if (server) await server.stop();
});

const backends = [
  ['memory', () => 'memory://'],
  ['redis', () => server.url],
];

const ROUND_TRIP = [
  null,
  true,
  false,
  0,
  -1,
  Number.MAX_SAFE_INTEGER,
  Number.MIN_SAFE_INTEGER,
  1.5,
  -0.25,
  1e300,
  2 ** 60, // beyond the safe range: travels as a float, comes back the same number
  '',
  'plain',
  'ünïcødé ✓ 😀',
  'nul\u0000inside',
  Buffer.alloc(0),
  Buffer.from([0, 255, 128, 98]),
  [],
  [1, 'two', 3.5, null, [Buffer.from('x')]],
  {},
  { nested: { deep: [{ k: Buffer.from('v') }, { n: -7 }] }, empty: {} },
];

// `where` is the exact path the message starts with, or with `inside` a prefix of it (the depth
// errors name the full, long path where the limit was hit).
async function expectInvalid(promise, where, words, inside = false) {
  await expect(promise).rejects.toBeInstanceOf(RedkeeperError);
  const err = await promise.catch((e) => e);
  expect(err.code).toBe('ERR_RK_INVALID_ARGUMENT');
  expect(err.message.startsWith(inside ? where : `${where}:`)).toBe(true);
  if (words) expect(err.message).toContain(words);
}

describe.each(backends)('debug_echo on %s', (_name, url) => {
  let rk;
  let echo;
  beforeEach(() => {
    rk = connect(url(), { prefix: 'rk-prim-test' });
    echo = new PrimitiveHandle(rk, 'debug_echo', {});
  });
  afterEach(async () => {
    await rk.close();
  });

  test('round-trips every JSON type and binary', async () => {
    for (const value of ROUND_TRIP) {
      expect(await echo.call('echo', { value })).toStrictEqual(value);
    }
    const bytes = await echo.call('echo', { value: new Uint8Array([1, 2, 3]) });
    expect(Buffer.isBuffer(bytes)).toBe(true);
    expect([...bytes]).toEqual([1, 2, 3]);
    expect(await echo.call('echo', {})).toBeNull();
    expect(await echo.call('echo')).toBeNull();
  });

  test('callString passes { field: value } without JSON, and falls back to call() for other values', async () => {
    for (const value of ['', 'plain', 'héllo ☃ 𝄞 \u0000 "quoted" \\ back', 'x'.repeat(5000)]) {
      expect(await echo.callString('echo', 'value', value)).toBe(value);
    }
    const bytes = await echo.callString('echo', 'value', Buffer.from([4, 5]));
    expect([...bytes]).toEqual([4, 5]);
    expect(await echo.callString('echo', 'value', 42)).toBe(42);
    const err = await echo.callString('fail', 'code', 'ERR_RK_TIMEOUT').catch((e) => e);
    expect(err.code).toBe('ERR_RK_TIMEOUT');
    const badOp = await echo.callString('nope', 'value', 'x').catch((e) => e);
    expect(badOp.code).toBe('ERR_RK_INVALID_ARGUMENT');
  });

  test('a lone surrogate in a string or an object key is InvalidArgument naming the path, as in Python', async () => {
    const words = 'is not encodable as UTF-8 (lone surrogate)';
    await expectInvalid(echo.call('echo', { value: 'a\ud800' }), 'args.value', words);
    await expectInvalid(echo.call('echo', { value: ['ok', 'b\udc00'] }), 'args.value[1]', words);
    await expectInvalid(echo.callString('echo', 'value', 'ends high \ud83d'), 'args.value', words);
    await expectInvalid(echo.call('echo', { value: { ['k\ud800']: 1 } }), 'args.value', 'object key is not encodable as UTF-8');
    expect(() => new PrimitiveHandle(rk, 'debug_echo', { x: '\udc00' })).toThrow(/config\.x: is not encodable as UTF-8/);
    // Pairs are fine, in either path.
    expect(await echo.call('echo', { value: 'user:😀' })).toBe('user:😀');
    expect(await echo.callString('echo', 'value', 'user:😀')).toBe('user:😀');
  });

  test('undefined members are omitted, undefined items become null; integers stay integers', async () => {
    expect(await echo.call('echo', { value: { a: undefined, b: 1 } })).toStrictEqual({ b: 1 });
    expect(await echo.call('echo', { value: [undefined, 1] })).toStrictEqual([null, 1]);
    expect(await echo.call('eval', { script: 'return ARGV[1]', args: [12345678901] })).toBe('12345678901');
    // 7 and 7.0 are the same JS number: a safe integer, so it travels as an integer.
    expect(await echo.call('eval', { script: 'return ARGV[1]', args: [7.0] })).toBe('7');
    expect(await echo.call('echo', { value: 2.5 })).toBe(2.5);
    const objNoProto = Object.create(null);
    objNoProto.x = 1;
    expect(await echo.call('echo', { value: objNoProto })).toStrictEqual({ x: 1 });
  });

  test('conversion errors reject (never throw) and name the path', async () => {
    const cases = [
      [{ value: NaN }, 'args.value', 'finite'],
      [{ value: Infinity }, 'args.value', 'finite'],
      [{ value: 10n }, 'args.value', 'BigInt'],
      [{ value: Symbol('s') }, 'args.value', 'Symbol'],
      [{ value: () => 1 }, 'args.value', 'function'],
      [{ value: new Date(0) }, 'args.value', 'Date'],
      [{ value: new Map() }, 'args.value', 'plain object'],
      [{ value: new Set([1]) }, 'args.value', 'plain object'],
      [{ value: new Float32Array(2) }, 'args.value', 'Uint8Array'],
      [{ value: new ArrayBuffer(2) }, 'args.value', 'ArrayBuffer'],
      [{ value: { a: [0, { b: NaN }] } }, 'args.value.a[1].b', 'finite'],
      [{ list: [1, [2, () => 0]] }, 'args.list[1][1]', 'function'],
    ];
    for (const [args, where, words] of cases) {
      let promise;
      expect(() => {
        promise = echo.call('echo', args);
      }).not.toThrow();
      await expectInvalid(promise, where, words);
    }
    await expectInvalid(echo.call('echo', [1]), 'args');
    await expectInvalid(echo.call('echo', 'text'), 'args');
    await expectInvalid(echo.call(5, {}), 'op');
    await expectInvalid(echo.call('nope', {}), 'op', 'unknown debug_echo op');
    await expectInvalid(echo.call('echo'.repeat(40), {}), 'op', 'too long');
  });

  test('the native object form converts exactly like the encoded form lib/primitive.js sends', async () => {
    const native = echo._native;
    for (const value of ROUND_TRIP) {
      expect(await native.call('echo', { value })).toStrictEqual(await echo.call('echo', { value }));
    }
    expect(await native.call('echo', { value: { a: undefined, b: [undefined] } })).toStrictEqual({ b: [null] });
    expect(await native.call('echo', { value: 2 ** 60 })).toBe(2 ** 60);
    // The object form throws synchronously (lib/primitive.js turns throws into rejections).
    for (const [value, where, words] of [
      [NaN, 'args.value', 'finite'],
      [{ a: [0, 10n] }, 'args.value.a[1]', 'BigInt'],
      [new Date(0), 'args.value', 'Date'],
      [new Map(), 'args.value', 'plain object'],
      [new Int16Array(1), 'args.value', 'Uint8Array'],
    ]) {
      let err;
      try {
        native.call('echo', { value });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(RedkeeperError);
      expect(err.message.startsWith(`${where}:`)).toBe(true);
      expect(err.message).toContain(words);
    }
    let deep = 'leaf';
    for (let i = 0; i < 70; i++) deep = [deep];
    expect(() => native.call('echo', { value: deep })).toThrow(/contains itself/);
  });

  test('a "__proto__" member comes back as an own data member, never as the prototype', async () => {
    for (const value of [JSON.parse('{"__proto__": {"polluted": 1}}'), JSON.parse('{"__proto__": 1, "a": [1, 2, 3]}')]) {
      const out = await echo.call('echo', { value });
      // Some realm's Object.prototype (the addon's realm is not jest's), not the member's value.
      expect(Object.getPrototypeOf(Object.getPrototypeOf(out))).toBeNull();
      expect(Object.prototype.hasOwnProperty.call(out, '__proto__')).toBe(true);
      expect(out.polluted).toBeUndefined();
    }
    expect({}.polluted).toBeUndefined();
  });

  test('a user key equal to the binary marker is refused', async () => {
    await expectInvalid(echo.call('echo', { value: { '\u0000rk': 0 } }), 'args.value.\u0000rk', 'reserved');
  });

  test('depth limit and cycles are errors, not crashes', async () => {
    let deep = 'leaf';
    for (let i = 0; i < 62; i++) deep = [deep];
    expect(await echo.call('echo', { value: deep })).toStrictEqual(deep);
    await expectInvalid(echo.call('echo', { value: [[deep]] }), 'args.value[0][0]', 'deep', true);
    const cyclic = [];
    cyclic.push(cyclic);
    await expectInvalid(echo.call('echo', { value: cyclic }), 'args.value[0][0]', 'contains itself', true);
    const obj = {};
    obj.self = obj;
    await expectInvalid(echo.call('echo', { value: obj }), 'args.value.self.self', 'contains itself', true);
  });

  test('bad kind or config throws at construction', () => {
    expect(() => new PrimitiveHandle(rk, 'no_such_kind', {})).toThrow(RedkeeperError);
    expect(() => new PrimitiveHandle(rk, 'debug_echo', { x: new Map() })).toThrow(/config\.x/);
    expect(() => new PrimitiveHandle({}, 'debug_echo', {})).toThrow(/client/);
    expect(echo.kind).toBe('debug_echo');
    expect(echo.client).toBe(rk);
  });

  test('every error code reaches JS as RedkeeperError with that code', async () => {
    const codes = Object.values(ErrorCodes);
    expect(codes).toHaveLength(15);
    for (const code of codes) {
      const err = await echo.call('fail', { code, message: `why: ${code}` }).catch((e) => e);
      expect(err).toBeInstanceOf(RedkeeperError);
      expect(err.code).toBe(code);
      expect(err.message).toBe(`why: ${code}`);
    }
    expect(ErrorCodes.LOCK_NOT_OWNER).toBe('ERR_RK_LOCK_NOT_OWNER');
  });

  test('later completes on a core thread; eval runs on the real store', async () => {
    const started = Date.now();
    expect(await echo.call('later', { value: { x: [1, Buffer.from('2')] }, delay_ms: 100 })).toStrictEqual({
      x: [1, Buffer.from('2')],
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(95);
    expect(await echo.call('later', { value: 1, delay_ms: 0 })).toBe(1);
    await expectInvalid(echo.call('later', { delay_ms: -1 }), 'delay_ms');
    const out = await echo.call('eval', {
      script: "return {1, 'text', ARGV[1], false, redis.status_reply('FINE'), {KEYS[1]}}",
      keys: ['rk-prim-test:k'],
      args: [Buffer.from([0xff, 0xfe])],
    });
    expect(out).toStrictEqual([1, 'text', Buffer.from([0xff, 0xfe]), null, { ok: 'FINE' }, ['rk-prim-test:k']]);
    const err = await echo.call('eval', { script: "return redis.error_reply('nope')" }).catch((e) => e);
    expect(err.code).toBe('ERR_RK_SCRIPT');
  });

  test('10k concurrent calls all settle with their own value', async () => {
    const calls = [];
    for (let i = 0; i < 10000; i++) {
      if (i % 3 === 0) calls.push(echo.call('later', { value: i, delay_ms: i % 7 }));
      else if (i % 3 === 1) calls.push(echo.call('eval', { script: 'return tonumber(ARGV[1])', args: [i] }));
      else calls.push(echo.call('echo', { value: i }));
    }
    const results = await Promise.all(calls);
    expect(results).toEqual(Array.from({ length: 10000 }, (_, i) => i));
  });

  test('close() settles ops pending on a long timer with ERR_RK_CLOSED', async () => {
    const pending = [];
    for (let i = 0; i < 50; i++) pending.push(echo.call('later', { value: i, delay_ms: 600000 }));
    await new Promise((r) => setTimeout(r, 20));
    await rk.close();
    const settled = await Promise.allSettled(pending);
    for (const s of settled) {
      expect(s.status).toBe('rejected');
      expect(s.reason.code).toBe('ERR_RK_CLOSED');
    }
    await expect(echo.call('echo', { value: 1 })).rejects.toMatchObject({ code: 'ERR_RK_CLOSED' });
    expect(() => new PrimitiveHandle(rk, 'debug_echo', {})).toThrow(/closed/);
  });
});

test('echo completes inline on memory: the promise is already settled in the same tick', async () => {
  const rk = connect('memory://');
  try {
    const echo = new PrimitiveHandle(rk, 'debug_echo', {});
    let seen;
    echo.call('echo', { value: 'now' }).then((v) => {
      seen = v;
    });
    await null; // one microtask: an inline-resolved promise has run its reaction by now
    expect(seen).toBe('now');
  } finally {
    await rk.close();
  }
});

test('a process that closes with ops pending on long timers exits by itself', async () => {
  const script = `
    const { connect } = require(${JSON.stringify(path.resolve(__dirname, '../..'))});
    const { PrimitiveHandle } = require(${JSON.stringify(path.resolve(__dirname, '../../node/lib/primitive'))});
    const rk = connect('memory://');
    const echo = new PrimitiveHandle(rk, 'debug_echo', {});
    const p = echo.call('later', { value: 1, delay_ms: 3600000 });
    p.catch((e) => { console.log(e.code); });
    setTimeout(() => rk.close(), 10);
  `;
  const out = await new Promise((resolve, reject) => {
    execFile(process.execPath, ['-e', script], { timeout: 10000, env: process.env }, (err, stdout) =>
      err ? reject(err) : resolve(stdout),
    );
  });
  expect(out.trim()).toBe('ERR_RK_CLOSED');
});
