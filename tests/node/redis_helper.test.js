// The redis-server helper later Redis tests rely on: it starts on a free non-default port, answers,
// and is gone after stop().
'use strict';

const { startRedis } = require('./helpers/redisServer');

test('startRedis runs a private server and stop() ends it', async () => {
  const server = await startRedis();
  expect(server.port).not.toBe(6379);
  expect(await server.command('PING')).toBe('+PONG');
  expect(await server.command('SET rk:helper 1')).toBe('+OK');
  expect(await server.command('GET rk:helper')).toBe('$1');
  await server.stop();
  await expect(server.command('PING')).rejects.toThrow();
});

// A port picked free can be bound by another test's server before ours binds it; that server
// answers PING too. The helper must not hand it out as ours (CI once ran a cluster fixture's
// CLUSTER commands against such a stranger: "cluster support disabled").
test("startRedis never mistakes another server on its port for its own", async () => {
  const stranger = await startRedis();
  try {
    await expect(startRedis({ port: stranger.port, startTimeoutMs: 3000 })).rejects.toThrow(/exited early|Address already in use/);
    expect(await stranger.command('PING')).toBe('+PONG');
  } finally {
    await stranger.stop();
  }
});

test('a start that finds a port taken starts again on fresh ports, calling an args function anew', async () => {
  const stranger = await startRedis();
  let calls = 0;
  // The first attempt's args point it at the stranger's port (redis-server takes the last --port).
  const server = await startRedis({ args: () => (++calls === 1 ? ['--port', String(stranger.port)] : []) });
  try {
    expect(calls).toBe(2);
    expect(server.port).not.toBe(stranger.port);
    expect(await server.command('PING')).toBe('+PONG');
    expect(await stranger.command('PING')).toBe('+PONG');
  } finally {
    await server.stop();
    await stranger.stop();
  }
});
