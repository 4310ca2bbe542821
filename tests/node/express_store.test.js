// RedkeeperStore behind a real express-rate-limit app, on memory:// and Redis: counts, rejections,
// decrements from skip*, resetKey/getKey, and two app servers sharing one count.
'use strict';

const express = require('express');
const request = require('supertest');
const { rateLimit: erlRateLimit } = require('express-rate-limit');
const { RedkeeperError } = require('../..');
const { RedkeeperStore } = require('../../node/express');
const { BACKENDS, expectResetSeconds } = require('./express_backends');
const { eventually } = require('./helpers/timing');

function erlApp(store, options = {}) {
  const limiter = erlRateLimit({
    windowMs: 60000,
    limit: 2,
    standardHeaders: 'draft-7',
    legacyHeaders: false,
    store,
    keyGenerator: () => 'client-1',
    validate: { singleCount: false },
    ...options,
  });
  const app = express();
  app.use(limiter);
  app.get('/', (req, res) => res.json(req.rateLimit));
  app.get('/fail', (req, res) => res.status(500).send('no'));
  return { app, limiter };
}

describe.each(BACKENDS)('RedkeeperStore on %s', (label, makeBackend) => {
  const backend = makeBackend();
  beforeAll(() => backend.setup(), 20000);
  afterAll(() => backend.teardown());
  afterEach(() => backend.closeAll());

  test('express-rate-limit counts through the store: 200, 200, 429 with its headers', async () => {
    const store = new RedkeeperStore({ client: backend.client() });
    const { app } = erlApp(store);
    // The window starts at the first hit: reset=60 unless a second of real time passed since.
    const since = Date.now();
    const first = await request(app).get('/').expect(200);
    expect(first.body).toMatchObject({ limit: 2, used: 1, remaining: 1, key: 'client-1' });
    expect(first.headers.ratelimit).toMatch(/^limit=2, remaining=1, reset=\d+$/);
    expectResetSeconds(/reset=(\d+)$/.exec(first.headers.ratelimit)[1], 60, since);
    await request(app).get('/').expect(200);
    const third = await request(app).get('/').expect(429);
    expect(third.headers.ratelimit).toMatch(/^limit=2, remaining=0, reset=\d+$/);
    expectResetSeconds(/reset=(\d+)$/.exec(third.headers.ratelimit)[1], 60, since);
    expectResetSeconds(third.headers['retry-after'], 60, since);
    // express-rate-limit counts rejected hits too; the store reports them all.
    expect((await store.get('client-1')).totalHits).toBe(3);
  });

  test('increment / decrement / get / resetKey directly', async () => {
    const store = new RedkeeperStore({ client: backend.client(), prefix: 'app1:' });
    // 5 s, not 1 s: on Redis the window (from the first increment) must outlast the next three
    // round trips of real time, or the count restarts under them.
    store.init({ windowMs: 5000 });
    expect(store.localKeys).toBe(false);
    expect(await store.get('k')).toBeUndefined();
    const a = await store.increment('k');
    expect(a.totalHits).toBe(1);
    expect(a.resetTime).toBeInstanceOf(Date);
    expect(a.resetTime.getTime() - Date.now()).toBeGreaterThan(0);
    expect(a.resetTime.getTime() - Date.now()).toBeLessThanOrEqual(5000);
    expect((await store.increment('k')).totalHits).toBe(2);
    await store.decrement('k');
    expect((await store.get('k')).totalHits).toBe(1);
    await store.resetKey('k');
    expect(await store.get('k')).toBeUndefined();
    // The prefix separates stores on one client.
    const other = new RedkeeperStore({ client: store.client, prefix: 'app2:' });
    other.init({ windowMs: 5000 });
    await store.increment('k');
    expect(await other.get('k')).toBeUndefined();
    await store.shutdown();
  });

  test('skipFailedRequests: express-rate-limit decrements failed responses, even its own 429s', async () => {
    const store = new RedkeeperStore({ client: backend.client() });
    const { app } = erlApp(store, { skipFailedRequests: true });
    for (let i = 0; i < 3; i++) await request(app).get('/fail').expect(500);
    await eventually(async () => (await store.get('client-1')) === undefined || (await store.get('client-1')).totalHits === 0);
    await request(app).get('/').expect(200);
    await request(app).get('/').expect(200);
    await request(app).get('/').expect(429); // counted, then decremented as a failed response
    await eventually(async () => (await store.get('client-1')).totalHits === 2);
    await request(app).get('/').expect(429);
  });

  test('resetKey through the middleware', async () => {
    const store = new RedkeeperStore({ client: backend.client() });
    const { app, limiter } = erlApp(store, { limit: 1 });
    await request(app).get('/').expect(200);
    await request(app).get('/').expect(429);
    await limiter.resetKey('client-1');
    await request(app).get('/').expect(200);
  });

  test('two app servers (two clients, one backend) share the count', async () => {
    const c1 = backend.client({ prefix: 'shared' });
    const c2 = backend.kind === 'redis' ? backend.client({ prefix: 'shared' }) : c1;
    const one = erlApp(new RedkeeperStore({ client: c1 }), { limit: 3 }).app;
    const two = erlApp(new RedkeeperStore({ client: c2 }), { limit: 3 }).app;
    await request(one).get('/').expect(200);
    await request(two).get('/').expect(200);
    await request(one).get('/').expect(200);
    await request(two).get('/').expect(429);
  });

  test('bad store options are rejected', () => {
    expect(() => new RedkeeperStore({})).toThrow(RedkeeperError);
    expect(() => new RedkeeperStore({ client: backend.client(), prefix: 5 })).toThrow(/prefix/);
    expect(() => new RedkeeperStore({ client: backend.client(), color: 'red' })).toThrow(/color/);
    const store = new RedkeeperStore({ client: backend.client() });
    return expect(store.increment('k')).rejects.toThrow(/init/);
  });
});
