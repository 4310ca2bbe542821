// The Redis path of the binding: completions arrive from the core's I/O thread through the batched
// bridge; every op settles (also on close and while Redis is down); idle clients do not hold the
// process open. Uses a private redis-server from helpers/redisServer.js.
'use strict';

const { execFile, execFileSync } = require('child_process');
const path = require('path');
const { connect } = require('../..');
const { startRedis, freePort } = require('./helpers/redisServer');

let server;
beforeAll(async () => {
  server = await startRedis();
});
afterAll(async () => {
  if (server) await server.stop();
});

test('ping and health over redis://', async () => {
  const rk = connect(server.url);
  try {
    expect(await rk.ping()).toEqual(expect.any(Number));
    expect(await rk.health()).toMatchObject({ backend: 'redis', connected: true });
  } finally {
    await rk.close();
  }
});

test('thousands of concurrent ops all settle', async () => {
  const rk = connect(server.url);
  try {
    const latencies = await Promise.all(Array.from({ length: 5000 }, () => rk.ping()));
    expect(latencies).toHaveLength(5000);
    for (const ms of latencies) expect(ms).toBeGreaterThanOrEqual(0);
  } finally {
    await rk.close();
  }
});

test('a turn that starts many ops sends them in chunks while it runs, not all at its end', async () => {
  // A long timeout: the test blocks the event loop for a while on purpose, and no hit may time out.
  const rk = connect(server.url, { commandTimeoutMs: 20000 });
  const limiter = rk.limiter('chunks', { limit: 1000, window: 60, algorithm: 'fixed_window' });
  const evalshaCalls = () => {
    const info = execFileSync('redis-cli', ['-p', String(server.port), 'INFO', 'commandstats']).toString();
    const m = /cmdstat_evalsha:calls=(\d+)/.exec(info);
    return m ? Number(m[1]) : 0;
  };
  try {
    await limiter.hit('warm'); // connected, script loaded
    const before = evalshaCalls();
    // One synchronous turn: 40 hits, then (still in the turn, the event loop blocked on purpose)
    // wait for Redis to have run the first chunk of 32 (sent when the 33rd hit is made). Without
    // chunks nothing would go out before the turn ends. (The other 8 may follow the first write
    // out: the engine sends what is queued when a write completes.)
    const hits = Array.from({ length: 40 }, () => limiter.hit('k'));
    let midTurn = 0;
    // Bounded, not timed: each look spawns redis-cli, slow on a busy box; it ends at the 32nd call.
    const until = Date.now() + 10000;
    while (Date.now() < until && midTurn < 32) midTurn = evalshaCalls() - before;
    expect(midTurn).toBeGreaterThanOrEqual(32);
    const results = await Promise.all(hits);
    expect(results.map((r) => r.allowed && !r.degraded)).toEqual(Array(40).fill(true));
    expect(results[39].remaining).toBe(1000 - 40);
    expect(evalshaCalls() - before).toBe(40);
  } finally {
    await rk.close();
  }
});

test('close() settles what is in flight, later ops reject with ERR_RK_CLOSED', async () => {
  const rk = connect(server.url);
  await rk.ping();
  const inFlight = Array.from({ length: 200 }, () => rk.ping());
  await rk.close();
  const settled = await Promise.allSettled(inFlight);
  for (const s of settled) {
    if (s.status === 'rejected') expect(s.reason.code).toBe('ERR_RK_CLOSED');
  }
  await expect(rk.ping()).rejects.toMatchObject({ code: 'ERR_RK_CLOSED' });
});

test('ops against an unreachable server reject with a typed error instead of hanging', async () => {
  const port = await freePort();
  const rk = connect(`redis://127.0.0.1:${port}/0`, { connectTimeoutMs: 200, commandTimeoutMs: 300 });
  try {
    const started = Date.now();
    const err = await rk.ping().then(
      () => null,
      (e) => e,
    );
    expect(err).not.toBeNull();
    expect(['ERR_RK_CONNECTION', 'ERR_RK_TIMEOUT']).toContain(err.code);
    expect(Date.now() - started).toBeLessThan(5000);
  } finally {
    await rk.close();
  }
});

function runNode(script) {
  return new Promise((resolve) => {
    const started = Date.now();
    execFile(
      process.execPath,
      ['-e', script],
      { cwd: path.resolve(__dirname, '..', '..'), timeout: 15000 },
      (error, stdout, stderr) => resolve({ error, stdout, stderr, ms: Date.now() - started }),
    );
  });
}

test('a process whose client is idle exits on its own, closed or not', async () => {
  for (const close of [true, false]) {
    const script = `
      const rk = require('redkeeper').connect(${JSON.stringify(server.url)});
      rk.ping().then(async (ms) => {
        ${close ? 'await rk.close();' : ''}
        console.log('pinged');
      });`;
    const { error, stdout, stderr, ms } = await runNode(script);
    expect({ error: error && String(error), stderr }).toEqual({ error: null, stderr: '' });
    expect(stdout.trim()).toBe('pinged');
    expect(ms).toBeLessThan(10000);
  }
});
