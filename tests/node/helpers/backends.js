// One private redis-server and one local Redis Cluster per test file, for suites run on 'memory',
// 'redis' and 'cluster': started before the file's tests, stopped after them.
'use strict';

const { startRedis } = require('./redisServer');
const { startCluster } = require('./redisCluster');

// Call at a test file's top level; `startTimeoutMs` bounds the start (jest's default otherwise).
function useRedisBackends(startTimeoutMs) {
  const backends = {
    server: undefined,
    cluster: undefined,
    // The connect() URL of a backend name.
    url(backend) {
      return { memory: 'memory://', redis: backends.server.url, cluster: backends.cluster.url }[backend];
    },
  };
  beforeAll(async () => {
    [backends.server, backends.cluster] = await Promise.all([startRedis(), startCluster()]);
  }, startTimeoutMs);
  afterAll(async () => {
    if (backends.server) await backends.server.stop();
    if (backends.cluster) await backends.cluster.stop();
  });
  return backends;
}

module.exports = { useRedisBackends };
