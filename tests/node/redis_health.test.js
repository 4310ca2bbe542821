// ping(), health() and stats() on a Redis client: latency, connection state as the server comes and
// goes, and op / in-flight / error counters that follow what the client really did.
'use strict';

const { connect, RedkeeperError } = require('../..');
const { startRedis } = require('./helpers/redisServer');

let server;
beforeAll(async () => {
  server = await startRedis();
});
afterAll(async () => {
  if (server) await server.stop();
});

test('ping() resolves with the round-trip time in ms; health() reports it', async () => {
  const rk = connect(server.url);
  try {
    const ms = await rk.ping();
    expect(typeof ms).toBe('number');
    expect(ms).toBeGreaterThanOrEqual(0);
    expect(ms).toBeLessThan(1000);
    const health = await rk.health();
    expect(health).toEqual({ backend: 'redis', connected: true, latencyMs: expect.any(Number) });
    expect(health.latencyMs).toBeGreaterThanOrEqual(0);
    expect(health.latencyMs).toBeLessThan(1000);
  } finally {
    await rk.close();
  }
});

test('stats() counts ops, shows them in flight, and counts nothing as an error when all is well', async () => {
  const rk = connect(server.url);
  try {
    await rk.ping();
    const limiter = rk.limiter('health_stats', { limit: 100, window: 60, onError: 'raise' });
    const before = await rk.stats();
    expect(before).toEqual({
      ops: expect.any(Number), errors: 0, timeouts: 0, reconnects: 0, inFlight: 0, keys: expect.any(Number),
      redirects: 0, topologyRefreshes: 0, nodes: 1,
    });
    const N = 500;
    const hits = Array.from({ length: N }, (_, i) => limiter.hit(`k${i % 7}`));
    // Read before any completion can reach this (JS) thread: the ops are still in flight.
    const during = rk.stats();
    const results = await Promise.all(hits);
    expect((await during).inFlight).toBeGreaterThan(0);
    expect(results.filter((r) => r.allowed).length).toBe(N);
    const after = await rk.stats();
    expect(after.ops - before.ops).toBe(N);
    expect(after).toMatchObject({ errors: 0, timeouts: 0, reconnects: 0, inFlight: 0 });
  } finally {
    await rk.close();
  }
});

test('health() follows the server going away and coming back; stats() counts the reconnect', async () => {
  const rk = connect(server.url, { commandTimeoutMs: 300, connectTimeoutMs: 300 });
  try {
    await rk.ping();
    await server.halt();
    // The client notices the closed socket on its own, without an op to fail.
    const deadline = Date.now() + 3000;
    while ((await rk.health()).connected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(await rk.health()).toMatchObject({ backend: 'redis', connected: false });
    const down = await rk.ping().then(() => null, (e) => e);
    expect(down).toBeInstanceOf(RedkeeperError);
    expect(['ERR_RK_CONNECTION', 'ERR_RK_TIMEOUT']).toContain(down.code);
    expect((await rk.stats()).errors).toBeGreaterThan(0);

    await server.start();
    let latency = null;
    while (latency === null && Date.now() < deadline + 5000) {
      latency = await rk.ping().catch(() => null);
      if (latency === null) await new Promise((r) => setTimeout(r, 50));
    }
    expect(latency).toEqual(expect.any(Number));
    expect(await rk.health()).toMatchObject({ connected: true });
    expect((await rk.stats()).reconnects).toBeGreaterThanOrEqual(1);
  } finally {
    await rk.close();
  }
});

test('after close(), health() says disconnected and ping() rejects with ERR_RK_CLOSED', async () => {
  const rk = connect(server.url);
  await rk.ping();
  await rk.close();
  expect(await rk.health()).toMatchObject({ backend: 'redis', connected: false });
  await expect(rk.ping()).rejects.toMatchObject({ code: 'ERR_RK_CLOSED' });
  expect(rk.closed).toBe(true);
});
