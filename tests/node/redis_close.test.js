// close() with hits in flight on Redis: every promise settles at once (ERR_RK_CLOSED), nothing waits
// for the command timeout, later ops reject, and a process that does this exits by itself.
'use strict';

const { execFile } = require('child_process');
const path = require('path');
const { connect, RedkeeperError } = require('../..');
const { startRedis } = require('./helpers/redisServer');

let server;
beforeAll(async () => {
  server = await startRedis();
});
afterAll(async () => {
  if (server) await server.stop();
});

test('close() settles hits that the server is not answering, without waiting for their timeout', async () => {
  const rk = connect(server.url, { commandTimeoutMs: 10000 });
  const limiter = rk.limiter('close_inflight', { limit: 1e6, window: 60, onError: 'raise' });
  const open = rk.limiter('close_inflight_open', { limit: 1e6, window: 60 });
  await limiter.hit('warm');
  // Hold every script reply back, so the hits below are surely written and waiting when close()
  // runs. WRITE mode pauses EVALSHA but still lets our UNPAUSE through afterwards.
  await server.call(['CLIENT', 'PAUSE', '5000', 'WRITE']);
  try {
    const hits = [];
    for (let i = 0; i < 300; i++) hits.push(limiter.hit(`k${i}`), open.hit(`k${i}`), limiter.peek(`k${i}`));
    hits.push(limiter.reset('k0'));
    await new Promise((r) => setTimeout(r, 100));
    expect((await rk.stats()).inFlight).toBeGreaterThan(0);
    const started = Date.now();
    await rk.close();
    const settled = await Promise.allSettled(hits);
    expect(Date.now() - started).toBeLessThan(1000);
    for (const s of settled) {
      expect(s.status).toBe('rejected');
      expect(s.reason).toBeInstanceOf(RedkeeperError);
      // Closing is the caller's own act, not a store failure: even 'open' does not answer degraded.
      expect(s.reason.code).toBe('ERR_RK_CLOSED');
    }
    await expect(limiter.hit('after')).rejects.toMatchObject({ code: 'ERR_RK_CLOSED' });
    await expect(open.hit('after')).rejects.toMatchObject({ code: 'ERR_RK_CLOSED' });
    await rk.close(); // idempotent
  } finally {
    await server.call(['CLIENT', 'UNPAUSE']);
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

test('a process that closes its client with 2000 hits in flight settles them all and exits', async () => {
  const script = `
    const rk = require('redkeeper').connect(${JSON.stringify(server.url)});
    const limiter = rk.limiter('close_proc', { limit: 1e6, window: 60, onError: 'raise' });
    const hits = Array.from({ length: 2000 }, (_, i) => limiter.hit('k' + (i % 50)));
    setImmediate(() => rk.close());
    Promise.allSettled(hits).then((s) => {
      const ok = s.filter((x) => x.status === 'fulfilled').length;
      const closed = s.filter((x) => x.status === 'rejected' && x.reason.code === 'ERR_RK_CLOSED').length;
      console.log(JSON.stringify({ ok, closed, total: s.length }));
    });`;
  const { error, stdout, stderr, ms } = await runNode(script);
  expect({ error: error && String(error), stderr }).toEqual({ error: null, stderr: '' });
  const counts = JSON.parse(stdout.trim());
  expect(counts.total).toBe(2000);
  expect(counts.ok + counts.closed).toBe(2000);
  expect(ms).toBeLessThan(10000);
});

test('a process that never closes its client exits once its hits are done', async () => {
  const script = `
    const rk = require('redkeeper').connect(${JSON.stringify(server.url)});
    const limiter = rk.limiter('close_never', { limit: 1e6, window: 60 });
    Promise.all(Array.from({ length: 500 }, (_, i) => limiter.hit('k' + i))).then((r) =>
      console.log(r.filter((x) => x.allowed && !x.degraded).length));`;
  const { error, stdout, stderr, ms } = await runNode(script);
  expect({ error: error && String(error), stderr }).toEqual({ error: null, stderr: '' });
  expect(stdout.trim()).toBe('500');
  expect(ms).toBeLessThan(10000);
});
