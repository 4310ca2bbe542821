// Transports and handshakes from Node: TLS (certificates made here with the openssl CLI), a unix
// socket with ?db=N, ACL users and passwords, and the typed errors for a wrong CA, a wrong password,
// a wrong db and a port with no server.
'use strict';

const { execFileSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { connect, RedkeeperError } = require('../..');
const { startRedis, freePort } = require('./helpers/redisServer');

const FAST = { connectTimeoutMs: 1000, commandTimeoutMs: 1000 };

let tmp;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'redkeeper-transport-'));
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

async function failure(promise) {
  const started = Date.now();
  try {
    const value = await promise;
    return { value, ms: Date.now() - started };
  } catch (error) {
    return { error, ms: Date.now() - started };
  }
}

// Every way an unusable server shows up: ping rejects, a 'raise' hit rejects, an 'open' hit answers
// degraded, health() says not connected. Always the same code, quickly, never the password.
async function expectUnusable(url, options, code, messagePattern, secret) {
  const rk = connect(url, { ...FAST, ...options });
  try {
    const ping = await failure(rk.ping());
    expect(ping.error).toBeInstanceOf(RedkeeperError);
    expect(ping.error.code).toBe(code);
    expect(ping.error.message).toMatch(messagePattern);
    if (secret) expect(ping.error.message).not.toContain(secret);
    expect(ping.ms).toBeLessThan(3000);

    const raise = rk.limiter('transport', { limit: 10, window: 60, onError: 'raise' });
    const hit = await failure(raise.hit('k'));
    expect(hit.error).toBeInstanceOf(RedkeeperError);
    expect(hit.error.code).toBe(code);
    expect(hit.ms).toBeLessThan(3000);

    const open = rk.limiter('transport_open', { limit: 10, window: 60 });
    expect(await open.hit('k')).toMatchObject({ allowed: true, degraded: true });

    expect(await rk.health()).toMatchObject({ backend: 'redis', connected: false });
    const stats = await rk.stats();
    expect(stats.errors).toBeGreaterThanOrEqual(3);
  } finally {
    await rk.close();
  }
}

async function expectWorks(url, options) {
  const rk = connect(url, { ...FAST, ...options });
  try {
    expect(await rk.ping()).toEqual(expect.any(Number));
    // fixed_window: a sliding window's minute boundary passed between the hits would let the third in.
    const limiter = rk.limiter('transport', { limit: 2, window: 60, algorithm: 'fixed_window', onError: 'raise' });
    expect(await limiter.hit('k')).toMatchObject({ allowed: true, remaining: 1, degraded: false });
    expect(await limiter.hit('k')).toMatchObject({ allowed: true, remaining: 0, degraded: false });
    expect(await limiter.hit('k')).toMatchObject({ allowed: false, remaining: 0, degraded: false });
    await limiter.reset('k');
    expect(await rk.health()).toMatchObject({ backend: 'redis', connected: true });
  } finally {
    await rk.close();
  }
}

describe('TLS (rediss://)', () => {
  let server;
  let tlsPort;
  const file = (name) => path.join(tmp, name);

  function openssl(args) {
    execFileSync('openssl', args, { stdio: 'pipe' });
  }

  function makeCa(name) {
    openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', `/CN=${name}`,
      '-keyout', file(`${name}.key`), '-out', file(`${name}.crt`)]);
  }

  beforeAll(async () => {
    makeCa('test-ca');
    makeCa('other-ca');
    openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost',
      '-keyout', file('server.key'), '-out', file('server.csr')]);
    fs.writeFileSync(file('server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
    openssl(['x509', '-req', '-in', file('server.csr'), '-CA', file('test-ca.crt'), '-CAkey', file('test-ca.key'),
      '-CAcreateserial', '-days', '2', '-extfile', file('server.ext'), '-out', file('server.crt')]);
    server = await startRedis({
      // Picked per start attempt: startRedis starts again on fresh ports when one was taken.
      args: async () => {
        tlsPort = await freePort();
        return ['--tls-port', String(tlsPort), '--tls-cert-file', file('server.crt'), '--tls-key-file', file('server.key'),
          '--tls-ca-cert-file', file('test-ca.crt'), '--tls-auth-clients', 'no'];
      },
    });
  }, 30000);
  afterAll(async () => {
    if (server) await server.stop();
  });

  test('verification on with the right CA (as a path and as PEM contents) works', async () => {
    await expectWorks(`rediss://127.0.0.1:${tlsPort}/0`, { tls: { ca: file('test-ca.crt') } });
    await expectWorks(`rediss://127.0.0.1:${tlsPort}/0`, { tls: { ca: fs.readFileSync(file('test-ca.crt')) } });
  });

  test('a certificate from another CA is refused with ERR_RK_CONNECTION', async () => {
    await expectUnusable(`rediss://127.0.0.1:${tlsPort}/0`, { tls: { ca: file('other-ca.crt') } },
      'ERR_RK_CONNECTION', /certificate|verify|handshake|tls|ssl/i);
  });

  test('a server name the certificate does not carry is refused', async () => {
    await expectUnusable(`rediss://127.0.0.1:${tlsPort}/0`, { tls: { ca: file('test-ca.crt'), servername: 'db.example.com' } },
      'ERR_RK_CONNECTION', /certificate|verify|handshake|tls|ssl|name/i);
  });

  test('rejectUnauthorized: false connects despite the unknown CA', async () => {
    await expectWorks(`rediss://127.0.0.1:${tlsPort}/0`, { tls: { ca: file('other-ca.crt'), rejectUnauthorized: false } });
  });

  test('plain redis:// against the TLS port does not hang', async () => {
    const rk = connect(`redis://127.0.0.1:${tlsPort}/0`, FAST);
    try {
      const r = await failure(rk.ping());
      expect(r.error).toBeInstanceOf(RedkeeperError);
      expect(['ERR_RK_CONNECTION', 'ERR_RK_TIMEOUT', 'ERR_RK_PROTOCOL']).toContain(r.error.code);
      expect(r.ms).toBeLessThan(3000);
    } finally {
      await rk.close();
    }
  });
});

describe('unix socket', () => {
  let server;
  let socketPath;
  beforeAll(async () => {
    socketPath = path.join(tmp, 'redis.sock');
    server = await startRedis({ unixSocket: socketPath });
  });
  afterAll(async () => {
    if (server) await server.stop();
  });

  test('unix:///path?db=N works and writes into db N', async () => {
    await server.call(['FLUSHALL']);
    const rk = connect(`unix://${socketPath}?db=3`, FAST);
    try {
      const limiter = rk.limiter('unixdb', { limit: 5, window: 60, onError: 'raise' });
      expect(await limiter.hit('k')).toMatchObject({ allowed: true, remaining: 4, degraded: false });
    } finally {
      await rk.close();
    }
    expect(await server.call(['DBSIZE'], { db: 3 })).toBe(1);
    expect(await server.call(['DBSIZE'], { db: 0 })).toBe(0);
  });

  test('a socket path with no server is ERR_RK_CONNECTION', async () => {
    await expectUnusable(`unix://${path.join(tmp, 'nobody.sock')}`, {}, 'ERR_RK_CONNECTION', /nobody\.sock|connect/i);
  });
});

describe('authentication and databases', () => {
  let server;
  let base;
  beforeAll(async () => {
    server = await startRedis({
      auth: ['default-secret'],
      args: ['--requirepass', 'default-secret', '--user', 'alice', 'on', '>alice-secret', '~rk:*', '&*', '+@all'],
    });
    base = `127.0.0.1:${server.port}`;
  });
  afterAll(async () => {
    if (server) await server.stop();
  });

  test('an ACL user (redis://user:pass@) works', async () => {
    await expectWorks(`redis://alice:alice-secret@${base}/0`);
  });

  test('a password alone authenticates the default user', async () => {
    await expectWorks(`redis://:default-secret@${base}/0`);
  });

  test('a wrong password is ERR_RK_CONNECTION naming AUTH, without the password', async () => {
    await expectUnusable(`redis://alice:not-her-secret@${base}/0`, {}, 'ERR_RK_CONNECTION', /AUTH|WRONGPASS/, 'not-her-secret');
  });

  test('no password on a server that requires one is ERR_RK_CONNECTION', async () => {
    await expectUnusable(`redis://${base}/0`, {}, 'ERR_RK_CONNECTION', /NOAUTH|auth/i);
  });

  test('a db index the server does not have is ERR_RK_CONNECTION naming SELECT', async () => {
    await expectUnusable(`redis://:default-secret@${base}/99`, {}, 'ERR_RK_CONNECTION', /SELECT|DB index/);
  });

  test('a port with no server is ERR_RK_CONNECTION', async () => {
    const port = await freePort();
    await expectUnusable(`redis://127.0.0.1:${port}/0`, {}, 'ERR_RK_CONNECTION', /connect|refused/i);
  });
});
