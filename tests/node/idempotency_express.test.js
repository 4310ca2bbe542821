// require('redkeeper/express').idempotency through a real Express app (supertest) on memory:// and
// Redis: replay with status, headers and body; 409 for a concurrent duplicate; 422 for another
// payload; thrown errors and 5xx release the key; scope per user; methods and header bounds.
'use strict';

const http = require('http');
const express = require('express');
const request = require('supertest');
const { connect } = require('../..');
const { idempotency } = require('../../node/express');
const { startRedis, delay } = require('./helpers/redisServer');
const { eventually } = require('./helpers/timing');

let server;
let counter = 0;

beforeAll(async () => { server = await startRedis(); }, 30000);
afterAll(async () => { if (server) await server.stop(); });

function open(backend) {
  counter += 1;
  const prefix = `je${process.pid}x${counter}`;
  return backend === 'memory' ? connect('memory://', { prefix }) : connect(server.url, { prefix });
}

// A small API whose handlers count their runs.
function makeApp(rk, options) {
  const state = { runs: [], gate: null, failNext: 0, closed: 0 };
  const app = express();
  app.use(express.json());
  app.use(express.raw({ type: 'application/octet-stream' }));
  app.use(idempotency({ client: rk, ...options }));
  app.post('/orders', async (req, res, next) => {
    state.runs.push('orders');
    if (state.gate) await state.gate;
    if (state.failNext > 0) {
      state.failNext -= 1;
      next(new Error('database went away'));
      return;
    }
    res.status(201).set('X-Order', String(state.runs.length)).json({ id: state.runs.length, item: req.body.item });
  });
  app.post('/throws', (req, res) => {
    state.runs.push('throws');
    if (state.runs.length === 1) throw new Error('boom');
    res.json({ ok: true });
  });
  app.post('/flaky', (req, res) => {
    state.runs.push('flaky');
    if (state.runs.length === 1) res.status(503).send('try again');
    else res.status(200).send('fine');
  });
  app.post('/bad', (req, res) => {
    state.runs.push('bad');
    res.status(402).json({ error: 'invalid card' });
  });
  app.post('/blob', (req, res) => {
    state.runs.push('blob');
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'X-Multi': 'a' });
    res.write(Buffer.from([0, 1, 2]));
    res.write('text', 'utf8');
    res.end(Buffer.from([255]));
  });
  app.post('/cookie', (req, res) => {
    state.runs.push('cookie');
    res.cookie('a', '1').cookie('b', '2').json({ ok: true });
  });
  app.post('/slow', async (req, res) => {
    state.runs.push('slow');
    res.on('close', () => { state.closed += 1; });
    if (state.gate) await state.gate;
    res.json({ run: state.runs.length });
  });
  app.put('/orders/1', (req, res) => {
    state.runs.push('put');
    res.json({ n: state.runs.length });
  });
  // Express' default error handler answers 500 for next(err) and thrown errors.
  app.use((err, req, res, _next) => { res.status(500).json({ error: err.message }); });
  return { app, state };
}

describe.each(['memory', 'redis'])('idempotency() on %s', (backend) => {
  let rk;
  beforeEach(() => { rk = open(backend); });
  afterEach(async () => { await rk.close(); });

  test('a retry replays status, headers and body', async () => {
    const { app, state } = makeApp(rk);
    const first = await request(app).post('/orders').set('Idempotency-Key', 'k1').send({ item: 'book' });
    expect(first.status).toBe(201);
    expect(first.body).toEqual({ id: 1, item: 'book' });
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    const retry = await request(app).post('/orders').set('Idempotency-Key', 'k1').send({ item: 'book' });
    expect(retry.status).toBe(201);
    expect(retry.text).toBe(first.text);
    expect(retry.headers['x-order']).toBe('1');
    expect(retry.headers['content-type']).toBe(first.headers['content-type']);
    expect(retry.headers['idempotent-replayed']).toBe('true');
    expect(state.runs).toEqual(['orders']);
    const other = await request(app).post('/orders').set('Idempotency-Key', 'k2').send({ item: 'book' });
    expect(other.body.id).toBe(2);
  });

  test('the same key with another payload is 422', async () => {
    const { app, state } = makeApp(rk);
    expect((await request(app).post('/orders').set('Idempotency-Key', 'k').send({ item: 'a' })).status).toBe(201);
    expect((await request(app).post('/orders').set('Idempotency-Key', 'k').send({ item: 'b' })).status).toBe(422);
    expect((await request(app).post('/orders?x=1').set('Idempotency-Key', 'k').send({ item: 'a' })).status).toBe(422);
    expect(state.runs).toEqual(['orders']);
  });

  test('a concurrent duplicate is 409, then the stored response replays', async () => {
    const { app, state } = makeApp(rk);
    let release;
    state.gate = new Promise((r) => { release = r; });
    const first = request(app).post('/orders').set('Idempotency-Key', 'slow').send({ item: 'x' }).then((r) => r);
    // The duplicate must arrive while the first is inside its handler: wait for that (bounded).
    await eventually(() => state.runs.length > 0, 5000);
    expect(state.runs).toEqual(['orders']);
    const dup = await request(app).post('/orders').set('Idempotency-Key', 'slow').send({ item: 'x' });
    expect(dup.status).toBe(409);
    expect(Number(dup.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    release();
    expect((await first).status).toBe(201);
    const replay = await request(app).post('/orders').set('Idempotency-Key', 'slow').send({ item: 'x' });
    expect(replay.status).toBe(201);
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(state.runs).toEqual(['orders']);
  });

  test('errors release the key so a retry runs', async () => {
    const { app, state } = makeApp(rk);
    state.failNext = 1;
    const failed = await request(app).post('/orders').set('Idempotency-Key', 'k').send({ item: 'y' });
    expect(failed.status).toBe(500);
    const ok = await request(app).post('/orders').set('Idempotency-Key', 'k').send({ item: 'y' });
    expect(ok.status).toBe(201);
    expect(ok.headers['idempotent-replayed']).toBeUndefined();
    expect(state.runs).toEqual(['orders', 'orders']);
  });

  test('a thrown error releases the key', async () => {
    const { app, state } = makeApp(rk);
    expect((await request(app).post('/throws').set('Idempotency-Key', 't')).status).toBe(500);
    expect((await request(app).post('/throws').set('Idempotency-Key', 't')).status).toBe(200);
    const third = await request(app).post('/throws').set('Idempotency-Key', 't');
    expect(third.headers['idempotent-replayed']).toBe('true');
    expect(state.runs).toEqual(['throws', 'throws']);
  });

  test('a client that goes away before the answer frees the key', async () => {
    const { app, state } = makeApp(rk);
    let release;
    state.gate = new Promise((r) => { release = r; });
    const listener = app.listen(0, '127.0.0.1');
    await new Promise((r) => listener.once('listening', r));
    try {
      // The client hangs up once the handler runs; the server sees the close while the handler still
      // waits, and only then lets it finish.
      const req = http.request({ port: listener.address().port, host: '127.0.0.1', method: 'POST', path: '/slow',
        headers: { 'Idempotency-Key': 'gone', 'Content-Length': 0 } });
      req.on('error', () => {});
      req.end();
      for (let i = 0; i < 500 && state.runs.length === 0; i += 1) await delay(10);
      req.destroy();
      for (let i = 0; i < 500 && state.closed === 0; i += 1) await delay(10);
      expect(state.closed).toBe(1);
    } finally {
      listener.close();
    }
    state.gate = null;
    release();
    // The abort's release is asynchronous: a client retrying on 409 gets in once it has landed.
    let retry;
    for (let i = 0; i < 100; i += 1) {
      retry = await request(app).post('/slow').set('Idempotency-Key', 'gone');
      if (retry.status !== 409) break;
      await delay(10);
    }
    expect(retry.status).toBe(200);
    expect(retry.headers['idempotent-replayed']).toBeUndefined();
    expect(state.runs).toEqual(['slow', 'slow']);
  });

  test('5xx is not stored, 4xx is', async () => {
    const { app, state } = makeApp(rk);
    expect((await request(app).post('/flaky').set('Idempotency-Key', 'f')).status).toBe(503);
    const second = await request(app).post('/flaky').set('Idempotency-Key', 'f');
    expect(second.status).toBe(200);
    expect(second.text).toBe('fine');
    const third = await request(app).post('/flaky').set('Idempotency-Key', 'f');
    expect(third.text).toBe('fine');
    expect(third.headers['idempotent-replayed']).toBe('true');
    expect(state.runs).toEqual(['flaky', 'flaky']);
    const declined = await request(app).post('/bad').set('Idempotency-Key', 'b');
    const replayed = await request(app).post('/bad').set('Idempotency-Key', 'b');
    expect(declined.status).toBe(402);
    expect(replayed.status).toBe(402);
    expect(replayed.body).toEqual({ error: 'invalid card' });
    expect(state.runs.filter((r) => r === 'bad')).toHaveLength(1);
  });

  test('writeHead + write + end bodies replay byte for byte; multi-valued headers survive', async () => {
    const { app, state } = makeApp(rk);
    const want = Buffer.concat([Buffer.from([0, 1, 2]), Buffer.from('text'), Buffer.from([255])]);
    const binary = (res, cb) => {
      const parts = [];
      res.on('data', (c) => parts.push(c));
      res.on('end', () => cb(null, Buffer.concat(parts)));
    };
    const a = await request(app).post('/blob').set('Idempotency-Key', 'bin').buffer(true).parse(binary);
    const b = await request(app).post('/blob').set('Idempotency-Key', 'bin').buffer(true).parse(binary);
    expect(Buffer.compare(a.body, want)).toBe(0);
    expect(Buffer.compare(b.body, want)).toBe(0);
    expect(b.headers['x-multi']).toBe('a');
    expect(b.headers['content-length']).toBe(String(want.length));
    const c1 = await request(app).post('/cookie').set('Idempotency-Key', 'c');
    const c2 = await request(app).post('/cookie').set('Idempotency-Key', 'c');
    expect(c2.headers['set-cookie']).toEqual(c1.headers['set-cookie']);
    expect(c2.headers['set-cookie']).toHaveLength(2);
    expect(state.runs).toEqual(['blob', 'cookie']);
  });

  test('only configured methods, only requests with the header', async () => {
    const { app, state } = makeApp(rk);
    await request(app).put('/orders/1').set('Idempotency-Key', 'p');
    await request(app).put('/orders/1').set('Idempotency-Key', 'p');
    await request(app).post('/orders').send({ item: 'z' });
    await request(app).post('/orders').send({ item: 'z' });
    expect(state.runs).toEqual(['put', 'put', 'orders', 'orders']);
    const other = makeApp(rk, { methods: ['PUT'], name: 'puts' });
    const a = await request(other.app).put('/orders/1').set('Idempotency-Key', 'p');
    const b = await request(other.app).put('/orders/1').set('Idempotency-Key', 'p');
    expect(b.body).toEqual(a.body);
    expect(other.state.runs).toEqual(['put']);
  });

  test('bad keys are 400; scope keeps users apart', async () => {
    const { app, state } = makeApp(rk, { scope: (req) => req.headers['x-user'] });
    expect((await request(app).post('/orders').set('Idempotency-Key', 'k'.repeat(256)).send({ item: 'z' })).status).toBe(400);
    expect(state.runs).toEqual([]);
    const a = await request(app).post('/orders').set('Idempotency-Key', 'k').set('X-User', 'alice').send({ item: 'q' });
    const b = await request(app).post('/orders').set('Idempotency-Key', 'k').set('X-User', 'bob').send({ item: 'q' });
    expect(a.body.id).toBe(1);
    expect(b.body.id).toBe(2);
  });
});

test('options are checked', () => {
  const bad = { code: 'ERR_RK_INVALID_ARGUMENT' };
  expect(() => idempotency({})).toThrow(expect.objectContaining(bad));
  const rk = connect('memory://');
  try {
    expect(() => idempotency({ client: rk, lockTtlMs: -1 })).toThrow(expect.objectContaining(bad));
    expect(() => idempotency({ client: rk, maxKeyLength: 0 })).toThrow(expect.objectContaining(bad));
    expect(() => idempotency({ client: rk, colour: 'red' })).toThrow(expect.objectContaining(bad));
    expect(() => idempotency({ client: rk, scope: 'user' })).toThrow(expect.objectContaining(bad));
  } finally {
    rk.close();
  }
});
