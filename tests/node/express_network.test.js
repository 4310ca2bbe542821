// rateLimit() where the network matters: fail-open / fail-closed with passOnStoreError when Redis is
// unreachable, and whose IP a request is counted under behind (trusted or not) proxies.
'use strict';

const express = require('express');
const request = require('supertest');
const { connect } = require('../..');
const { rateLimit, byIp, ipKey } = require('../../node/express');
const { ipKeyGenerator } = require('express-rate-limit');
const { freePort } = require('./helpers/redisServer');

describe('passOnStoreError with a Redis that is not there', () => {
  let client;
  beforeAll(async () => {
    const port = await freePort(); // nothing listens on it
    client = connect(`redis://127.0.0.1:${port}/0`, { connectTimeoutMs: 200, commandTimeoutMs: 300 });
  });
  afterAll(() => client.close());

  function app(passOnStoreError, logger) {
    const a = express();
    a.use(rateLimit({ client, limit: 1, passOnStoreError, logger, standardHeaders: 'draft-7' }));
    a.get('/', (req, res) => res.json({ limited: req.rateLimit !== undefined }));
    // eslint-disable-next-line no-unused-vars
    a.use((err, req, res, next) => res.status(503).json({ code: err.code }));
    return a;
  }

  test('true: requests pass, unlimited and without headers, and the error is logged', async () => {
    const logged = [];
    const a = app(true, { error: (err, msg) => logged.push([err.code, msg]) });
    for (let i = 0; i < 3; i++) {
      const r = await request(a).get('/').expect(200);
      expect(r.body).toEqual({ limited: false });
      expect(r.headers.ratelimit).toBeUndefined();
      expect(r.headers['x-ratelimit-limit']).toBeUndefined();
    }
    expect(logged.length).toBe(3);
    expect(['ERR_RK_CONNECTION', 'ERR_RK_TIMEOUT']).toContain(logged[0][0]);
    expect(logged[0][1]).toMatch(/allowing the request/);
  });

  test('false (the default): the store error goes to next(err)', async () => {
    const r = await request(app(false, { error: () => {} })).get('/').expect(503);
    expect(['ERR_RK_CONNECTION', 'ERR_RK_TIMEOUT']).toContain(r.body.code);
  });
});

describe('whose IP: proxies are only believed when trusted', () => {
  let client;
  beforeEach(() => {
    client = connect('memory://');
  });
  afterEach(() => client.close());

  // An app that records the key each request was counted under.
  function recorder(options, setup) {
    const keys = [];
    const a = express();
    if (setup) setup(a);
    const mw = rateLimit({ client, limit: 1000, ...options });
    a.use(mw);
    a.get('/', (req, res) => {
      keys.push(req.rateLimit.key);
      res.send('ok');
    });
    return { app: a, keys };
  }

  test('by default a spoofed X-Forwarded-For is ignored (Express trust proxy off)', async () => {
    const { app, keys } = recorder({});
    await request(app).get('/').set('X-Forwarded-For', '203.0.113.5').expect(200);
    await request(app).get('/').set('X-Forwarded-For', '203.0.113.6').expect(200);
    expect(keys).toEqual(['127.0.0.1', '127.0.0.1']);
  });

  test("without `trust`, Express' own trust proxy setting decides, as in express-rate-limit", async () => {
    const { app, keys } = recorder({}, (a) => a.set('trust proxy', 'loopback'));
    await request(app).get('/').set('X-Forwarded-For', '203.0.113.5').expect(200);
    expect(keys).toEqual(['203.0.113.5']);
  });

  test("Express trust proxy = true (believe anyone) is not followed: the socket peer counts", async () => {
    const spy = jest.spyOn(process, 'emitWarning').mockImplementation(() => {});
    const { app, keys } = recorder({}, (a) => a.set('trust proxy', true));
    await request(app).get('/').set('X-Forwarded-For', '203.0.113.5').expect(200);
    await request(app).get('/').set('X-Forwarded-For', '203.0.113.6').expect(200);
    const codes = spy.mock.calls.map((c) => c[1] && c[1].code);
    spy.mockRestore();
    expect(keys).toEqual(['127.0.0.1', '127.0.0.1']);
    expect(codes).toEqual(['RK_TRUST_PROXY_TRUE']); // once per process
  });

  test('trust: hops are believed only while the sender is trusted', async () => {
    const { app, keys } = recorder({ trust: ['loopback', '198.51.100.0/24'] });
    await request(app).get('/').set('X-Forwarded-For', '203.0.113.5').expect(200);
    // The client forged the first entry; the trusted edge proxy 198.51.100.7 appended the real one.
    await request(app).get('/').set('X-Forwarded-For', '6.6.6.6, 192.0.2.44, 198.51.100.7').expect(200);
    await request(app).get('/').set('X-Forwarded-For', 'garbage, 198.51.100.7').expect(200);
    await request(app).get('/').expect(200);
    expect(keys).toEqual(['203.0.113.5', '192.0.2.44', '198.51.100.7', '127.0.0.1']);
  });

  test('trust that does not include the peer: X-Forwarded-For is ignored', async () => {
    const { app, keys } = recorder({ trust: '10.0.0.0/8' });
    await request(app).get('/').set('X-Forwarded-For', '10.1.2.3').expect(200);
    expect(keys).toEqual(['127.0.0.1']);
  });

  test('IPv6 clients are grouped by /56 (express-rate-limit 8), or by ipv6Subnet', async () => {
    const limited = express();
    limited.use(rateLimit({ client, limit: 1, keyGenerator: byIp({ trust: 'loopback' }) }));
    limited.get('/', (req, res) => res.send(req.rateLimit.key));
    const a = await request(limited).get('/').set('X-Forwarded-For', '2001:db8:abcd:1201::1').expect(200);
    expect(a.text).toBe('2001:db8:abcd:1200::/56');
    await request(limited).get('/').set('X-Forwarded-For', '2001:db8:abcd:12ff:ffff::2').expect(429);
    await request(limited).get('/').set('X-Forwarded-For', '2001:db8:abcd:1301::1').expect(200);

    const { app, keys } = recorder({ trust: 'loopback', ipv6Subnet: 64 });
    await request(app).get('/').set('X-Forwarded-For', '2001:db8:abcd:1201:5::1').expect(200);
    await request(app).get('/').set('X-Forwarded-For', '::ffff:192.0.2.1').expect(200);
    expect(keys).toEqual(['2001:db8:abcd:1201::/64', '192.0.2.1']);
  });

  test("trust takes the core's keywords, and a bad entry is reported under `trust`", async () => {
    const { app, keys } = recorder({ trust: ['private', 'loopback'] });
    await request(app).get('/').set('X-Forwarded-For', '203.0.113.50, 10.9.9.9, 192.168.1.1').expect(200);
    expect(keys).toEqual(['203.0.113.50']);
    expect(() => byIp({ trust: ['loopback', 'intranet'] })).toThrow(/^trust: 'intranet' is not an IP/);
    expect(() => byIp({ trust: [5] })).toThrow(/^trust: /);
  });
});

describe('ipKey comes from the core', () => {
  test("ipKey gives express-rate-limit's ipKeyGenerator keys", () => {
    const ips = ['198.51.100.4', '::ffff:198.51.100.4', '::1', '2001:db8:abcd:1201::1', '2001:DB8:ABCD:12FF:FFFF::2',
      '2001:db8::', 'fe80::1', 'not-an-ip', ''];
    for (const subnet of [56, 64, 48, 128, 1]) {
      for (const ip of ips) expect([ip, subnet, ipKey(ip, subnet)]).toEqual([ip, subnet, ipKeyGenerator(ip, subnet)]);
    }
    expect(ipKey('2001:db8:abcd:1201::1')).toBe(ipKeyGenerator('2001:db8:abcd:1201::1'));
    // false: the whole address, written the one canonical way (ipKeyGenerator keeps the spelling).
    expect(ipKey('2001:DB8:0:0::1', false)).toBe('2001:db8::1');
    expect(() => ipKey('::1', 129)).toThrow(/ipv6Subnet/);
  });
});
