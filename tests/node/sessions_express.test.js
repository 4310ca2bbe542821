// express-session with our SessionStore, through a real Express app and supertest, on memory://
// (ManualClock) and Redis: login, request with the cookie, logout, expiry, resave:false + touch,
// disableTouch, the store's own methods (callbacks and promises), per-user logout.
'use strict';

const express = require('express');
const session = require('express-session');
const request = require('supertest');
const { connect, ManualClock } = require('../..');
const { SessionStore } = require('../../node/express');
const { startRedis, delay } = require('./helpers/redisServer');

let server;
const clients = [];
beforeAll(async () => { server = await startRedis(); });
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  if (server) await server.stop();
});

let n = 0;
function env(kind) {
  const prefix = `se${process.pid}x${n++}`;
  if (kind === 'memory') {
    const clock = new ManualClock(1700000000000);
    const rk = connect('memory://', { clock, prefix });
    clients.push(rk);
    return { rk, advance: async (ms) => clock.advance(ms) };
  }
  const rk = connect(server.url, { prefix, commandTimeoutMs: 5000 });
  clients.push(rk);
  return { rk, advance: (ms) => delay(ms) };
}

// Real time on Redis: the expiry tests need requests to land within a maxAge of the last touch,
// so their maxAge and waits are x3 there (each step keeps 750-900 ms of slack for a stalled box,
// not 250-300 ms); memory:// keeps the exact fake-clock values.
const scale = (kind) => (kind === 'memory' ? 1 : 3);

function makeApp(store, cookie = {}) {
  const app = express();
  app.use(session({ store, secret: 'keyboard cat', resave: false, saveUninitialized: false, cookie }));
  app.post('/login/:user', (req, res) => {
    req.session.regenerate((err) => {
      if (err) return res.status(500).json({ error: String(err) });
      req.session.userId = req.params.user;
      req.session.views = 0;
      res.json({ ok: true });
    });
  });
  app.get('/me', (req, res) => {
    if (!req.session.userId) return res.json({ user: null });
    req.session.views += 1;
    res.json({ user: req.session.userId, views: req.session.views });
  });
  app.get('/ping', (req, res) => res.json({ user: req.session.userId || null }));  // reads only
  app.post('/logout', (req, res) => req.session.destroy((err) => res.status(err ? 500 : 200).json({ ok: !err })));
  return app;
}

const cookieOf = (res) => res.headers['set-cookie'][0].split(';')[0];

describe.each(['memory', 'redis'])('SessionStore on %s', (kind) => {
  test('login, requests with the cookie, logout', async () => {
    const { rk } = env(kind);
    const store = new SessionStore({ client: rk });
    const app = makeApp(store);
    expect((await request(app).get('/me')).body).toEqual({ user: null });
    const login = await request(app).post('/login/ann');
    const cookie = cookieOf(login);
    expect((await request(app).get('/me').set('Cookie', cookie)).body).toEqual({ user: 'ann', views: 1 });
    expect((await request(app).get('/me').set('Cookie', cookie)).body).toEqual({ user: 'ann', views: 2 });
    expect(await store.length()).toBe(1);
    // The per-user index is fed from req.session.userId: rk.sessions can list and log out users.
    const sessions = rk.sessions.withOptions({ name: 'express' });
    expect((await sessions.listUser('ann')).length).toBe(1);
    await request(app).post('/logout').set('Cookie', cookie).expect(200);
    expect((await request(app).get('/me').set('Cookie', cookie)).body).toEqual({ user: null });
    expect(await store.length()).toBe(0);
  });

  test('session expires with the cookie maxAge', async () => {
    const { rk, advance } = env(kind);
    const u = scale(kind);
    const app = makeApp(new SessionStore({ client: rk }), { maxAge: 300 * u });
    const cookie = cookieOf(await request(app).post('/login/exp'));
    expect((await request(app).get('/me').set('Cookie', cookie)).body.user).toBe('exp');
    await advance(450 * u);
    expect((await request(app).get('/me').set('Cookie', cookie)).body).toEqual({ user: null });
  });

  test('resave:false: an unmodified request touches the session and keeps it alive', async () => {
    const { rk, advance } = env(kind);
    const store = new SessionStore({ client: rk });
    let touches = 0;
    const touch = store.touch.bind(store);
    store.touch = (sid, sess, cb) => { touches += 1; return touch(sid, sess, cb); };
    let sets = 0;
    const set = store.set.bind(store);
    store.set = (sid, sess, cb) => { sets += 1; return set(sid, sess, cb); };
    const u = scale(kind);
    const app = makeApp(store, { maxAge: 600 * u });
    const cookie = cookieOf(await request(app).post('/login/t'));
    const setsAfterLogin = sets;
    for (let i = 0; i < 3; i++) {
      await advance(350 * u);
      expect((await request(app).get('/ping').set('Cookie', cookie)).body).toEqual({ user: 't' });
    }
    expect(touches).toBe(3);
    expect(sets).toBe(setsAfterLogin);  // unmodified: touched, never re-saved
    await advance(750 * u);
    expect((await request(app).get('/ping').set('Cookie', cookie)).body).toEqual({ user: null });
  });

  test('disableTouch: unmodified requests do not extend the session', async () => {
    const { rk, advance } = env(kind);
    const u = scale(kind);
    const app = makeApp(new SessionStore({ client: rk, disableTouch: true }), { maxAge: 600 * u });
    const cookie = cookieOf(await request(app).post('/login/d'));
    await advance(350 * u);
    expect((await request(app).get('/ping').set('Cookie', cookie)).body).toEqual({ user: 'd' });
    await advance(350 * u);
    expect((await request(app).get('/ping').set('Cookie', cookie)).body).toEqual({ user: null });
  });

  test('store methods with callbacks and promises; ttl option and expired cookies', async () => {
    const { rk } = env(kind);
    const store = new SessionStore({ client: rk, ttl: 60, name: `direct${n}` });
    const sess = { cookie: { originalMaxAge: null, expires: null, httpOnly: true, path: '/' }, userId: 'cb', n: 1 };
    await new Promise((resolve, reject) => store.set('sid-a', sess, (err) => (err ? reject(err) : resolve())));
    const got = await new Promise((resolve, reject) => store.get('sid-a', (err, v) => (err ? reject(err) : resolve(v))));
    expect(got).toEqual(sess);
    const meta = await rk.sessions.withOptions({ name: `direct${n}` }).info('sid-a');
    expect(meta.idleTimeoutMs).toBe(60000);
    expect(meta.userId).toBe('cb');
    await store.set('sid-b', { ...sess, cookie: { ...sess.cookie, expires: new Date(Date.now() + 30000).toISOString() } });
    expect(await store.length()).toBe(2);
    const ids = await store.ids();
    expect(ids).toHaveLength(2);
    expect(ids).not.toContain('sid-a');  // handles, never the ids
    const all = await store.all();
    expect(all.map((s) => s.n)).toEqual([1, 1]);
    // A cookie already expired: set() removes the session, as connect-redis does.
    await store.set('sid-b', { ...sess, cookie: { ...sess.cookie, expires: new Date(Date.now() - 1000).toISOString() } });
    expect(await store.get('sid-b')).toBeNull();
    await new Promise((resolve, reject) => store.destroy('sid-a', (err) => (err ? reject(err) : resolve())));
    expect(await store.get('sid-a')).toBeNull();
    await store.set('sid-c', sess);
    await store.clear();
    expect(await store.length()).toBe(0);
  });

  test('bad options are typed errors', () => {
    const { rk } = env(kind);
    expect(() => new SessionStore({})).toThrow(expect.objectContaining({ code: 'ERR_RK_INVALID_ARGUMENT' }));
    expect(() => new SessionStore({ client: rk, ttl: -1 })).toThrow(expect.objectContaining({ code: 'ERR_RK_INVALID_ARGUMENT' }));
    expect(() => new SessionStore({ client: rk, prefx: 'x' })).toThrow(expect.objectContaining({ code: 'ERR_RK_INVALID_ARGUMENT' }));
  });
});
