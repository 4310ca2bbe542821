// rk.sessions from Node on memory:// (ManualClock), a private redis-server and a private Redis Cluster (short real TTLs):
// every op, idle/absolute expiry, the per-user index under concurrency, typed errors for bad input.
'use strict';

const { connect, ManualClock } = require('../..');
const { delay } = require('./helpers/redisServer');
const { useRedisBackends } = require('./helpers/backends');

const clients = [];
afterAll(() => Promise.all(clients.map((c) => c.close())));  // declared first: runs before the servers stop
const backends = useRedisBackends();

let n = 0;
function env(kind) {
  const prefix = `sn${process.pid}x${n++}`;
  if (kind === 'memory') {
    const clock = new ManualClock(1700000000000);
    const rk = connect('memory://', { clock, prefix });
    clients.push(rk);
    return { rk, advance: async (ms) => clock.advance(ms) };
  }
  const rk = connect(kind === 'cluster' ? backends.cluster.url : backends.server.url, { prefix, commandTimeoutMs: 5000 });
  clients.push(rk);
  return { rk, advance: (ms) => delay(ms) };
}

const ID = /^[A-Za-z0-9_-]{43}$/;

describe.each(['memory', 'redis', 'cluster'])('sessions on %s', (kind) => {
  test('create, get, update, destroy', async () => {
    const { rk } = env(kind);
    const s = rk.sessions;
    const id = await s.create({ cart: [1, 2], name: 'ann', ok: true }, { userId: 7, device: { ua: 'x' } });
    expect(id).toMatch(ID);
    expect(await s.get(id)).toEqual({ cart: [1, 2], name: 'ann', ok: true });
    expect(await s.update(id, { cart: [3], name: null, extra: { a: 1 } })).toBe(true);
    expect(await s.get(id)).toEqual({ cart: [3], ok: true, extra: { a: 1 } });
    const { data, meta } = await s.get(id, { withMeta: true });
    expect(data.cart).toEqual([3]);
    expect(meta.userId).toBe('7');
    expect(meta.device).toEqual({ ua: 'x' });
    expect(meta.handle).toHaveLength(43);
    expect(meta.expires).toBeGreaterThan(meta.lastSeen);
    expect(await s.count()).toBe(1);
    expect(await s.destroy(id)).toBe(true);
    expect(await s.destroy(id)).toBe(false);
    expect(await s.get(id)).toBeNull();
    expect(await s.info(id)).toBeNull();
    expect(await s.count()).toBe(0);
  });

  test('idle timeout slides on get and touch, absolute timeout caps it', async () => {
    const { rk, advance } = env(kind);
    // Real time on Redis: every duration x4, so each step keeps 600 ms (not 150 ms) of slack for a
    // stalled box before the idle or absolute deadline; memory:// keeps the exact fake-clock values.
    const u = kind === 'memory' ? 1 : 4;
    const s = rk.sessions.withOptions({ idleTimeoutMs: 400 * u, absoluteTimeoutMs: 900 * u });
    const id = await s.create({ k: 1 }, { userId: 'idle' });
    await advance(250 * u);
    expect(await s.get(id)).toEqual({ k: 1 });
    await advance(250 * u);
    expect(await s.touch(id)).toBe(true);  // past the first idle deadline: the get slid it
    await advance(250 * u);
    expect(await s.get(id, { touch: false })).toEqual({ k: 1 });  // past the get's: the touch slid it
    const meta = await s.info(id);
    expect(meta.expires).toBe(meta.absoluteDeadline);  // 750 + 400 capped at 900 (all x u)
    await advance(200 * u);
    expect(await s.get(id)).toBeNull();
    expect(await s.listUser('idle')).toEqual([]);
  });

  test('per-session ttl, touch with a new ttl', async () => {
    const { rk, advance } = env(kind);
    const s = rk.sessions;
    const short = await s.create({}, { ttlMs: 200 });
    const long = await s.create({}, { ttlMs: '1m' });
    await advance(300);
    expect(await s.get(short)).toBeNull();
    expect(await s.get(long)).toEqual({});
    expect(await s.touch(long, { ttlMs: 200 })).toBe(true);
    await advance(300);
    expect(await s.get(long)).toBeNull();
  });

  test('listUser, destroyHandle, destroyUser with exceptId', async () => {
    const { rk } = env(kind);
    const s = rk.sessions;
    const a = await s.create({}, { userId: 'u1', device: 'phone' });
    const b = await s.create({}, { userId: 'u1', device: 'laptop' });
    const c = await s.create({}, { userId: 'u1' });
    const other = await s.create({}, { userId: 'u2' });
    const list = await s.listUser('u1', { currentId: b });
    expect(list.map((e) => e.device).sort()).toEqual(['laptop', 'phone', null].sort());
    expect(list.filter((e) => e.current).map((e) => e.device)).toEqual(['laptop']);
    const phone = list.find((e) => e.device === 'phone');
    expect(await s.destroyHandle('u2', phone.handle)).toBe(false);
    expect(await s.destroyHandle('u1', phone.handle)).toBe(true);
    expect(await s.get(a)).toBeNull();
    expect(await s.destroyUser('u1', { exceptId: b })).toBe(1);
    expect(await s.get(c)).toBeNull();
    expect(await s.get(b)).toEqual({});
    expect(await s.get(other)).toEqual({});
    expect(await s.destroyUser(42)).toBe(0);
    expect(await s.count()).toBe(2);
  });

  test('rotate moves the session to a new id', async () => {
    const { rk } = env(kind);
    const s = rk.sessions;
    const old = await s.create({ cart: [9] }, { userId: 'r', device: 'tab' });
    const fresh = await s.rotate(old);
    expect(fresh).toMatch(ID);
    expect(fresh).not.toBe(old);
    expect(await s.get(old)).toBeNull();
    expect(await s.get(fresh)).toEqual({ cart: [9] });
    expect((await s.listUser('r', { currentId: fresh })).map((e) => e.current)).toEqual([true]);
    expect(await s.rotate(old)).toBeNull();
  });

  test('set/ids/all/clear with external ids', async () => {
    const { rk } = env(kind);
    const s = rk.sessions.withOptions({ name: 'ext' });
    expect(await s.set('sid-1', { a: 1 }, { ttlMs: 60000 })).toBe(true);
    expect(await s.set('sid-2', { b: 2 })).toBe(true);
    expect(await s.set('sid-1', { a: 3 })).toBe(true);
    expect(await s.get('sid-1')).toEqual({ a: 3 });
    expect((await s.ids()).length).toBe(2);
    expect((await s.all()).map((e) => e.data)).toEqual(expect.arrayContaining([{ a: 3 }, { b: 2 }]));
    expect(await rk.sessions.count()).toBe(0);  // another namespace
    expect(await s.clear()).toBe(2);
    expect(await s.count()).toBe(0);
  });

  test('parallel create and destroyUser leave no orphaned index entries', async () => {
    const { rk } = env(kind);
    const s = rk.sessions;
    const ops = [];
    for (let w = 0; w < 9; w++) {
      for (let i = 0; i < 30; i++) {
        const user = `cu${i % 3}`;
        ops.push(w % 3 === 2 ? s.destroyUser(user) : s.create({ i }, { userId: user }));
      }
    }
    await Promise.all(ops);
    let listed = 0;
    for (let u = 0; u < 3; u++) listed += (await s.listUser(`cu${u}`)).length;
    expect(await s.count()).toBe(listed);
    let destroyed = 0;
    for (let u = 0; u < 3; u++) destroyed += await s.destroyUser(`cu${u}`);
    expect(destroyed).toBe(listed);
    expect(await s.count()).toBe(0);
  });

  test.each([
    ['data not an object', (s) => s.create('nope')],
    ['data an array', (s) => s.create([1])],
    ['negative ttl', (s) => s.create({}, { ttlMs: -1 })],
    ['bad duration string', (s) => s.create({}, { ttlMs: 'soon' })],
    ['empty user', (s) => s.create({}, { userId: '' })],
    ['boolean user', (s) => s.create({}, { userId: true })],
    ['numeric id', (s) => s.get(12)],
    ['missing id', (s) => s.get()],
    ['huge id', (s) => s.get('x'.repeat(5000))],
    ['patch not an object', (s) => s.update('x', 'p')],
    ['fractional user', (s) => s.listUser(1.5)],
    ['options not an object', (s) => s.get('x', 'opts')],
  ])('%s is ERR_RK_INVALID_ARGUMENT', async (_name, op) => {
    const { rk } = env(kind);
    await expect(op(rk.sessions)).rejects.toMatchObject({ code: 'ERR_RK_INVALID_ARGUMENT' });
  });

  test('bad options throw typed errors', () => {
    const { rk } = env(kind);
    expect(() => rk.sessions.withOptions({ idleTimeoutMs: 0 })).toThrow(expect.objectContaining({ code: 'ERR_RK_INVALID_ARGUMENT' }));
    expect(() => rk.sessions.withOptions({ name: 'a{b}' })).toThrow(expect.objectContaining({ code: 'ERR_RK_INVALID_ARGUMENT' }));
    expect(() => rk.sessions.withOptions({ bogus: 1 })).toThrow(expect.objectContaining({ code: 'ERR_RK_INVALID_ARGUMENT' }));
  });
});
