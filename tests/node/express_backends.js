// Shared by the express_*.test.js suites: a memory:// backend (ManualClock) and a private
// redis-server, each handing out clients with a fresh key prefix so tests never share counters.
'use strict';

const { connect, ManualClock } = require('../..');
const { startRedis } = require('./helpers/redisServer');

const START = 1700000000000;

// backend.client() -> a new client (closed by backend.closeAll()); backend.clock is set on memory.
function memoryBackend() {
  const clients = [];
  let n = 0;
  return {
    kind: 'memory',
    clock: undefined,
    async setup() {},
    client(options = {}) {
      this.clock = new ManualClock(START);
      const c = connect('memory://', { clock: this.clock, prefix: `m${n++}`, ...options });
      clients.push(c);
      return c;
    },
    async closeAll() {
      await Promise.all(clients.splice(0).map((c) => c.close()));
    },
    async teardown() {
      await this.closeAll();
    },
  };
}

function redisBackend() {
  const clients = [];
  let n = 0;
  return {
    kind: 'redis',
    clock: undefined,
    server: undefined,
    async setup() {
      this.server = await startRedis();
    },
    client(options = {}) {
      const c = connect(this.server.url, { prefix: `r${process.pid}x${n++}`, commandTimeoutMs: 5000, ...options });
      clients.push(c);
      return c;
    },
    async closeAll() {
      await Promise.all(clients.splice(0).map((c) => c.close()));
    },
    async teardown() {
      await this.closeAll();
      if (this.server) await this.server.stop();
    },
  };
}

const BACKENDS = [
  ['memory://', memoryBackend],
  ['redis', redisBackend],
];

// A fixed window's reset in whole seconds, as a header states it for a window of `fullSeconds`
// whose first hit came after `since` (a Date.now() taken before it): `fullSeconds` while under a
// second of real time has passed, one less per whole second since (a busy box may stall between
// requests; express-rate-limit reads Date.now() even when the client has a ManualClock).
function expectResetSeconds(actual, fullSeconds, since) {
  const n = Number(actual);
  const elapsed = Date.now() - since;
  expect({ actual, integer: Number.isInteger(n) }).toEqual({ actual, integer: true });
  expect({ actual, elapsed, low: n >= fullSeconds - Math.floor(elapsed / 1000), high: n <= fullSeconds })
    .toEqual({ actual, elapsed, low: true, high: true });
}

module.exports = { BACKENDS, START, expectResetSeconds };
