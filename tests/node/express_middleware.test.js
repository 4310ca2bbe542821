// rateLimit() driven through real Express apps with supertest, on memory:// and on Redis: headers of
// each draft (checked against express-rate-limit's own output), 429 bodies, skip*, refunds,
// req.rateLimit, cost, several limits at once and the key helpers.
'use strict';

const express = require('express');
const request = require('supertest');
const erl = require('express-rate-limit');
const { RedkeeperError } = require('../..');
const { rateLimit, byUser, byRoute, combine } = require('../../node/express');
const { BACKENDS, expectResetSeconds } = require('./express_backends');
const { eventually } = require('./helpers/timing');

function appWith(middleware, route = (req, res) => res.json({ ok: true })) {
  const app = express();
  app.use(middleware);
  app.get('/', route);
  app.get('/status/:code', (req, res) => res.status(Number(req.params.code)).send('x'));
  app.get('/info', (req, res) => res.json(req.rateLimit));
  return app;
}

const RATE_HEADERS = ['ratelimit', 'ratelimit-policy', 'ratelimit-limit', 'ratelimit-remaining', 'ratelimit-reset', 'x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset', 'retry-after'];

function rateHeaders(res) {
  const out = {};
  for (const h of RATE_HEADERS) if (res.headers[h] !== undefined) out[h] = res.headers[h];
  return out;
}

describe.each(BACKENDS)('rateLimit on %s', (label, makeBackend) => {
  const backend = makeBackend();
  beforeAll(() => backend.setup(), 20000);
  afterAll(() => backend.teardown());
  afterEach(() => backend.closeAll());

  describe('headers of each draft, byte for byte as express-rate-limit sends them', () => {
    const cases = [
      ['draft-6', false, ['ratelimit-policy', 'ratelimit-limit', 'ratelimit-remaining', 'ratelimit-reset']],
      ['draft-7', false, ['ratelimit-policy', 'ratelimit']],
      ['draft-8', false, ['ratelimit-policy', 'ratelimit']],
      [true, true, ['ratelimit-policy', 'ratelimit-limit', 'ratelimit-remaining', 'ratelimit-reset', 'x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset']],
      [false, true, ['x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset']],
    ];
    test.each(cases)('standardHeaders %p, legacyHeaders %p', async (standardHeaders, legacyHeaders, names) => {
      const options = { limit: 2, windowMs: 60000, standardHeaders, legacyHeaders, keyGenerator: () => 'k' };
      // Wall-clock time on both sides: X-RateLimit-Reset is an epoch instant from the client's clock.
      const ours = appWith(rateLimit({ client: backend.client({ clock: undefined }), ...options }));
      const theirs = appWith(erl.rateLimit({ ...options, validate: false }));
      for (let i = 0; i < 3; i++) {
        const a = await request(ours).get('/');
        const b = await request(theirs).get('/');
        expect(a.status).toBe(b.status);
        const ha = rateHeaders(a);
        const hb = rateHeaders(b);
        // The epoch-second X-RateLimit-Reset may straddle a second boundary between the two calls.
        if (hb['x-ratelimit-reset'] !== undefined) {
          expect(Math.abs(Number(ha['x-ratelimit-reset']) - Number(hb['x-ratelimit-reset']))).toBeLessThanOrEqual(1);
          ha['x-ratelimit-reset'] = hb['x-ratelimit-reset'];
        }
        expect(ha).toEqual(hb);
        expect(Object.keys(ha).sort()).toEqual([...names, ...(i === 2 ? ['retry-after'] : [])].sort());
      }
    });

    test('exact values of draft-7 and draft-8 through a rejection', async () => {
      const client = backend.client();
      const d7 = appWith(rateLimit({ client, name: 'api', limit: 2, windowMs: 60000, standardHeaders: 'draft-7', legacyHeaders: false }));
      // On Redis real time runs from the window's first hit: reset=60 while under a second has passed.
      const since = Date.now();
      let r = await request(d7).get('/');
      expect(rateHeaders(r)).toEqual({ 'ratelimit-policy': '2;w=60', ratelimit: 'limit=2, remaining=1, reset=60' });
      await request(d7).get('/');
      r = await request(d7).get('/');
      expect(r.status).toBe(429);
      const reset = /^limit=2, remaining=0, reset=(\d+)$/.exec(r.headers.ratelimit);
      expect([r.headers.ratelimit, reset !== null]).toEqual([r.headers.ratelimit, true]);
      expectResetSeconds(reset[1], 60, since);
      expectResetSeconds(r.headers['retry-after'], 60, since);
      expect(rateHeaders(r)).toEqual({ 'ratelimit-policy': '2;w=60', ratelimit: `limit=2, remaining=0, reset=${reset[1]}`, 'retry-after': r.headers['retry-after'] });

      const d8 = appWith(rateLimit({ client, name: 'login', limit: 5, windowMs: 15 * 60000, standardHeaders: 'draft-8', legacyHeaders: false, keyGenerator: () => '203.0.113.9' }));
      r = await request(d8).get('/');
      // pk: base64 of the first 12 hex digits of sha256('203.0.113.9'), as express-rate-limit computes it.
      const pk = Buffer.from(require('crypto').createHash('sha256').update('203.0.113.9').digest('hex').slice(0, 12)).toString('base64');
      expect(rateHeaders(r)).toEqual({ ratelimit: '"login"; r=4; t=900', 'ratelimit-policy': `"login"; q=5; w=900; pk=:${pk}:` });
    });

    test('no headers at all (and no Retry-After) when both kinds are off', async () => {
      const app = appWith(rateLimit({ client: backend.client(), limit: 1, standardHeaders: false, legacyHeaders: false }));
      await request(app).get('/').expect(200);
      const r = await request(app).get('/').expect(429);
      expect(rateHeaders(r)).toEqual({});
    });
  });

  describe('429 responses', () => {
    test('default: status 429 and express-rate-limit\'s message', async () => {
      const app = appWith(rateLimit({ client: backend.client(), limit: 1 }));
      await request(app).get('/').expect(200);
      const r = await request(app).get('/');
      expect(r.status).toBe(429);
      expect(r.text).toBe('Too many requests, please try again later.');
    });

    test('statusCode and an object message (sent as JSON)', async () => {
      const app = appWith(rateLimit({ client: backend.client(), limit: 1, statusCode: 503, message: { error: 'slow down' } }));
      await request(app).get('/').expect(200);
      const r = await request(app).get('/');
      expect(r.status).toBe(503);
      expect(r.headers['content-type']).toMatch(/application\/json/);
      expect(r.body).toEqual({ error: 'slow down' });
    });

    test('message as an async function of the request', async () => {
      const app = appWith(
        rateLimit({
          client: backend.client(),
          limit: 1,
          message: async (req) => ({ error: `too many from ${req.rateLimit.key}`, retryIn: req.rateLimit.resetTime instanceof Date }),
          keyGenerator: () => 'who',
        }),
      );
      await request(app).get('/').expect(200);
      const r = await request(app).get('/').expect(429);
      expect(r.body).toEqual({ error: 'too many from who', retryIn: true });
    });

    test('handler replaces the response and gets the options used', async () => {
      const seen = [];
      const app = appWith(
        rateLimit({
          client: backend.client(),
          limit: 1,
          windowMs: 1000,
          handler: (req, res, next, options) => {
            seen.push([options.limit, options.windowMs, options.statusCode]);
            res.status(418).json({ remaining: req.rateLimit.remaining });
          },
        }),
      );
      await request(app).get('/').expect(200);
      const r = await request(app).get('/').expect(418);
      expect(r.body).toEqual({ remaining: 0 });
      expect(seen).toEqual([[1, 1000, 429]]);
    });
  });

  describe('skip, skipFailedRequests, skipSuccessfulRequests', () => {
    test('skip: skipped requests neither count nor get headers', async () => {
      const mw = rateLimit({ client: backend.client(), limit: 1, keyGenerator: () => 'k', skip: (req) => req.query.free === '1' });
      const app = appWith(mw);
      for (let i = 0; i < 3; i++) {
        const r = await request(app).get('/?free=1').expect(200);
        expect(rateHeaders(r)).toEqual({});
      }
      expect((await mw.limiters[0].peek('k')).remaining).toBe(1);
      await request(app).get('/').expect(200);
      await request(app).get('/').expect(429);
    });

    test('async skip', async () => {
      const app = appWith(rateLimit({ client: backend.client(), limit: 1, skip: async () => true }));
      for (let i = 0; i < 3; i++) await request(app).get('/').expect(200);
    });

    test('skipFailedRequests refunds responses >= 400 after they finish', async () => {
      const mw = rateLimit({ client: backend.client(), limit: 2, keyGenerator: () => 'k', skipFailedRequests: true });
      const app = appWith(mw);
      for (let i = 0; i < 4; i++) await request(app).get('/status/500').expect(500);
      await eventually(async () => (await mw.limiters[0].peek('k')).remaining === 2);
      await request(app).get('/status/200').expect(200);
      await request(app).get('/status/201').expect(201);
      await new Promise((r) => setTimeout(r, 50));
      expect((await mw.limiters[0].peek('k')).remaining).toBe(0);
      // The 429 itself consumed nothing, so it is not refunded either (no free unit appears).
      await request(app).get('/').expect(429);
      await new Promise((r) => setTimeout(r, 50));
      expect((await mw.limiters[0].peek('k')).remaining).toBe(0);
    });

    test('skipSuccessfulRequests refunds responses < 400; requestWasSuccessful overrides', async () => {
      const mw = rateLimit({ client: backend.client(), limit: 2, keyGenerator: () => 'k', skipSuccessfulRequests: true });
      const app = appWith(mw);
      for (let i = 0; i < 4; i++) await request(app).get('/status/200').expect(200);
      await eventually(async () => (await mw.limiters[0].peek('k')).remaining === 2);
      await request(app).get('/status/401').expect(401);
      await request(app).get('/status/401').expect(401);
      await request(app).get('/status/401').expect(429);

      const custom = rateLimit({
        client: backend.client(),
        limit: 1,
        keyGenerator: () => 'k',
        skipSuccessfulRequests: true,
        requestWasSuccessful: (req, res) => res.statusCode !== 404,
      });
      const app2 = appWith(custom);
      await request(app2).get('/status/500').expect(500);
      await eventually(async () => (await custom.limiters[0].peek('k')).remaining === 1);
      await request(app2).get('/status/404').expect(404);
      await request(app2).get('/status/200').expect(429);
    });

    test('skipFailedRequests refunds a request whose client went away before the response', async () => {
      const mw = rateLimit({ client: backend.client(), limit: 1, keyGenerator: () => 'k', skipFailedRequests: true });
      const app = express();
      app.use(mw);
      let server;
      const closed = new Promise((resolve) => {
        app.get('/slow', (req, res) => res.on('close', resolve)); // never answers
      });
      await new Promise((resolve) => (server = app.listen(0, '127.0.0.1', resolve)));
      const http = require('http');
      const req = http.get({ host: '127.0.0.1', port: server.address().port, path: '/slow' });
      req.on('error', () => {});
      await eventually(async () => (await mw.limiters[0].peek('k')).remaining === 0);
      req.destroy();
      await closed;
      await eventually(async () => (await mw.limiters[0].peek('k')).remaining === 1);
      await new Promise((resolve) => server.close(resolve));
    });
  });

  test('req.rateLimit (and requestPropertyName) carry limit, used, remaining, resetTime, key', async () => {
    const app = appWith(rateLimit({ client: backend.client(), limit: 3, windowMs: 60000, keyGenerator: () => 'me' }));
    await request(app).get('/');
    const before = Date.now();
    const r = await request(app).get('/info').expect(200);
    expect(r.body).toMatchObject({ limit: 3, used: 2, remaining: 1, key: 'me' });
    const reset = Date.parse(r.body.resetTime);
    expect(reset).toBeGreaterThan(before + 55000);
    expect(reset).toBeLessThanOrEqual(Date.now() + 60000);

    const named = express();
    named.use(rateLimit({ client: backend.client(), limit: 3, requestPropertyName: 'quota' }));
    named.get('/', (req, res) => res.json({ quota: req.quota, default: req.rateLimit === undefined }));
    const n = await request(named).get('/').expect(200);
    expect(n.body.quota).toMatchObject({ limit: 3, used: 1, remaining: 2 });
    expect(n.body.default).toBe(true);
  });

  test('cost as a number and as an async function of the request', async () => {
    const fixed = rateLimit({ client: backend.client(), limit: 10, cost: 4, keyGenerator: () => 'k' });
    const app = appWith(fixed);
    await request(app).get('/').expect(200);
    await request(app).get('/').expect(200);
    const r = await request(app).get('/').expect(429);
    expect(r.headers['x-ratelimit-remaining']).toBe('2');

    const weighted = rateLimit({
      client: backend.client(),
      limit: 10,
      keyGenerator: () => 'k',
      cost: async (req) => Number(req.query.n || 1),
    });
    const app2 = appWith(weighted);
    expect((await request(app2).get('/?n=7').expect(200)).headers['x-ratelimit-remaining']).toBe('3');
    await request(app2).get('/?n=4').expect(429);
    expect((await request(app2).get('/?n=3').expect(200)).headers['x-ratelimit-remaining']).toBe('0');
    // A cost the limiter cannot take is the app's bug: it reaches the error handler.
    const bad = await request(app2).get('/?n=11');
    expect(bad.status).toBe(500);
  });

  describe('several limits on one route', () => {
    const user = (req) => req.headers['x-user'];
    function twoLimits(client, extra = {}) {
      return rateLimit({
        client,
        standardHeaders: 'draft-8',
        limits: [
          { name: 'per-ip', limit: 3, windowMs: 60000, keyGenerator: () => 'ip-1' },
          { name: 'per-user', limit: 1, windowMs: 86400000, keyGenerator: byUser(user) },
        ],
        ...extra,
      });
    }

    test('all must admit; a rejected request consumes from none', async () => {
      const mw = twoLimits(backend.client());
      const app = appWith(mw);
      const [perIp, perUser] = mw.limiters;
      const since = Date.now();  // before the per-user window's first hit
      const ok = await request(app).get('/').set('x-user', 'alice').expect(200);
      expect(ok.headers.ratelimit).toBe('"per-ip"; r=2; t=60, "per-user"; r=0; t=86400');
      expect(ok.headers['ratelimit-policy']).toMatch(/^"per-ip"; q=3; w=60; pk=:[^:]+:, "per-user"; q=1; w=86400; pk=:[^:]+:$/);
      // draft-6/7 and legacy carry one policy: the tightest.
      expect(ok.headers['x-ratelimit-limit']).toBe('1');

      const rejected = await request(app).get('/').set('x-user', 'alice').expect(429);
      expectResetSeconds(rejected.headers['retry-after'], 86400, since);  // 86400 unless a second passed
      expect((await perIp.peek('ip-1')).remaining).toBe(2); // untouched by the rejection
      expect((await perUser.peek('user:alice')).remaining).toBe(0);

      await request(app).get('/').set('x-user', 'bob').expect(200);
      await request(app).get('/').set('x-user', 'carol').expect(200);
      await request(app).get('/').set('x-user', 'dave').expect(429); // per-ip is used up now
      expect((await perUser.peek('user:dave')).remaining).toBe(1);
    });

    test('req.rateLimit is the deciding limit, with every limit under .limits; skip* refunds all', async () => {
      const mw = twoLimits(backend.client(), { skipFailedRequests: true, standardHeaders: false, legacyHeaders: false });
      const app = express();
      app.use(mw);
      app.get('/', (req, res) => res.status(500).json({ info: req.rateLimit, all: req.rateLimit.limits.map((l) => [l.name, l.remaining]) }));
      const r = await request(app).get('/').set('x-user', 'erin').expect(500);
      expect(r.body.info).toMatchObject({ limit: 1, remaining: 0, key: 'user:erin' });
      expect(r.body.all).toEqual([['per-ip', 2], ['per-user', 0]]);
      await eventually(async () => (await mw.limiters[1].peek('user:erin')).remaining === 1);
      expect((await mw.limiters[0].peek('ip-1')).remaining).toBe(3);
    });
  });

  describe('key helpers', () => {
    test('byUser falls back to the IP for anonymous requests; byRoute and combine', async () => {
      const client = backend.client();
      const app = express();
      app.use((req, res, next) => {
        req.user = req.headers['x-user'] ? { id: req.headers['x-user'] } : undefined;
        next();
      });
      const keys = [];
      const record = (gen) => async (req, res) => {
        const k = await gen(req, res);
        keys.push(k);
        return k;
      };
      app.use(rateLimit({ client, limit: 100, keyGenerator: record(combine(byUser((req) => req.user && req.user.id), byRoute)) }));
      app.get('/a', (req, res) => res.send('a'));
      app.post('/b', (req, res) => res.send('b'));
      await request(app).get('/a').set('x-user', '42').expect(200);
      await request(app).post('/b').expect(200);
      expect(keys).toEqual(['user:42|GET /a', 'ip:127.0.0.1|POST /b']);
      expect(byRoute()).toBe(byRoute(undefined));
    });

    test('byUser with an async lookup and no fallback rejects anonymous requests as a server error', async () => {
      const app = appWith(rateLimit({ client: backend.client(), limit: 5, keyGenerator: byUser(async (req) => req.headers['x-user'], { fallback: null }) }));
      await request(app).get('/').set('x-user', 'u').expect(200);
      await request(app).get('/').expect(500);
    });

    test('Buffer keys work; keys longer than the core takes are hashed, other types are errors', async () => {
      const keys = [];
      const app = appWith(
        rateLimit({
          client: backend.client(),
          limit: 1,
          keyGenerator: (req) => {
            const k = req.query.kind === 'buf' ? Buffer.from([0, 1, 2]) : req.query.kind === 'long' ? 'x'.repeat(5000) : req.query.kind === 'obj' ? {} : 'plain';
            return k;
          },
        }),
        (req, res) => {
          keys.push(req.rateLimit.key);
          res.send('ok');
        },
      );
      await request(app).get('/?kind=buf').expect(200);
      await request(app).get('/?kind=buf').expect(429);
      await request(app).get('/?kind=long').expect(200);
      await request(app).get('/?kind=long').expect(429);
      await request(app).get('/?kind=obj').expect(500);
      expect(Buffer.isBuffer(keys[0])).toBe(true);
      expect(keys[1]).toMatch(/^sha256:/);
    });

    test('resetKey forgets a key on every limit of the middleware', async () => {
      const mw = rateLimit({ client: backend.client(), limit: 1, keyGenerator: () => 'k' });
      const app = appWith(mw);
      await request(app).get('/').expect(200);
      await request(app).get('/').expect(429);
      expect((await mw.getKey('k')).totalHits).toBe(1);
      await mw.resetKey('k');
      await request(app).get('/').expect(200);
    });
  });
});

test('bad configuration is rejected at start-up with an error naming the option', () => {
  const { connect } = require('../..');
  const client = connect('memory://');
  const bad = [
    [{ client, standardHeaders: 'draft-9' }, 'standardHeaders'],
    [{ client, windowMs: -1000 }, 'windowMs'],
    [{ client, windowMs: NaN }, 'windowMs'],
    [{ limit: 5 }, 'client'],
    [{ client: {}, limit: 5 }, 'client'],
    [{ client, limit: 0 }, 'limit'],
    [{ client, limit: NaN }, 'limit'],
    [{ client, max: 0 }, 'max'],
    [{ client, limit: 1.5 }, 'limit'],
    [{ client, limit: () => 5 }, 'limit'],
    [{ client, statusCode: 42 }, 'statusCode'],
    [{ client, message: 'x', handlr: () => {} }, 'handlr'],
    [{ client, store: {} }, 'store'],
    [{ client, algorithm: 'leaky' }, 'algorithm'],
    [{ client, name: 'has space' }, 'name'],
    [{ client, cost: 0 }, 'cost'],
    [{ client, trust: ['10.0.0.0/99'] }, 'trust'],
    [{ client, trust: 'not-an-ip' }, 'trust'],
    [{ client, keyGenerator: 'ip' }, 'keyGenerator'],
    [{ client, skipFailedRequests: 'yes' }, 'skipFailedRequests'],
    [{ client, limits: [] }, 'limits'],
    [{ client, limit: 5, limits: [{ limit: 1 }] }, 'limit'],
    [{ client, limits: [{ limit: 1 }, { limit: 1 }] }, 'limits[1].name'],
    [{ client, limits: [{ limit: 1, windowMs: -5 }] }, 'limits[0].windowMs'],
    [{ client, limits: [{ limit: 1, color: 'red' }] }, 'color'],
    [{ client, ipv6Subnet: 200 }, 'ipv6Subnet'],
    [{ client, localBlockCache: -1 }, 'localBlockCache'],
    [undefined, 'options'],
  ];
  for (const [options, param] of bad) {
    let thrown;
    try {
      rateLimit(options);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(RedkeeperError);
    expect(thrown.code).toBe('ERR_RK_INVALID_ARGUMENT');
    expect(thrown.message.startsWith(`${param}:`)).toBe(true);
  }
  client.close();
  expect(() => rateLimit({ client, limit: 5 })).toThrow(/client: is closed/);
});
