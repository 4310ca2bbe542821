// Redis Cluster from Node: the cluster/clusterRefreshMs options and stats counters, routing over
// every primary, cache and express-session store namespaces on each primary, exact admission
// across 4 processes x 64 callers, resharding a slot under traffic (MOVED and ASK) and killing a
// primary under traffic (failover). Killing/resharding tests start their own cluster.
'use strict';

const { fork } = require('child_process');
const crypto = require('crypto');
const path = require('path');
const { connect } = require('../..');
const { SessionStore } = require('../../node/express');
const { delay } = require('./helpers/redisServer');
const { startCluster, keySlot } = require('./helpers/redisCluster');
const { useRedisBackends } = require('./helpers/backends');
const { windowClearOfBoundary, watchStalls } = require('./helpers/timing');

jest.setTimeout(60000);

const backends = useRedisBackends();

const fresh = (tag = 'c') => `${tag}${crypto.randomBytes(5).toString('hex')}`;

// For each primary (lowest slot first), `perNode` ids whose hash slot it owns: a limiter id, a
// cache namespace or a session namespace is the hash tag of its keys.
async function idsOnEachPrimary(c, perNode = 1, tag = 'id') {
  const primaries = await c.primaries();
  const owner = new Map();
  for (const r of await c.topology()) if (r.role === 'master') for (const s of r.slots) owner.set(s, r.id);
  const out = primaries.map(() => []);
  for (let i = 0; out.some((ids) => ids.length < perNode); i++) {
    const id = `${tag}${crypto.randomBytes(3).toString('hex')}${i}`;
    const bucket = out[primaries.findIndex((p) => p.id === owner.get(keySlot(id)))];
    if (bucket.length < perNode) bucket.push(id);
  }
  return out;
}

describe('options and stats', () => {
  test.each([['yes'], [1], [null]])('cluster must be a boolean (%p)', (bad) => {
    expect(() => connect('memory://', { cluster: bad }))
      .toThrow(expect.objectContaining({ code: 'ERR_RK_INVALID_ARGUMENT', message: expect.stringContaining('cluster') }));
  });

  test.each([[-1], [1.5], [NaN], [Infinity], ['10'], [true]])('clusterRefreshMs must be an integer >= 0 (%p)', (bad) => {
    expect(() => connect('memory://', { clusterRefreshMs: bad }))
      .toThrow(expect.objectContaining({ code: 'ERR_RK_INVALID_ARGUMENT', message: expect.stringContaining('clusterRefreshMs') }));
  });

  test('clusterRefreshMs 0 is accepted; memory reports no cluster', async () => {
    const rk = connect('memory://', { cluster: false, clusterRefreshMs: 0 });
    const s = await rk.stats();
    expect([s.redirects, s.topologyRefreshes, s.nodes]).toEqual([0, 0, 0]);
    await rk.close();
  });

  test('a single server is one node', async () => {
    const rk = connect(backends.server.url);
    await rk.ping();
    const s = await rk.stats();
    expect([s.nodes, s.redirects]).toEqual([1, 0]);
    await rk.close();
  });

  test.each([
    ['redis+cluster://127.0.0.1:7000/2'],
    ['rediss+cluster://127.0.0.1:7000,127.0.0.1:99999'],
    ['redis+cluster://127.0.0.1:notaport'],
  ])('a bad cluster URL names the url (%s)', (url) => {
    expect(() => connect(url))
      .toThrow(expect.objectContaining({ code: 'ERR_RK_INVALID_ARGUMENT', message: expect.stringContaining('url') }));
  });
});

describe('on the shared cluster', () => {
  test('the limiter routes to every primary', async () => {
    const prefix = fresh('rt');
    const groups = await idsOnEachPrimary(backends.cluster, 3);
    const rk = connect(backends.cluster.url, { prefix });
    try {
      // fixed_window: counts from the first hit, so no epoch-aligned minute boundary mid-test
      // can take one unit off (routing is what is tested, not the algorithm).
      const limiter = rk.limiter('route', { limit: 5, window: 60, algorithm: 'fixed_window', onError: 'raise' });
      for (const ids of groups) {
        for (const id of ids) {
          expect((await limiter.hit(id)).remaining).toBe(4);
          expect((await limiter.hit(id, 2)).remaining).toBe(2);
        }
      }
      const s = await rk.stats();
      expect(s.nodes).toBe(3);
      expect(s.topologyRefreshes).toBeGreaterThanOrEqual(1);
      expect(s.errors).toBe(0);
      expect((await rk.health()).connected).toBe(true);
    } finally {
      await rk.close();
    }
    const primaries = await backends.cluster.primaries();
    for (const [i, ids] of groups.entries()) {
      const keys = await primaries[i].call(['KEYS', `${prefix}:*`]);
      expect(keys.sort()).toEqual(ids.map((id) => `${prefix}:limiter:route:{${id}}`).sort());
    }
  });

  test('memory:// with cluster: true is refused naming cluster', () => {
    expect(() => connect('memory://', { cluster: true })).toThrow(expect.objectContaining({ code: 'ERR_RK_INVALID_ARGUMENT' }));
    expect(() => connect('memory://', { cluster: true })).toThrow(/cluster/);
  });

  test('cluster: true makes a plain URL a seed', async () => {
    const prefix = fresh('seed');
    const groups = await idsOnEachPrimary(backends.cluster);
    const rk = connect(backends.cluster.seedUrl, { prefix, cluster: true, clusterRefreshMs: 0 });
    try {
      const limiter = rk.limiter('seed', { limit: 2, window: 60, onError: 'raise' });
      for (const [id] of groups) expect((await limiter.hit(id)).remaining).toBe(1);
      expect((await rk.stats()).nodes).toBe(3);
    } finally {
      await rk.close();
    }
    expect((await backends.cluster.keys(`${prefix}:*`)).length).toBe(3);
  });

  test('cache namespaces on every primary: deletePattern and clear', async () => {
    const prefix = fresh('ca');
    const namespaces = (await idsOnEachPrimary(backends.cluster, 1, 'ns')).map((ids) => ids[0]);
    const rk = connect(backends.cluster.url, { prefix });
    try {
      for (const ns of namespaces) {
        const c = rk.cache(ns);
        for (let i = 0; i < 30; i++) {
          await c.set(`user:${i}`, { i });
          await c.set(`order:${i}`, i);
        }
        expect(await c.getOrSet('loaded', async () => ({ v: 1 }))).toEqual({ v: 1 });
        expect(await c.deletePattern('user:*')).toBe(30);
        expect(await c.get('user:3')).toBeUndefined();
        expect(await c.get('order:3')).toBe(3);
        await c.clear();
        expect(await c.get('order:3')).toBeUndefined();
        expect(await c.get('loaded')).toBeUndefined();
      }
      expect((await rk.stats()).errors).toBe(0);
    } finally {
      await rk.close();
    }
    expect((await backends.cluster.keys(`${prefix}:*`)).filter((k) => k.includes(':v:user:'))).toEqual([]);
  });

  test('express-session store namespaces on every primary: set/get/length/ids/all/clear', async () => {
    const prefix = fresh('es');
    const namespaces = (await idsOnEachPrimary(backends.cluster, 1, 'sn')).map((ids) => ids[0]);
    const rk = connect(backends.cluster.url, { prefix });
    const cb = (fn) => new Promise((resolve, reject) => fn((err, v) => (err ? reject(err) : resolve(v))));
    try {
      for (const ns of namespaces) {
        const store = new SessionStore({ client: rk, name: ns, ttl: 60 });
        const sids = ['a', 'b', 'c'].map((x) => `${x}-${crypto.randomBytes(8).toString('hex')}`);
        for (const [i, sid] of sids.entries()) {
          await cb((done) => store.set(sid, { cookie: { maxAge: 60000 }, n: i, userId: 'ann' }, done));
        }
        expect((await cb((done) => store.get(sids[1], done))).n).toBe(1);
        expect(await cb((done) => store.length(done))).toBe(3);
        expect((await cb((done) => store.ids(done))).length).toBe(3);
        const all = await cb((done) => store.all(done));
        expect(all.map((e) => e.n).sort()).toEqual([0, 1, 2]);
        await cb((done) => store.destroy(sids[0], done));
        expect(await cb((done) => store.length(done))).toBe(2);
        await cb((done) => store.clear(done));
        expect(await cb((done) => store.length(done))).toBe(0);
        expect(await cb((done) => store.get(sids[2], done))).toBeFalsy();
      }
      expect((await rk.stats()).errors).toBe(0);
    } finally {
      await rk.close();
    }
  });

  test('hitMany with one id works; different ids are refused before sending', async () => {
    const rk = connect(backends.cluster.url, { prefix: fresh('hm') });
    try {
      const minute = rk.limiter('minute', { limit: 3, window: 60, onError: 'raise' });
      const hour = rk.limiter('hour', { limit: 10, window: 3600, onError: 'raise' });
      expect((await rk.hitMany([{ limiter: minute, key: '1.2.3.4' }, { limiter: hour, key: '1.2.3.4', cost: 2 }])).allowed).toBe(true);
      await expect(rk.hitMany([{ limiter: minute, key: '1.2.3.4' }, { limiter: hour, key: '5.6.7.8' }]))
        .rejects.toMatchObject({ code: 'ERR_RK_INVALID_ARGUMENT', message: expect.stringContaining('checks') });
    } finally {
      await rk.close();
    }
  });

  test('4 processes x 64 callers on one key of limit 1000 admit exactly 1000', async () => {
    const workers = Array.from({ length: 4 }, () =>
      fork(path.join(__dirname, 'helpers', 'hitWorker.js'), [backends.cluster.url], { stdio: 'inherit' }));
    const next = (w, type) => new Promise((resolve, reject) => {
      w.on('message', (m) => { if (m.type === type) resolve(m); });
      w.once('exit', (code) => reject(new Error(`worker exited (${code}) before ${type}`)));
    });
    try {
      await Promise.all(workers.map((w) => next(w, 'ready')));
      const job = {
        // A day or more, with no window boundary (a 1-day one is UTC midnight) within the next hour.
        type: 'run', name: fresh('conc'), algorithm: 'sliding_window', limit: 1000, windowMs: windowClearOfBoundary(86400000),
        key: 'one-key', callers: 64, attemptsPerCaller: 5,
      };
      const tallies = await Promise.all(workers.map((w) => {
        const p = next(w, 'tally');
        w.send(job);
        return p;
      }));
      const sum = tallies.reduce((a, { tally }) => ({
        admitted: a.admitted + tally.admitted,
        errors: a.errors.concat(tally.errors),
        degraded: a.degraded + tally.degraded,
      }), { admitted: 0, errors: [], degraded: 0 });
      expect(sum).toEqual({ admitted: 1000, errors: [], degraded: 0 });
    } finally {
      await Promise.all(workers.map((w) => new Promise((resolve) => {
        if (w.exitCode !== null) return resolve();
        const timer = setTimeout(() => w.kill('SIGKILL'), 5000);
        w.once('exit', () => { clearTimeout(timer); resolve(); });
        w.send({ type: 'exit' });
      })));
    }
  });
});

// One caller's loop: hits each id, then a cache write and read, until told to stop.
async function traffic(rk, ids, state, tally) {
  const limiter = rk.limiter('traffic', { limit: 1000000, window: 3600, algorithm: 'fixed_window', onError: 'raise' });
  const cache = rk.cache(ids[0]);
  while (!state.stop) {
    for (const id of ids) {
      try {
        await limiter.hit(id);
        tally.hits.set(id, (tally.hits.get(id) || 0) + 1);
        await cache.set(`k${id}`, id);
        expect(await cache.get(`k${id}`)).toBe(id);
      } catch (err) {
        tally.failures.push(String(err && err.code ? `${err.code}: ${err.message}` : err));
      }
    }
  }
}

test('reshard a slot under traffic: MOVED and ASK followed, no op fails, no hit lost or doubled', async () => {
  const own = await startCluster({ replicas: 0 });
  const rk = connect(own.url, { prefix: 'rs', commandTimeoutMs: 2000, clusterRefreshMs: 0 });
  try {
    const groups = await idsOnEachPrimary(own, 2);
    const ids = groups.flat();
    const slot = keySlot(groups[0][0]);
    const src = await own.primaryOf(slot);
    const dst = (await own.primaries())[1];
    const state = { stop: false };
    const tally = { hits: new Map(), failures: [] };
    const callers = Array.from({ length: 8 }, () => traffic(rk, ids, state, tally));
    await delay(300);
    await own.beginMigration(slot, src, dst);
    await own.migrateKeys(slot, src, dst);
    await delay(500); // half-migrated: clients get ASK for the moved keys
    await own.migrateKeys(slot, src, dst);
    await own.finishMigration(slot, src, dst);
    await delay(500); // migrated: clients get MOVED until they refresh
    state.stop = true;
    await Promise.all(callers);
    expect([...new Set(tally.failures)]).toEqual([]);
    const s = await rk.stats();
    expect(s.redirects).toBeGreaterThan(0);
    expect(s.errors).toBe(0);
    const check = rk.limiter('traffic', { limit: 1000000, window: 3600, algorithm: 'fixed_window' });
    for (const id of ids) expect([id, (await check.peek(id)).remaining]).toEqual([id, 1000000 - tally.hits.get(id)]);
    expect((await own.primaryOf(slot)).id).toBe(dst.id);
  } finally {
    await rk.close();
    await own.stop();
  }
});

test('kill a primary under traffic: ops settle within their timeout, then resume on the same client', async () => {
  const own = await startCluster();
  const timeoutMs = 500;
  const rk = connect(own.url, { prefix: 'fo', commandTimeoutMs: timeoutMs, connectTimeoutMs: 500 });
  const stalls = watchStalls();
  try {
    const groups = await idsOnEachPrimary(own, 2);
    const victim = groups[1];
    const open = rk.limiter('open', { limit: 1000000, window: 3600 });
    const raising = rk.limiter('raise', { limit: 1000000, window: 3600, onError: 'raise' });
    for (const g of groups) expect((await open.hit(g[0])).degraded).toBe(false);
    const outcomes = [];
    const durations = [];
    const state = { stop: false };
    const timed = async (op) => {
      const t0 = Date.now();
      try {
        outcomes.push(await op);
      } catch (err) {
        outcomes.push(err);
      }
      durations.push([t0, Date.now()]);
    };
    const caller = async () => {
      while (!state.stop) {
        for (const g of groups) await timed(open.hit(g[0]));
        await timed(raising.hit(victim[1]));
        await delay(10);
      }
    };
    const callers = Array.from({ length: 4 }, caller);
    await delay(300);
    const killedAt = Date.now();
    await own.killPrimaryOf(victim[0]);
    let recovered = null;
    while (Date.now() - killedAt < 15000) {
      if (!(await open.hit(victim[0])).degraded) {
        recovered = Date.now() - killedAt;
        break;
      }
      await delay(100);
    }
    state.stop = true;
    await Promise.all(callers);
    // Each op took at most its timeout plus scheduling slack, not counting time the whole process
    // was starved of CPU (seen by a worker thread; the JS thread's own delays are not excused).
    const starved = await stalls.stop();
    const slow = durations.map(([t0, t1]) => t1 - t0 - starved.overlap(t0, t1)).filter((took) => took > timeoutMs + 1000);
    expect(recovered).not.toBeNull();
    expect(recovered).toBeLessThan(10000);
    expect(slow).toEqual([]);
    expect(outcomes.some((o) => !(o instanceof Error) && o.degraded)).toBe(true);
    const errors = outcomes.filter((o) => o instanceof Error);
    expect(errors.length).toBeGreaterThan(0);
    for (const e of errors) expect(e.code).toMatch(/^ERR_RK_(CONNECTION|TIMEOUT|QUEUE_FULL)$/);
    expect((await raising.hit(victim[1])).allowed).toBe(true);
    for (const g of groups) expect((await open.hit(g[1])).degraded).toBe(false);
    expect((await rk.stats()).nodes).toBe(3);
  } finally {
    await stalls.stop();
    await rk.close();
    await own.stop();
  }
});
