// The public API beyond the vectors: result shape, headers of each draft, ManualClock, Buffer keys,
// health/stats/ping, close() semantics and the ESM entry.
'use strict';

const redkeeper = require('../..');

const { connect, ManualClock, RedkeeperError, LimitResult } = redkeeper;
const START = 1700000000000;

let clock;
let rk;
beforeEach(() => {
  clock = new ManualClock(START);
  rk = connect('memory://', { clock, prefix: 'apitest' });
});
afterEach(() => rk.close());

test('hit returns the documented fields and rejects past the limit without consuming', async () => {
  const limiter = rk.limiter('login', { limit: 2, window: '15m', algorithm: 'fixed_window' });
  const first = await limiter.hit('1.2.3.4');
  expect(first).toBeInstanceOf(LimitResult);
  expect(Object.keys(first).sort()).toEqual(
    ['allowed', 'degraded', 'limit', 'remaining', 'resetAfterMs', 'retryAfterMs'].sort(),
  );
  expect(first).toMatchObject({ allowed: true, limit: 2, remaining: 1, retryAfterMs: 0, degraded: false });
  expect((await limiter.hit('1.2.3.4')).remaining).toBe(0);
  const third = await limiter.hit('1.2.3.4');
  expect(third.allowed).toBe(false);
  expect(third.retryAfterMs).toBeGreaterThan(0);
  expect(JSON.parse(JSON.stringify(third))).toEqual({ ...third });
  // Another key is independent.
  expect((await limiter.hit('5.6.7.8')).allowed).toBe(true);
  clock.advance(15 * 60 * 1000);
  expect((await limiter.hit('1.2.3.4')).allowed).toBe(true);
});

test('limiter options: rate string, windowMs, blockDuration, limiter properties', async () => {
  const a = rk.limiter('a', { rate: '5/15minutes' });
  expect([a.limit, a.windowMs, a.algorithm, a.onError]).toEqual([5, 900000, 'sliding_window', 'open']);
  const b = rk.limiter('b', { limit: 3, windowMs: 60000, algorithm: 'gcra', blockDuration: '1h' });
  expect([b.windowMs, b.blockDurationMs]).toEqual([60000, 3600000]);
  const c = rk.limiter('c', { limit: 1, window: 1.5, blockDuration: 30 });
  expect([c.windowMs, c.blockDurationMs]).toEqual([1500, 30000]);
  await c.hit('k');
  const rejected = await c.hit('k');
  expect(rejected.allowed).toBe(false);
  expect(rejected.retryAfterMs).toBe(30000);
  clock.advance(2000); // the window has passed but the block has not
  expect((await c.hit('k')).allowed).toBe(false);
});

test('cost, peek, refund, block and reset', async () => {
  const limiter = rk.limiter('ops', { limit: 10, window: 60, algorithm: 'fixed_window' });
  expect((await limiter.hit('u', { cost: 4 })).remaining).toBe(6);
  expect((await limiter.hit('u', 2)).remaining).toBe(4);
  expect((await limiter.peek('u')).remaining).toBe(4);
  expect((await limiter.peek('u')).remaining).toBe(4);
  expect((await limiter.refund('u', 3)).remaining).toBe(7);
  const blocked = await limiter.block('u', 120);
  expect(blocked.allowed).toBe(false);
  expect(blocked.retryAfterMs).toBe(120000);
  expect((await limiter.hit('u')).allowed).toBe(false);
  await expect(limiter.reset('u')).resolves.toBeUndefined();
  expect((await limiter.hit('u')).remaining).toBe(9);
});

test('Buffer and Uint8Array keys address the same state as the equal string', async () => {
  const limiter = rk.limiter('bytes', { limit: 3, window: 60, algorithm: 'fixed_window' });
  await limiter.hit('user-é');
  await limiter.hit(Buffer.from('user-é', 'utf8'));
  const r = await limiter.hit(new Uint8Array(Buffer.from('user-é', 'utf8')));
  expect(r.remaining).toBe(0);
  const binary = Buffer.from([0, 255, 10, 0]);
  expect((await limiter.hit(binary)).remaining).toBe(2);
});

test('limiters with different names or prefixes do not share state', async () => {
  const a = rk.limiter('one', { limit: 1, window: 60 });
  const b = rk.limiter('two', { limit: 1, window: 60 });
  await a.hit('k');
  expect((await b.hit('k')).allowed).toBe(true);
  expect((await a.hit('k')).allowed).toBe(false);
});

describe('headers', () => {
  async function results() {
    const limiter = rk.limiter('api', { limit: 2, window: 60, algorithm: 'fixed_window' });
    const allowed = await limiter.hit('ip');
    await limiter.hit('ip');
    const rejected = await limiter.hit('ip');
    return { allowed, rejected };
  }

  test('draft-7 (default) + legacy, with Retry-After only when rejected', async () => {
    const { allowed, rejected } = await results();
    const h = allowed.headers({ legacy: true });
    expect(h['RateLimit']).toBe(`limit=2, remaining=1, reset=${Math.ceil(allowed.resetAfterMs / 1000)}`);
    expect(h['RateLimit-Policy']).toBe('2;w=60');
    expect(h['X-RateLimit-Limit']).toBe('2');
    expect(h['X-RateLimit-Remaining']).toBe('1');
    // Legacy reset is an epoch instant taken from the injected clock.
    expect(Number(h['X-RateLimit-Reset'])).toBe(Math.ceil((START + allowed.resetAfterMs) / 1000));
    expect(h['Retry-After']).toBeUndefined();
    const r = rejected.headers({ standard: 'draft-7', legacy: true });
    expect(r['Retry-After']).toBe(String(Math.ceil(rejected.retryAfterMs / 1000)));
    expect(r['X-RateLimit-Remaining']).toBe('0');
    expect(Object.keys(allowed.headers())).toEqual(['RateLimit', 'RateLimit-Policy']);
  });

  test('draft-6', async () => {
    const { allowed } = await results();
    const h = allowed.headers({ standard: 'draft-6' });
    expect(h).toEqual({
      'RateLimit-Limit': '2',
      'RateLimit-Remaining': '1',
      'RateLimit-Reset': String(Math.ceil(allowed.resetAfterMs / 1000)),
      'RateLimit-Policy': '2;w=60',
    });
  });

  test('draft-8 names the policy', async () => {
    const { allowed } = await results();
    const h = allowed.headers({ standard: 'draft-8' });
    expect(h['RateLimit']).toBe(`"api"; r=1; t=${Math.ceil(allowed.resetAfterMs / 1000)}`);
    expect(h['RateLimit-Policy']).toBe('"api"; q=2; w=60');
  });

  test('no standard headers, legacy only', async () => {
    const { rejected } = await results();
    const h = rejected.headers({ standard: 'none', legacy: true });
    expect(Object.keys(h)).toEqual(['X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset', 'Retry-After']);
    expect(Object.keys(rejected.headers({ standard: false }))).toEqual(['Retry-After']);
  });

  test('renderHeaders gives the same headers as result.headers', async () => {
    const { rejected } = await results();
    const plain = { ...rejected };
    const options = { standard: 'draft-8', legacy: true, nowMs: clock.nowMs };
    expect(redkeeper.renderHeaders(plain, { name: 'api', limit: 2, windowMs: 60000 }, options)).toEqual(
      rejected.headers(options),
    );
  });
});

test('ManualClock moves only when told', () => {
  const c = new ManualClock(1000);
  expect(c.nowMs).toBe(1000);
  expect(c.advance(500).nowMs).toBe(1500);
  expect(c.set(42).nowMs).toBe(42);
});

test('ping, health and stats resolve', async () => {
  await expect(rk.ping()).resolves.toEqual(expect.any(Number));
  const health = await rk.health();
  expect(health).toMatchObject({ backend: 'memory', connected: true });
  const limiter = rk.limiter('s', { limit: 5, window: 60 });
  const before = (await rk.stats()).ops;
  await limiter.hit('a');
  await limiter.hit('b');
  const stats = await rk.stats();
  expect(stats.ops).toBeGreaterThanOrEqual(before + 2);
  expect(stats.keys).toBeGreaterThanOrEqual(2);
});

describe('close()', () => {
  test('every op after close rejects with ERR_RK_CLOSED; config calls throw it', async () => {
    const limiter = rk.limiter('c', { limit: 5, window: 60 });
    await limiter.hit('a');
    await rk.close();
    await rk.close(); // idempotent
    expect(rk.closed).toBe(true);
    for (const op of [
      () => limiter.hit('a'),
      () => limiter.hit('a', { cost: 2 }),
      () => limiter.hit(Buffer.from('a')),
      () => limiter.peek('a'),
      () => limiter.reset('a'),
      () => limiter.refund('a', 1),
      () => limiter.block('a', 5),
      () => rk.ping(),
    ]) {
      const p = op();
      expect(p).toBeInstanceOf(Promise);
      await expect(p).rejects.toMatchObject({ code: 'ERR_RK_CLOSED' });
      await expect(op()).rejects.toBeInstanceOf(RedkeeperError);
    }
    expect(() => rk.limiter('late', { limit: 1, window: 1 })).toThrow(
      expect.objectContaining({ code: 'ERR_RK_CLOSED' }),
    );
    expect((await rk.health()).connected).toBe(false);
  });
});

test('the ESM entry exports the same objects as named imports', () => {
  // jest runs CommonJS; a real `node` process checks the ESM entry the way users load it.
  const { execFileSync } = require('child_process');
  const script = [
    "import redkeeper, { connect, ManualClock, RedkeeperError } from 'redkeeper';",
    "import { createRequire } from 'module';",
    "const cjs = createRequire(import.meta.url)('redkeeper');",
    "const rk = connect('memory://', { clock: new ManualClock(0) });",
    "const r = await rk.limiter('esm', { limit: 1, window: 1 }).hit('k');",
    "await rk.close();",
    "console.log(JSON.stringify([redkeeper === cjs, connect === cjs.connect, RedkeeperError === cjs.RedkeeperError, r.allowed]));",
  ].join('\n');
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
    cwd: require('path').resolve(__dirname, '..', '..'),
    encoding: 'utf8',
  });
  expect(JSON.parse(out.trim())).toEqual([true, true, true, true]);
});

test('the package resolves by name to the same entry', () => {
  expect(require('redkeeper')).toBe(redkeeper);
});
