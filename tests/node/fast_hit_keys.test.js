// The memory:// fast hit path encodes string keys to UTF-8 itself: for every kind of string it must
// reach the same key as the general path (Buffer keys, peek), so one id never splits into two, and
// refuse what has no UTF-8 spelling exactly as the general path (and the Python package) does.
'use strict';

const { connect } = require('../..');

const KEYS = [
  '10.0.0.1',
  'a',
  'café', // two-byte UTF-8
  '東京', // three-byte UTF-8
  'user:😀', // surrogate pair: four-byte UTF-8
  'x}y{z', // braces: the hash tag is part of the id
  '}lead',
  'nul\u0000inside',
  'é'.repeat(512), // 1024 bytes: the longest valid key
];

let rk;
beforeEach(() => {
  rk = connect('memory://');
});
afterEach(async () => {
  await rk.close();
});

test.each(KEYS.map((k) => [JSON.stringify(k).slice(0, 40), k]))(
  'fast path and general path share the key %s',
  async (_label, key) => {
    const limiter = rk.limiter('keys', { limit: 10, window: 60, algorithm: 'fixed_window' });
    const first = await limiter.hit(key); // string key, no options: the fast path
    expect(first.remaining).toBe(9);
    const second = await limiter.hit(Buffer.from(key, 'utf8')); // the general path, as bytes
    expect(second.remaining).toBe(8);
    const third = await limiter.hit(key, { cost: 1 }); // the general path, as a string
    expect(third.remaining).toBe(7);
    expect((await limiter.peek(key)).remaining).toBe(7);
  },
);

test('a key over 1 KiB falls back to the general path, which rejects it', async () => {
  const limiter = rk.limiter('keys', { limit: 10, window: 60 });
  await expect(limiter.hit('é'.repeat(513))).rejects.toMatchObject({
    code: 'ERR_RK_INVALID_ARGUMENT',
    message: expect.stringContaining('at most 1024 bytes, got 1026'),
  });
  // Past the fast reader's buffer: still its real UTF-8 length, as the core's key check words it.
  await expect(limiter.hit('x'.repeat(5000))).rejects.toMatchObject({
    code: 'ERR_RK_INVALID_ARGUMENT',
    message: expect.stringContaining('at most 1024 bytes, got 5000'),
  });
});

test('distinct strings stay distinct keys', async () => {
  const limiter = rk.limiter('keys', { limit: 10, window: 60, algorithm: 'fixed_window' });
  for (const key of KEYS) await limiter.hit(key);
  // Every key was hit once; a collision of two encodings would show up as a second hit.
  for (const key of KEYS) expect((await limiter.peek(key)).remaining).toBe(9);
});

test.each([
  ['lone high', 'lone \ud800 high'],
  ['lone low', 'lone \udc00 low'],
  ['ends high', 'ends high \ud83d'],
  ['reversed pair', '\udc00\ud800 reversed pair'],
])('a key with a lone surrogate (%s) is refused on every path, naming key, as in Python', async (_label, key) => {
  const limiter = rk.limiter('keys', { limit: 10, window: 60, algorithm: 'fixed_window' });
  const refused = { code: 'ERR_RK_INVALID_ARGUMENT', message: 'key: is not encodable as UTF-8 (lone surrogate?)' };
  await expect(limiter.hit(key)).rejects.toMatchObject(refused); // the fast path declines, the general path refuses
  await expect(limiter.hit(key, { cost: 1 })).rejects.toMatchObject(refused);
  await expect(limiter.peek(key)).rejects.toMatchObject(refused);
  await expect(limiter.reset(key)).rejects.toMatchObject(refused);
  await expect(rk.hitMany([{ limiter, key }])).rejects.toMatchObject({ code: 'ERR_RK_INVALID_ARGUMENT', message: expect.stringContaining('lone surrogate') });
  // Nothing was counted under the U+FFFD spelling the key used to be mapped to.
  const mapped = Buffer.from(key, 'utf8');
  expect((await limiter.peek(mapped)).remaining).toBe(10);
});
