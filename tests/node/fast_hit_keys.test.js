// The memory:// fast hit path encodes string keys to UTF-8 itself: for every kind of string it must
// reach the same key as the general path (Buffer keys, peek), so one id never splits into two.
'use strict';

const { connect } = require('../..');

const KEYS = [
  '10.0.0.1',
  'a',
  'café', // two-byte UTF-8
  '東京', // three-byte UTF-8
  'user:😀', // surrogate pair: four-byte UTF-8
  'lone \ud800 high', // lone surrogates become U+FFFD, as Buffer.from() spells them
  'lone \udc00 low',
  'ends high \ud83d',
  '\udc00\ud800 reversed pair',
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
  await expect(limiter.hit('é'.repeat(513))).rejects.toMatchObject({ code: 'ERR_RK_INVALID_ARGUMENT' });
  await expect(limiter.hit('x'.repeat(5000))).rejects.toMatchObject({ code: 'ERR_RK_INVALID_ARGUMENT' });
});

test('distinct strings stay distinct keys', async () => {
  const limiter = rk.limiter('keys', { limit: 10, window: 60, algorithm: 'fixed_window' });
  for (const key of KEYS) await limiter.hit(key);
  // Every key was hit once; a collision of two encodings would show up as a second hit.
  for (const key of KEYS) expect((await limiter.peek(key)).remaining).toBe(9);
});
