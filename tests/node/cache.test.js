// rk.cache(namespace): every op on memory:// (ManualClock), a private redis-server and a cluster; getOrSet's
// single flight in process, across clients and across 4 processes; loader errors; the store
// failing (falls through to the loader); bad input.
'use strict';

const { spawn } = require('child_process');
const path = require('path');
const crypto = require('crypto');
const redkeeper = require('../..');
const { freePort } = require('./helpers/redisServer');
const { useRedisBackends } = require('./helpers/backends');
const { eventually } = require('./helpers/timing');

const { connect, ManualClock } = redkeeper;
const ROOT = path.join(__dirname, '..', '..');

jest.setTimeout(60000);

const backends = useRedisBackends();

const fresh = () => `t-${crypto.randomBytes(6).toString('hex')}`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

describe.each(['memory', 'redis', 'cluster'])('cache on %s', (backend) => {
  let rk;
  let clock;
  const clients = [];
  beforeEach(() => {
    clock = new ManualClock(1700000000000);
    if (backend === 'memory') rk = connect('memory://', { clock });
    else rk = connect(backend === 'cluster' ? backends.cluster.url : backends.server.url);
  });
  afterEach(async () => {
    await rk.close();
    await Promise.all(clients.splice(0).map((c) => c.close()));
  });
  // Stored TTLs run out: the fake clock on memory, real time on Redis.
  const pass = async (ms) => { if (backend === 'memory') clock.advance(ms); else await sleep(ms); };
  // On Redis a value must still be there after a few round trips of real time: TTLs and waits are
  // x4 there (a stalled box gets 600-800 ms, not 150-200 ms); memory:// keeps the exact values.
  const u = backend === 'memory' ? 1 : 4;

  test('JSON and Buffer values round-trip; misses are undefined', async () => {
    const c = rk.cache(fresh());
    expect(await c.get('missing')).toBeUndefined();
    const doc = { a: 1, b: [1.5, 'x', null, true], u: 'h\u00e9' };
    await c.set('doc', doc);
    expect(await c.get('doc')).toEqual(doc);
    const raw = Buffer.from([0, 255, 106, 123, 98, 1]);
    await c.set('raw', raw);
    const got = await c.get('raw');
    expect(Buffer.isBuffer(got)).toBe(true);
    expect(got.equals(raw)).toBe(true);
    await c.set('s', '42');
    expect(await c.get('s')).toBe('42');
    expect(await c.delete('doc')).toBe(true);
    expect(await c.delete('doc')).toBe(false);
    expect(await c.get('doc')).toBeUndefined();
  });

  test('TTLs: per value, the default, and duration strings', async () => {
    const c = rk.cache(fresh(), { ttlMs: 300 * u });
    await c.set('short', 1, 100 * u);
    await c.set('default', 2);
    await c.set('long', 3, { ttlMs: '1h' });
    await pass(150 * u);
    expect(await c.get('short')).toBeUndefined();
    expect(await c.get('default')).toBe(2);
    await pass(200 * u);
    expect(await c.get('default')).toBeUndefined();
    expect(await c.get('long')).toBe(3);
  });

  test('counters get their TTL when created', async () => {
    const c = rk.cache(fresh());
    expect(await c.incr('views', 1, { ttlMs: 200 * u })).toBe(1);
    expect(await c.incr('views', 5)).toBe(6);
    expect(await c.decr('views', 2)).toBe(4);
    expect(await c.get('views')).toBe(4);
    await pass(250 * u);
    expect(await c.get('views')).toBeUndefined();
    await c.set('doc', { a: 1 });
    await expect(c.incr('doc')).rejects.toMatchObject({ code: 'ERR_RK_INVALID_ARGUMENT' });
  });

  test('tags, deletePattern and clear', async () => {
    const ns = fresh();
    const c = rk.cache(ns);
    await c.set('u1', 1, { tags: ['users', 'g1'] });
    await c.set('u2', 2, { tags: ['users'] });
    await c.set('p1', 3, { tags: ['posts'] });
    expect(await c.invalidateTag('users')).toBe(2);
    expect(await c.get('u1')).toBeUndefined();
    expect(await c.get('p1')).toBe(3);
    for (let i = 0; i < 25; i++) await c.set(`user:${i}`, i);
    const neighbour = rk.cache(`${ns}x`);
    await neighbour.set('user:1', 'n');
    expect(await c.deletePattern('user:*')).toBe(25);
    expect(await c.get('user:2')).toBeUndefined();
    expect(await neighbour.get('user:1')).toBe('n');
    await c.clear();
    expect(await c.get('p1')).toBeUndefined();
    await c.set('p1', 'again');
    expect(await rk.cache(ns).get('p1')).toBe('again');
  });

  test('stats count hits and misses of get and getOrSet', async () => {
    const c = rk.cache(fresh());
    await c.set('k', 1);
    for (let i = 0; i < 3; i++) await c.get('k');
    await c.get('nope');
    await c.getOrSet('k', () => 2);
    await c.getOrSet('other', () => 2);
    const s = await c.stats();
    expect(s).toMatchObject({ hits: 4, misses: 2, sets: 2 });
    expect(s.hitRatio).toBeCloseTo(4 / 6);
  });

  test('bad input rejects with ERR_RK_INVALID_ARGUMENT naming the parameter', async () => {
    const c = rk.cache(fresh(), { maxValueBytes: 64 });
    const bad = (re) => expect.objectContaining({ code: 'ERR_RK_INVALID_ARGUMENT', message: expect.stringMatching(re) });
    await expect(c.get('')).rejects.toEqual(bad(/key/));
    await expect(c.get(5)).rejects.toEqual(bad(/key/));
    await expect(c.get('k'.repeat(2000))).rejects.toEqual(bad(/key/));
    await expect(c.set('k', 1, -1)).rejects.toEqual(bad(/ttlMs/));
    await expect(c.set('k', 1, { ttlMs: 0 })).rejects.toEqual(bad(/ttlMs/));
    await expect(c.set('k', 1, { ttlMs: NaN })).rejects.toEqual(bad(/ttlMs/));
    await expect(c.set('k', 'x'.repeat(100))).rejects.toEqual(bad(/value/));
    await expect(c.set('k', undefined)).rejects.toEqual(bad(/value/));
    await expect(c.set('k', { f: () => 1 })).rejects.toMatchObject({ code: 'ERR_RK_INVALID_ARGUMENT' });
    await expect(c.set('k', { x: Infinity })).rejects.toMatchObject({ code: 'ERR_RK_INVALID_ARGUMENT' });
    await expect(c.set('k', 1, { tags: 't' })).rejects.toEqual(bad(/tags/));
    await expect(c.incr('k', 1.5)).rejects.toEqual(bad(/by/));
    await expect(c.getOrSet('k', 5)).rejects.toEqual(bad(/loader/));
    await expect(c.getOrSet('k', () => 1, { ttlMs: -2 })).rejects.toEqual(bad(/ttlMs/));
    expect(await c.get('k')).toBeUndefined();
    expect(() => rk.cache('')).toThrow(/namespace/);
    expect(() => rk.cache('a{b}')).toThrow(/namespace/);
    expect(() => rk.cache('a', { ttlMs: -1 })).toThrow(/ttlMs/);
    expect(() => rk.cache('a', { bogus: 1 })).toThrow(/bogus/);
  });

  test('getOrSet: 50 concurrent misses in process run the loader once', async () => {
    const c = rk.cache(fresh());
    let runs = 0;
    const loader = async () => { runs++; await sleep(50); return { v: 1 }; };
    const results = await Promise.all(Array.from({ length: 50 }, () => c.getOrSet('hot', loader, 30000)));
    expect(runs).toBe(1);
    for (const r of results) expect(r).toEqual({ v: 1 });
    expect(await c.getOrSet('hot', loader)).toEqual({ v: 1 });
    expect(runs).toBe(1);
  });

  test('getOrSet: a loader rejection reaches every waiter and is not cached', async () => {
    const c = rk.cache(fresh());
    const boom = new Error('db down');
    const failing = async () => { await sleep(50); throw boom; };
    const results = await Promise.allSettled(Array.from({ length: 10 }, () => c.getOrSet('k', failing)));
    for (const r of results) expect(r).toEqual({ status: 'rejected', reason: boom });
    expect(await c.get('k')).toBeUndefined();
    expect(await c.getOrSet('k', () => 'ok')).toBe('ok');
  });

  test('getOrSet: a loader resolving undefined caches nothing', async () => {
    const c = rk.cache(fresh());
    expect(await c.getOrSet('k', () => undefined)).toBeUndefined();
    expect(await c.getOrSet('k', () => 3)).toBe(3);
  });

  test('withOptions keeps the namespace', () => {
    const c = rk.cache('n1', { ttlMs: 1000 });
    const d = c.withOptions({ ttlMs: 5 });
    expect(d.namespace).toBe('n1');
    expect(() => c.withOptions({ nope: 1 })).toThrow(/nope/);
  });
});

describe('cache on redis across clients and processes', () => {
  test('a loader failure in another client rejects with ERR_RK_LOADER_FAILED and its message', async () => {
    const a = connect(backends.server.url);
    const b = connect(backends.server.url);
    await Promise.all([a.ping(), b.ping()]);  // both connected: b's claim goes out at once
    const ns = fresh();
    // a's loader fails only once b waits on the namespace channel (rk:cache:{ns}:ch, see
    // core/src/cache/README.md): b subscribes after its claim saw a's marker and sends its re-check
    // before the subscription (on a new connection) is live. A fixed sleep raced that: under load b
    // could subscribe after the failure, find no marker, claim itself and resolve 'never'.
    const subscribed = () => eventually(async () => {
      const reply = await backends.server.call(['PUBSUB', 'NUMSUB', `rk:cache:{${ns}}:ch`]);
      return Number(reply[1]) >= 1;
    }, 5000);
    let started;
    const began = new Promise((r) => { started = r; });
    const first = a.cache(ns).getOrSet('k', async () => { started(); await subscribed(); throw new TypeError('row 7'); });
    // Handled from the start: `first` may reject before b's call settles (whichever of a's reply and
    // b's wake-up comes first), and an unhandled rejection would fail the test.
    const firstOutcome = first.then(() => 'resolved', (err) => err);
    await began;
    await expect(b.cache(ns).getOrSet('k', () => 'never')).rejects.toMatchObject({
      code: 'ERR_RK_LOADER_FAILED', message: expect.stringMatching(/row 7/),
    });
    expect(await firstOutcome).toBeInstanceOf(TypeError);
    expect(await b.cache(ns).get('k')).toBeUndefined();
    await a.close();
    await b.close();
  });

  test('the store being down falls through to the loader; get rejects', async () => {
    const port = await freePort();
    const dead = connect(`redis://127.0.0.1:${port}`, { commandTimeoutMs: 200, connectTimeoutMs: 200 });
    const c = dead.cache('ns');
    expect(await c.getOrSet('k', () => ({ fresh: true }))).toEqual({ fresh: true });
    await expect(c.get('k')).rejects.toMatchObject({ code: expect.stringMatching(/ERR_RK_(CONNECTION|TIMEOUT)/) });
    await dead.close();
  });

  const WORKER = `
    const rk = require(process.argv[1]).connect(process.argv[2]);
    const ns = process.argv[3];
    const startAt = Number(process.argv[4]);
    const callers = Number(process.argv[5]);
    const cache = rk.cache(ns, { lockTimeoutMs: 20000 });
    const runs = rk.cache(ns + '-runs');
    const loader = async () => { await runs.incr('loader'); await new Promise((r) => setTimeout(r, 500)); return { loaded: true }; };
    setTimeout(async () => {
      // Separate Cache objects per caller: the in-process flight is per client+namespace anyway.
      const out = await Promise.all(Array.from({ length: callers }, () => rk.cache(ns, { lockTimeoutMs: 20000 }).getOrSet('hot', loader, 60000)));
      const ok = out.every((v) => v && v.loaded === true);
      await rk.close();
      process.stdout.write(JSON.stringify({ ok, n: out.length }));
    }, Math.max(0, startAt - Date.now()));
  `;

  test('50 concurrent getOrSet misses across 4 processes run the loader exactly once', async () => {
    const ns = fresh();
    const startAt = Date.now() + 1500;
    const runOne = (n) => new Promise((resolve, reject) => {
      const p = spawn(process.execPath, ['-e', WORKER, ROOT, backends.server.url, ns, String(startAt), String(n)],
        { env: process.env, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      p.stdout.on('data', (d) => { out += d; });
      p.stderr.on('data', (d) => { err += d; });
      p.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(err))));
    });
    const results = await Promise.all([13, 13, 12, 12].map(runOne));
    expect(results.every((r) => r.ok)).toBe(true);
    expect(results.reduce((s, r) => s + r.n, 0)).toBe(50);
    const rk = connect(backends.server.url);
    expect(await rk.cache(`${ns}-runs`).get('loader')).toBe(1);
    await rk.close();
  });
});
