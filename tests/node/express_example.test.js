// examples/express_app.js: its presets behave as documented (in-process on memory://), and the
// script itself starts, serves and stops as the README's demo command runs it.
'use strict';

const path = require('path');
const { spawn } = require('child_process');
const http = require('http');
const request = require('supertest');
const { connect, ManualClock } = require('../..');
const { createApp } = require('../../examples/express_app');
const { freePort } = require('./helpers/redisServer');
const { eventually } = require('./helpers/timing');

describe('presets', () => {
  let client;
  let app;
  beforeEach(() => {
    client = connect('memory://', { clock: new ManualClock(1700000000000) });
    app = createApp({ client });
  });
  afterEach(() => client.close());

  const bad = { username: 'demo', password: 'nope' };

  test('login: 5 failed attempts per 15 minutes; a successful login does not count', async () => {
    await request(app).post('/login').send({ username: 'demo', password: 'demo' }).expect(200);
    for (let i = 0; i < 5; i++) {
      const r = await request(app).post('/login').send(bad).expect(401);
      expect(r.headers['ratelimit-policy']).toBe('5;w=900');
    }
    const r = await request(app).post('/login').send(bad).expect(429);
    expect(r.body.error).toBe('too_many_login_attempts');
    expect(r.headers['retry-after']).toBe('900');
  });

  test('password reset: 3 per hour per account, whichever IP asks', async () => {
    for (let i = 0; i < 3; i++) await request(app).post('/password-reset').send({ email: 'A@example.com' }).expect(202);
    const r = await request(app).post('/password-reset').send({ email: 'a@example.com' }).expect(429);
    expect(r.headers['retry-after']).toBe('3600');
    // The per-IP limit (also 3 an hour) is used up by the same requests, so another account is
    // refused from this IP too.
    await request(app).post('/password-reset').send({ email: 'b@example.com' }).expect(429);
  });

  test('API: 100 per 15 minutes per user (per IP when anonymous)', async () => {
    for (let i = 0; i < 100; i++) await request(app).get('/api/items').set('Authorization', 'Bearer u1').expect(200);
    await request(app).get('/api/items').set('Authorization', 'Bearer u1').expect(429);
    const other = await request(app).get('/api/items').set('Authorization', 'Bearer u2').expect(200);
    expect(other.body.rateLimit).toMatchObject({ limit: 100, remaining: 99, key: 'user:u2' });
    const anon = await request(app).get('/api/items').expect(200);
    expect(anon.body.rateLimit.key).toBe('ip:127.0.0.1');
  });

  test('uploads: 20 per minute on top of the API limit', async () => {
    for (let i = 0; i < 20; i++) await request(app).post('/api/uploads').set('Authorization', 'Bearer u3').expect(201);
    const r = await request(app).post('/api/uploads').set('Authorization', 'Bearer u3').expect(429);
    expect(r.body.error).toBe('too_many_uploads');
    expect(r.headers['ratelimit-policy']).toBe('20;w=60');
  });
});

function get(port, pathname, method = 'GET', body) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: pathname, method, headers: { 'content-type': 'application/json' } }, (res) => {
      let data = '';
      res.on('data', (d) => (data += d));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: data }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('node examples/express_app.js serves on PORT and exits on SIGTERM', async () => {
  const port = await freePort();
  const child = spawn(process.execPath, [path.join(__dirname, '..', '..', 'examples', 'express_app.js')], {
    env: { ...process.env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  try {
    await eventually(() => out.includes(`http://localhost:${port}`), 10000);
    const statuses = [];
    for (let i = 0; i < 6; i++) {
      statuses.push((await get(port, '/login', 'POST', JSON.stringify({ username: 'demo', password: 'x' }))).status);
    }
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429]);
    expect(JSON.parse((await get(port, '/health')).body).backend).toBe('memory');
  } finally {
    child.kill('SIGTERM');
  }
  expect(await exited).toBe(0);
}, 20000);

test("'redkeeper/express' resolves through the package exports, from CommonJS and ESM", () => {
  const { spawnSync } = require('child_process');
  const root = path.join(__dirname, '..', '..');
  const cjs = spawnSync(process.execPath, ['-e', "const e = require('redkeeper/express'); console.log(Object.keys(e).sort().join(','))"], { cwd: root, encoding: 'utf8' });
  expect(cjs.stderr).toBe('');
  expect(cjs.stdout.trim()).toBe('RedkeeperStore,SessionStore,byIp,byRoute,byUser,combine,idempotency,ipKey,rateLimit,requireValidToken');
  const esm = spawnSync(process.execPath, ['--input-type=module', '-e', "import { rateLimit, RedkeeperStore, SessionStore, requireValidToken, idempotency } from 'redkeeper/express'; console.log(typeof rateLimit, typeof RedkeeperStore, typeof SessionStore, typeof requireValidToken, typeof idempotency)"], { cwd: root, encoding: 'utf8' });
  expect(esm.stdout.trim()).toBe('function function function function function');
});
