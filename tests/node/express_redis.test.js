// rateLimit() on a real redis-server where the store's traffic and atomicity matter: localBlockCache
// keeps an attacked key off Redis, and `limits: [...]` under concurrent requests stays all-or-nothing.
'use strict';

const express = require('express');
const request = require('supertest');
const { connect } = require('../..');
const { rateLimit } = require('../../node/express');
const { startRedis } = require('./helpers/redisServer');

let server;
const clients = [];

beforeAll(async () => {
  server = await startRedis();
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  if (server) await server.stop();
});

let n = 0;
function client() {
  const c = connect(server.url, { prefix: `er${process.pid}x${n++}`, commandTimeoutMs: 5000 });
  clients.push(c);
  return c;
}

// Every command Redis has run (those inside scripts included), INFO (this probe) left out.
async function commandsRun() {
  const info = String(await server.call(['INFO', 'commandstats']));
  let total = 0;
  for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    if (m[1] !== 'info') total += Number(m[2]);
  }
  return total;
}

function appWith(middleware) {
  const app = express();
  app.use(middleware);
  app.get('/', (req, res) => res.json({ ok: true }));
  return app;
}

describe('localBlockCache: an attacked key stops reaching Redis', () => {
  async function attack(options) {
    const app = appWith(rateLimit({ client: client(), keyGenerator: () => 'attacker', ...options }));
    const warmup = [];
    for (let i = 0; i < 3; i++) warmup.push((await request(app).get('/')).status);
    const before = await commandsRun();
    const answers = [];
    for (let i = 0; i < 30; i++) answers.push(await request(app).get('/'));
    return { warmup, answers, commands: (await commandsRun()) - before };
  }

  test('one limit: the 429s after the first come from the process, with a right Retry-After', async () => {
    const { warmup, answers, commands } = await attack({ limit: 2, windowMs: 60000, localBlockCache: true });
    expect(warmup).toEqual([200, 200, 429]);
    expect(answers.map((r) => r.status)).toEqual(new Array(30).fill(429));
    for (const r of answers) {
      const retry = Number(r.headers['retry-after']);
      expect(retry).toBeGreaterThanOrEqual(1);
      expect(retry).toBeLessThanOrEqual(60);
    }
    expect(commands).toBe(0);
  });

  test('without it every rejected request is a round trip (what the cache saves)', async () => {
    const { answers, commands } = await attack({ limit: 2, windowMs: 60000 });
    expect(answers.map((r) => r.status)).toEqual(new Array(30).fill(429));
    expect(commands).toBeGreaterThanOrEqual(30);
  });

  test('several limits (hitMany): a key blocked by one of them stays off Redis too', async () => {
    const mw = rateLimit({
      client: client(),
      localBlockCache: true,
      limits: [
        { name: 'burst', limit: 2, windowMs: 60000, keyGenerator: () => 'attacker' },
        { name: 'daily', limit: 100, windowMs: 86400000, keyGenerator: () => 'attacker' },
      ],
    });
    const app = appWith(mw);
    const warmup = [];
    for (let i = 0; i < 3; i++) warmup.push((await request(app).get('/')).status);
    const before = await commandsRun();
    for (let i = 0; i < 20; i++) await request(app).get('/').expect(429);
    expect((await commandsRun()) - before).toBe(0);
    expect(warmup).toEqual([200, 200, 429]);
    const [, daily] = mw.limiters;
    expect((await daily.peek('attacker')).remaining).toBe(98); // the rejections took nothing
  });
});

describe('limits: [...] under concurrent requests', () => {
  test('two limits: neither is exceeded, and rejected requests consume nothing, even in a burst', async () => {
    // A site-wide limit shared by every request, and a per-user one. One user is over their own
    // limit and keeps hammering; if their rejected requests held site-wide units even for a moment
    // (hit one limit, then give back after the other said no), legitimate users racing them would
    // be turned away. All or nothing means every legitimate request below gets through.
    const user = (req) => String(req.headers['x-user']);
    const limits = () => [
      { name: 'site', limit: 11, windowMs: 86400000, algorithm: 'fixed_window', keyGenerator: () => 'site' },
      { name: 'per-user', limit: 1, windowMs: 86400000, algorithm: 'fixed_window', keyGenerator: user },
    ];
    // Two app servers, each with its own client (own connection), as two processes behind a balancer.
    const prefix = `conc${process.pid}`;
    const a = connect(server.url, { prefix, commandTimeoutMs: 5000 });
    const b = connect(server.url, { prefix, commandTimeoutMs: 5000 });
    clients.push(a, b);
    const mwA = rateLimit({ client: a, limits: limits() });
    const mwB = rateLimit({ client: b, limits: limits() });
    const servers = [appWith(mwA).listen(0, '127.0.0.1'), appWith(mwB).listen(0, '127.0.0.1')];
    try {
      await Promise.all(servers.map((s) => new Promise((resolve) => s.once('listening', resolve))));
      const urls = servers.map((s) => `http://127.0.0.1:${s.address().port}/`);
      const get = (i, who) =>
        fetch(urls[i % 2], { headers: { 'x-user': who } }).then(async (r) => {
          await r.arrayBuffer();
          return r.status;
        });
      expect(await get(0, 'mallory')).toBe(200); // site 10 left, mallory none
      // 10 legitimate users, each among 8 of mallory's requests, all at once.
      const burst = [];
      for (let u = 0; u < 10; u++) {
        for (let k = 0; k < 4; k++) burst.push(get(burst.length, 'mallory'));
        burst.push(get(burst.length, `user${u}`).then((status) => ({ status })));
        for (let k = 0; k < 4; k++) burst.push(get(burst.length, 'mallory'));
      }
      const answers = await Promise.all(burst);
      const legit = answers.filter((x) => typeof x === 'object').map((x) => x.status);
      const mallory = answers.filter((x) => typeof x === 'number');
      expect(legit).toEqual(new Array(10).fill(200));
      expect(mallory).toEqual(new Array(80).fill(429));
      const [site, perUser] = mwA.limiters;
      expect((await site.peek('site')).remaining).toBe(0); // 11 admitted, not one more
      expect((await perUser.peek('mallory')).remaining).toBe(0);
      expect(await get(0, 'user99')).toBe(429); // the site limit is used up exactly
    } finally {
      await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
    }
  });
});
