// Every kind of bad input gets RedkeeperError ERR_RK_INVALID_ARGUMENT naming the parameter: config
// errors throw from connect()/limiter(), op errors reject the promise (never a synchronous throw).
'use strict';

const { connect, ManualClock, RedkeeperError } = require('../..');

const INVALID = 'ERR_RK_INVALID_ARGUMENT';

function expectThrows(fn, param) {
  let error;
  try {
    fn();
  } catch (err) {
    error = err;
  }
  expect(error).toBeInstanceOf(RedkeeperError);
  expect(error.code).toBe(INVALID);
  expect(error.message).toContain(param);
}

// The op must return a promise (not throw) and that promise must reject with the code and param.
async function expectRejects(fn, param) {
  let promise;
  expect(() => {
    promise = fn();
  }).not.toThrow();
  expect(promise).toBeInstanceOf(Promise);
  let error;
  try {
    await promise;
  } catch (err) {
    error = err;
  }
  expect(error).toBeInstanceOf(RedkeeperError);
  expect(error.code).toBe(INVALID);
  expect(error.message).toContain(param);
}

let rk;
let limiter;
beforeEach(() => {
  rk = connect('memory://', { clock: new ManualClock(1700000000000) });
  limiter = rk.limiter('bad', { limit: 5, window: 60 });
});
afterEach(() => rk.close());

describe('connect()', () => {
  test.each([
    ['ftp://localhost', 'url'],
    ['http://localhost:6379', 'url'],
    ['', 'url'],
    ['memcached://x', 'url'],
  ])('unknown URL scheme %j', (url, param) => expectThrows(() => connect(url), param));

  test.each([
    [42, 'url'],
    [null, 'url'],
    [{}, 'url'],
  ])('url of the wrong type %p', (url, param) => expectThrows(() => connect(url), param));

  test.each([
    [{ prefix: '' }, 'prefix'],
    [{ prefix: 'a{b}' }, 'prefix'],
    [{ prefix: 7 }, 'prefix'],
    [{ clock: Date }, 'clock'],
    [{ clock: { nowMs: 1 } }, 'clock'],
    [{ commandTimeoutMs: -1 }, 'commandTimeoutMs'],
    [{ commandTimeoutMs: NaN }, 'commandTimeoutMs'],
    [{ connectTimeoutMs: Infinity }, 'connectTimeoutMs'],
    [{ connectTimeoutMs: '100' }, 'connectTimeoutMs'],
    [{ maxPending: 0 }, 'maxPending'],
    [{ tls: 'yes' }, 'tls'],
    [{ tls: { rejectUnauthorized: 'no' } }, 'tls.rejectUnauthorized'],
    [{ tls: { ca: 12 } }, 'tls.ca'],
    [{ bogus: 1 }, 'bogus'],
    ['options', 'options'],
  ])('bad option %p', (options, param) => expectThrows(() => connect('memory://', options), param));
});

describe('limiter() config', () => {
  test.each([
    [{ limit: 0, window: 60 }, 'limit'],
    [{ limit: -1, window: 60 }, 'limit'],
    [{ limit: NaN, window: 60 }, 'limit'],
    [{ limit: Infinity, window: 60 }, 'limit'],
    [{ limit: 1.5, window: 60 }, 'limit'],
    [{ limit: '5', window: 60 }, 'limit'],
    [{ limit: null, window: 60 }, 'limit'],
    [{ window: 60 }, 'limit'],
    [{ limit: 5, window: 0 }, 'window'],
    [{ limit: 5, window: -10 }, 'window'],
    [{ limit: 5, window: NaN }, 'window'],
    [{ limit: 5, window: Infinity }, 'window'],
    [{ limit: 5, window: 'abc' }, 'window'],
    [{ limit: 5, window: '' }, 'window'],
    [{ limit: 5, window: '-5m' }, 'window'],
    [{ limit: 5, window: {} }, 'window'],
    [{ limit: 5 }, 'window'],
    [{ limit: 5, windowMs: 0 }, 'windowMs'],
    [{ limit: 5, windowMs: -1 }, 'windowMs'],
    [{ limit: 5, windowMs: 1.5 }, 'windowMs'],
    [{ limit: 5, windowMs: '1000' }, 'windowMs'],
    [{ limit: 5, window: 60, windowMs: 60000 }, 'window'],
    [{ limit: 5, window: 60, algorithm: 'leaky' }, 'algorithm'],
    [{ limit: 5, window: 60, algorithm: '' }, 'algorithm'],
    [{ limit: 5, window: 60, algorithm: 3 }, 'algorithm'],
    [{ limit: 5, window: 60, blockDuration: -1 }, 'blockDuration'],
    [{ limit: 5, window: 60, blockDuration: NaN }, 'blockDuration'],
    [{ limit: 5, window: 60, blockDuration: 'soon' }, 'blockDuration'],
    [{ limit: 5, window: 60, blockDurationMs: -5 }, 'blockDurationMs'],
    [{ limit: 5, window: 60, onError: 'closed-ish' }, 'onError'],
    [{ limit: 5, window: 60, windows: 60 }, 'windows'],
    [{ rate: 'lots' }, 'rate'],
    [{ rate: '10/fortnight' }, 'rate'],
    [{ rate: '0/minute' }, 'rate'],
    [{ rate: '-5/minute' }, 'rate'],
    [{ rate: '/minute' }, 'rate'],
    [{ rate: '' }, 'rate'],
    [{ rate: 10 }, 'rate'],
    [{ rate: '5/minute', limit: 5 }, 'rate'],
  ])('%p', (options, param) => expectThrows(() => rk.limiter('cfg', options), param));

  test.each([
    ['', 'name'],
    ['has space', 'name'],
    ['x'.repeat(65), 'name'],
    [undefined, 'name'],
    [12, 'name'],
  ])('bad name %p', (name, param) => expectThrows(() => rk.limiter(name, { limit: 1, window: 1 }), param));

  test('options must be an object', () => expectThrows(() => rk.limiter('cfg', 'limit=5'), 'options'));
});

describe('limiter ops reject (never throw)', () => {
  const keys = [
    ['empty string', '', 'key'],
    ['over 1 KiB', 'k'.repeat(1025), 'key'],
    ['far over 1 KiB', 'k'.repeat(100000), 'key'],
    ['over 1 KiB in UTF-8 bytes', 'é'.repeat(513), 'key'],
    ['empty Buffer', Buffer.alloc(0), 'key'],
    ['oversized Buffer', Buffer.alloc(1025, 1), 'key'],
    ['undefined', undefined, 'key'],
    ['null', null, 'key'],
    ['number', 42, 'key'],
    ['object', { id: 1 }, 'key'],
    ['array', ['a'], 'key'],
  ];
  for (const [what, key, param] of keys) {
    test(`hit with key ${what}`, () => expectRejects(() => limiter.hit(key), param));
    test(`peek with key ${what}`, () => expectRejects(() => limiter.peek(key), param));
    test(`reset with key ${what}`, () => expectRejects(() => limiter.reset(key), param));
    test(`refund with key ${what}`, () => expectRejects(() => limiter.refund(key, 1), param));
    test(`block with key ${what}`, () => expectRejects(() => limiter.block(key, 10), param));
  }

  test('a key of exactly 1024 bytes is fine', async () => {
    expect((await limiter.hit('k'.repeat(1024))).allowed).toBe(true);
  });

  test.each([
    [{ cost: 0 }, 'cost'],
    [{ cost: -1 }, 'cost'],
    [{ cost: 6 }, 'cost'],
    [{ cost: 1.5 }, 'cost'],
    [{ cost: NaN }, 'cost'],
    [{ cost: Infinity }, 'cost'],
    [{ cost: -Infinity }, 'cost'],
    [{ cost: '1' }, 'cost'],
    [{ cost: null }, 'cost'],
    [{ cost: {} }, 'cost'],
    ['1', 'options'],
    [true, 'options'],
  ])('hit cost %p', (options, param) => expectRejects(() => limiter.hit('a', options), param));

  test.each([
    [0, 'amount'],
    [-1, 'amount'],
    [NaN, 'amount'],
    [Infinity, 'amount'],
    ['1', 'options'],
  ])('refund amount %p', (amount, param) => expectRejects(() => limiter.refund('a', amount), param));

  test.each([
    [0, 'duration'],
    [-1, 'duration'],
    [NaN, 'duration'],
    [Infinity, 'duration'],
    ['forever', 'duration'],
    [undefined, 'duration'],
    [{}, 'duration'],
  ])('block duration %p', (duration, param) => expectRejects(() => limiter.block('a', duration), param));

  test('a rejected bad hit consumed nothing', async () => {
    await expect(limiter.hit('a', { cost: 99 })).rejects.toThrow();
    const peek = await limiter.peek('a');
    expect(peek.remaining).toBe(5);
  });
});

describe('headers() options', () => {
  test.each([
    [{ standard: 'draft-9' }, 'standard'],
    [{ standard: 7 }, 'standard'],
    [{ legacy: 'yes' }, 'legacy'],
    [{ nowMs: 'now' }, 'nowMs'],
    [{ nope: 1 }, 'nope'],
  ])('%p', async (options, param) => {
    const result = await limiter.hit('h');
    expectThrows(() => result.headers(options), param);
  });
});

describe('ManualClock', () => {
  test.each([
    [() => new ManualClock('now'), 'startMs'],
    [() => new ManualClock(NaN), 'startMs'],
    [() => new ManualClock(1.5), 'startMs'],
    [() => new ManualClock(0).advance(-1), 'ms'],
    [() => new ManualClock(0).advance(Infinity), 'ms'],
    [() => new ManualClock(0).set('x'), 'ms'],
  ])('bad clock input %#', (fn, param) => expectThrows(fn, param));
});
