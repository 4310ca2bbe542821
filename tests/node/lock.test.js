// rk.lock(name): acquire/release/extend, not-owner, waits woken without polling, timeouts,
// auto-renewal, loss (lost, signal, 'lost', onLost, using() rejecting), fencing under contention
// (in process and across 4 processes) and after a pause longer than the TTL, bad input, store down;
// on memory://, a private redis-server and a private Redis Cluster.
'use strict';

const { spawn } = require('child_process');
const path = require('path');
const crypto = require('crypto');
const redkeeper = require('../..');
const { startRedis } = require('./helpers/redisServer');
const { useRedisBackends } = require('./helpers/backends');

const { connect, RedkeeperError } = redkeeper;
const ROOT = path.join(__dirname, '..', '..');

jest.setTimeout(60000);

const backends = useRedisBackends();

const fresh = () => `lk-${crypto.randomBytes(6).toString('hex')}`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const code = async (promise) => {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(RedkeeperError);
    return err.code;
  }
  throw new Error('expected a rejection');
};

// Scripts the store ran so far; on a cluster the sum over its primaries (a lock lives on one).
async function scriptCalls(backend) {
  const nodes = backend === 'cluster' ? await backends.cluster.primaries() : [backends.server];
  let total = 0;
  for (const node of nodes) {
    const text = String(await node.call(['INFO', 'commandstats']));
    for (const line of text.split(/\r?\n/)) {
      if (line.startsWith('cmdstat_evalsha:') || line.startsWith('cmdstat_eval:')) {
        total += Number(/calls=(\d+)/.exec(line)[1]);
      }
    }
  }
  return total;
}

describe.each(['memory', 'redis', 'cluster'])('lock on %s', (backend) => {
  let rk;
  beforeEach(() => {
    rk = connect(backends.url(backend));
  });
  afterEach(async () => { await rk.close(); });

  test('acquire resolves to a fencing token; release, extend, locked, state', async () => {
    const name = fresh();
    const lk = rk.lock(name, { ttlMs: 5000 });
    expect(lk.fencingToken).toBeUndefined();
    expect(lk.held).toBe(false);
    const fence = await lk.acquire();
    expect(Number.isSafeInteger(fence)).toBe(true);
    expect(fence).toBe(lk.fencingToken);
    expect(lk.owner).toMatch(/^[0-9a-f]{32}$/);
    expect(lk.held).toBe(true);
    expect(await lk.locked()).toBe(true);
    const st = await lk.state();
    expect(st).toMatchObject({ state: 'held', held: true, lost: false, fencingToken: fence, owner: lk.owner });
    expect(st.validForMs).toBeGreaterThan(4000);
    await lk.extend(60000);
    expect((await lk.state()).validForMs).toBeGreaterThan(50000);
    await lk.extend('2m');
    expect((await lk.state()).validForMs).toBeGreaterThan(110000);
    await lk.release();
    expect(lk.held).toBe(false);
    expect(await lk.locked()).toBe(false);
    const other = rk.lock(name);
    expect(await other.acquire()).toBe(fence + 1);
    await other.release();
  });

  test('a second holder is refused; release and extend only by the owner', async () => {
    const name = fresh();
    const a = rk.lock(name);
    const b = rk.lock(name, { waitMs: 0 });
    expect(await code(a.release())).toBe('ERR_RK_LOCK_NOT_OWNER');
    expect(await code(a.extend(1000))).toBe('ERR_RK_LOCK_NOT_OWNER');
    await a.acquire();
    expect(await code(b.acquire())).toBe('ERR_RK_LOCK_NOT_ACQUIRED');
    expect(await code(b.release())).toBe('ERR_RK_LOCK_NOT_OWNER');
    expect(await code(b.release({ owner: '0'.repeat(32) }))).toBe('ERR_RK_LOCK_NOT_OWNER');
    expect(await code(b.extend())).toBe('ERR_RK_LOCK_NOT_OWNER');
    expect(await code(a.acquire())).toBe('ERR_RK_INVALID_ARGUMENT'); // one holding per Lock
    await b.release({ owner: a.owner }); // by owner token: allowed
    await b.acquire();
    await b.release();
  });

  test('using() releases after fn, also when fn throws, and passes the lock', async () => {
    const name = fresh();
    const out = await rk.lock(name).using(async (lk) => {
      expect(lk.held).toBe(true);
      expect(await code(rk.lock(name, { waitMs: 0 }).acquire())).toBe('ERR_RK_LOCK_NOT_ACQUIRED');
      return 42;
    });
    expect(out).toBe(42);
    expect(await rk.lock(name).locked()).toBe(false);
    const boom = new Error('boom');
    await expect(rk.lock(name).using(async () => { throw boom; })).rejects.toBe(boom);
    expect(await rk.lock(name).locked()).toBe(false);
    await expect(rk.lock(name).using('nope')).rejects.toMatchObject({ code: 'ERR_RK_INVALID_ARGUMENT' });
  });

  test('a waiter is woken by the release, without polling', async () => {
    const name = fresh();
    const holder = rk.lock(name, { ttlMs: 20000 });
    await holder.acquire();
    const before = backend !== 'memory' ? await scriptCalls(backend) : 0;
    const t0 = Date.now();
    let settled = false;
    const waiting = rk.lock(name, { waitMs: 10000 }).acquire().finally(() => { settled = true; });
    await sleep(1500);
    expect(settled).toBe(false);
    if (backend !== 'memory') {
      // first look, the look after subscribing, one more when the subscription is confirmed
      expect((await scriptCalls(backend)) - before).toBeLessThanOrEqual(5); // + this INFO's own client
    }
    const released = Date.now();
    await holder.release();
    const fence = await waiting;
    const took = Date.now() - t0;
    expect(fence).toBe(holder.fencingToken + 1);
    expect(took).toBeGreaterThanOrEqual(1490);
    // Woken by the release: its other wake-ups, waitMs and the 20 s lease, are >= 8.5 s after it.
    // (Timed from the release, so an overlong sleep(1500) on a busy box does not count.)
    expect(Date.now() - released).toBeLessThan(3000);
  });

  test('the wait gives up after waitMs', async () => {
    const name = fresh();
    const holder = rk.lock(name, { ttlMs: 20000 });
    await holder.acquire();
    const t0 = Date.now();
    const err = await rk.lock(name, { waitMs: 400 }).acquire().catch((e) => e);
    expect(err.code).toBe('ERR_RK_LOCK_NOT_ACQUIRED');
    expect(err.message).toMatch(/held by another owner/);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(390);
    // Gives up at waitMs, not at the 20 s lease or the default 10 s wait (slack for a busy box).
    expect(Date.now() - t0).toBeLessThan(2500);
    expect(await code(rk.lock(name).acquire({ waitMs: '100ms' }))).toBe('ERR_RK_LOCK_NOT_ACQUIRED');
    await holder.release();
  });

  test('auto-renewal keeps the lock past its ttl', async () => {
    const name = fresh();
    // Renewed every ttl/3: a renewal may take ~650 ms before the lease runs out (with ttl 300 a
    // 200 ms stall lost the lock). Held past 3 x ttl: takes many renewals, not one or two.
    await rk.lock(name, { ttlMs: 1000 }).using(async (lk) => {
      await sleep(3100);
      expect(lk.held).toBe(true);
      expect(lk.lost).toBe(false);
      expect(lk.signal.aborted).toBe(false);
      expect(await code(rk.lock(name, { waitMs: 0 }).acquire())).toBe('ERR_RK_LOCK_NOT_ACQUIRED');
    });
  });

  test('without renewal the holder learns it lost the lock: lost, signal, event, onLost, using() rejects', async () => {
    const name = fresh();
    const seen = [];
    const lk = rk.lock(name, { ttlMs: 300, autoRenew: false, onLost: (l, err) => seen.push(['onLost', l === lk, err.code]) });
    lk.on('lost', (err) => seen.push(['event', err.code]));
    let fnError;
    const err = await lk.using(async (l) => {
      await new Promise((resolve) => l.signal.addEventListener('abort', resolve));
      expect(l.lost).toBe(true);
      expect(l.held).toBe(false);
      expect(l.signal.reason.code).toBe('ERR_RK_LOCK_LOST');
      fnError = new Error('aborted work');
      throw fnError;
    }).catch((e) => e);
    expect(err.code).toBe('ERR_RK_LOCK_LOST');
    expect(err.cause).toBe(fnError);
    expect(seen).toEqual([['event', 'ERR_RK_LOCK_LOST'], ['onLost', true, 'ERR_RK_LOCK_LOST']]);
    expect(await code(lk.extend())).toBe('ERR_RK_LOCK_LOST'); // stays lost until the next acquire
    // The Lock can take it again, with a fresh signal.
    await lk.acquire();
    expect(lk.lost).toBe(false);
    expect(lk.signal.aborted).toBe(false);
    await lk.release();
  });

  test('renewal notices a takeover', async () => {
    const name = fresh();
    const lk = rk.lock(name, { ttlMs: 600 });
    await lk.acquire();
    const lost = new Promise((resolve) => lk.once('lost', resolve));
    await rk.lock(name).release({ owner: lk.owner }); // the key vanishes (operator, flush, failover)
    const thief = rk.lock(name, { waitMs: 0 });
    await thief.acquire();
    await lost; // the next renewal (~200 ms) finds another owner
    expect(lk.lost).toBe(true);
    // Its signal, first read only now, is already aborted with the loss.
    expect(lk.signal.aborted).toBe(true);
    expect(lk.signal.reason.code).toBe('ERR_RK_LOCK_LOST');
    expect(await code(lk.release())).toBe('ERR_RK_LOCK_LOST');
    expect((await thief.state()).held).toBe(true); // the loser's release did not free it
    await thief.release();
  });

  test('contending holders never overlap and fences only grow', async () => {
    const name = fresh();
    let inside = 0;
    let maxInside = 0;
    const sections = [];
    const worker = async () => {
      for (let i = 0; i < 10; i++) {
        await rk.lock(name, { ttlMs: 2000, waitMs: 20000 }).using(async (lk) => {
          inside += 1;
          maxInside = Math.max(maxInside, inside);
          const start = performance.now();
          await sleep(1);
          const held = lk.held;
          const end = performance.now();
          inside -= 1;
          if (held) sections.push({ fence: lk.fencingToken, start, end });
        });
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    expect(maxInside).toBe(1);
    expect(sections.length).toBe(80);
    sections.sort((a, b) => a.start - b.start);
    for (let i = 1; i < sections.length; i++) {
      expect(sections[i - 1].end).toBeLessThanOrEqual(sections[i].start);
      expect(sections[i].fence).toBeGreaterThan(sections[i - 1].fence);
    }
  });

  test('a holder paused past its lease is fenced off', async () => {
    const name = fresh();
    let resourceFence = 0;
    const write = (fence) => {
      if (fence <= resourceFence) return false;
      resourceFence = fence;
      return true;
    };
    const a = rk.lock(name, { ttlMs: 300, autoRenew: false });
    const fa = await a.acquire();
    await sleep(600); // "paused" past the lease
    const b = rk.lock(name, { waitMs: 5000 });
    const fb = await b.acquire();
    expect(fb).toBeGreaterThan(fa);
    expect(write(fb)).toBe(true);
    expect(a.lost).toBe(true);
    expect(a.held).toBe(false);
    expect(write(fa)).toBe(false);
    expect(await code(a.release())).toBe('ERR_RK_LOCK_LOST');
    expect(b.held).toBe(true);
    await b.release();
  });

  test('bad input is ERR_RK_INVALID_ARGUMENT naming the option', async () => {
    const bad = [
      [() => rk.lock(''), 'name'],
      [() => rk.lock(5), 'name'],
      [() => rk.lock('x'.repeat(2000)), 'name'],
      [() => rk.lock('x', { ttlMs: -1 }), 'ttlMs'],
      [() => rk.lock('x', { ttlMs: 0 }), 'ttlMs'],
      [() => rk.lock('x', { ttlMs: NaN }), 'ttlMs'],
      [() => rk.lock('x', { ttlMs: 'soon' }), 'ttl_ms'],
      [() => rk.lock('x', { waitMs: -1 }), 'waitMs'],
      [() => rk.lock('x', { autoRenew: 'yes' }), 'autoRenew'],
      [() => rk.lock('x', { ttlMs: 100, renewIntervalMs: 200 }), 'renew_interval_ms'],
      [() => rk.lock('x', { onLost: 5 }), 'onLost'],
      [() => rk.lock('x', { tll: 5 }), 'tll'],
      [() => rk.lock('x', 'ttl'), 'options'],
    ];
    for (const [make, param] of bad) {
      let err;
      try { make(); } catch (e) { err = e; }
      expect(err).toBeInstanceOf(RedkeeperError);
      expect(err.code).toBe('ERR_RK_INVALID_ARGUMENT');
      expect(err.message.startsWith(`${param}:`)).toBe(true);
    }
    const lk = rk.lock(fresh());
    expect(await code(lk.acquire({ ttlMs: -3 }))).toBe('ERR_RK_INVALID_ARGUMENT');
    expect(await code(lk.release({ owner: 7 }))).toBe('ERR_RK_INVALID_ARGUMENT');
    await lk.acquire();
    expect(await code(lk.extend(-1))).toBe('ERR_RK_INVALID_ARGUMENT');
    await lk.release();
  });

  test('withOptions returns a new Lock for the same name', async () => {
    const lk = rk.lock(fresh(), { ttlMs: 5000 });
    const other = lk.withOptions({ waitMs: 0 });
    expect(other).not.toBe(lk);
    expect(other.name).toBe(lk.name);
    await lk.acquire();
    expect(await code(other.acquire())).toBe('ERR_RK_LOCK_NOT_ACQUIRED');
    await lk.release();
  });
});

const CONTENDER = `
const redkeeper = require(process.argv[1]);
const [url, name, rounds, startAt] = process.argv.slice(2);
(async () => {
  const rk = redkeeper.connect(url);
  await new Promise((r) => setTimeout(r, Math.max(0, Number(startAt) - Date.now())));
  const out = [];
  for (let i = 0; i < Number(rounds); i++) {
    await rk.lock(name, { ttlMs: 2000, waitMs: 30000 }).using(async (lk) => {
      const start = Date.now();
      await new Promise((r) => setTimeout(r, 3));
      const held = lk.held;
      out.push({ fence: lk.fencingToken, start, end: Date.now(), held });
    });
  }
  await rk.close();
  process.stdout.write(JSON.stringify(out));
})().catch((e) => { console.error(e); process.exit(1); });
`;

test('four processes contending on Redis never overlap', async () => {
  const name = fresh();
  const startAt = Date.now() + 1500;
  const runs = Array.from({ length: 4 }, () => new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', CONTENDER, ROOT, backends.server.url, name, '15', String(startAt)],
      { env: process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    child.on('exit', (c) => (c === 0 ? resolve(JSON.parse(out)) : reject(new Error(err))));
  }));
  const sections = (await Promise.all(runs)).flat();
  expect(sections.length).toBe(60);
  expect(sections.every((s) => s.held)).toBe(true);
  sections.sort((a, b) => a.start - b.start);
  for (let i = 1; i < sections.length; i++) {
    expect(sections[i - 1].end).toBeLessThanOrEqual(sections[i].start); // one host: one clock
    expect(sections[i].fence).toBeGreaterThan(sections[i - 1].fence);
  }
});

test('store down: acquire is ERR_RK_LOCK_NOT_ACQUIRED with the cause', async () => {
  const own = await startRedis();
  const rk = connect(own.url, { commandTimeoutMs: 300, connectTimeoutMs: 300 });
  try {
    const lk = rk.lock(fresh(), { waitMs: 0 });
    await lk.acquire();
    await lk.release();
    await own.halt('SIGKILL');
    const err = await lk.acquire().catch((e) => e);
    expect(err.code).toBe('ERR_RK_LOCK_NOT_ACQUIRED');
    expect(err.message).toMatch(/store unavailable/);
  } finally {
    await rk.close();
    await own.stop();
  }
});
