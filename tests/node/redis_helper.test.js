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
