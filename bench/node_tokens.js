// Benchmark: rk.tokens.isRevoked on Redis against the straightforward ioredis implementation apps
// write (decode the JWT payload, EXISTS the denylist key, GET the user's revoke-all instant: two
// awaits), on one private redis-server started here, in one run. Closed loop at concurrency 1 and
// 64, rounds interleaved so background load hits both alike, median ops/s, ratio ours / ioredis.
// Both sides are checked to give the same answer for every token before timing.
// Usage: node bench/node_tokens.js [--seconds S] [--rounds R] [--tokens N]
'use strict';

const crypto = require('crypto');
const Redis = require('ioredis');
const { connect } = require('..');
const { startRedis } = require('../tests/node/helpers/redisServer');

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

const SECRET = 'bench-secret';
const b64 = (s) => Buffer.from(s).toString('base64url');
function makeJwt(claims) {
  const input = `${b64('{"alg":"HS256","typ":"JWT"}')}.${b64(JSON.stringify(claims))}`;
  return `${input}.${crypto.createHmac('sha256', SECRET).update(input).digest('base64url')}`;
}

// What an app writes with ioredis: decode, then EXISTS + GET (fail closed on errors).
class IoredisDenylist {
  constructor(redis) { this.redis = redis; }
  static claims(token) {
    const parts = token.split('.');
    if (parts.length !== 3) throw new Error('malformed');
    return JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
  }
  async revoke(token) {
    const c = IoredisDenylist.claims(token);
    await this.redis.set(`bl:${c.jti}`, '1', 'EX', Math.max(1, c.exp - Math.floor(Date.now() / 1000)));
  }
  async revokeUser(sub) { await this.redis.set(`revoked_before:${sub}`, String(Date.now())); }
  async isRevoked(token) {
    const c = IoredisDenylist.claims(token);
    try {
      if (await this.redis.exists(`bl:${c.jti}`)) return true;
      const before = await this.redis.get(`revoked_before:${c.sub}`);
      return before !== null && c.iat * 1000 < Number(before);
    } catch (err) {
      return true;
    }
  }
}

async function measure(fn, tokens, concurrency, seconds) {
  const stop = performance.now() + seconds * 1000;
  let count = 0;
  async function worker(offset) {
    let i = offset;
    while (performance.now() < stop) {
      for (let k = 0; k < 50; k++) {
        await fn(tokens[i % tokens.length]);
        i++;
      }
      count += 50;
    }
  }
  const start = performance.now();
  await Promise.all(Array.from({ length: concurrency }, (_, k) => worker(k * 7919)));
  return count / ((performance.now() - start) / 1000);
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main() {
  const seconds = arg('seconds', 2);
  const rounds = arg('rounds', 3);
  const n = arg('tokens', 1000);
  const server = await startRedis();
  const rk = connect(server.url, { prefix: 'bench' });
  const redis = new Redis(server.url);
  const peer = new IoredisDenylist(redis);
  try {
    const now = Math.floor(Date.now() / 1000);
    const tokens = Array.from({ length: n }, (_, i) => makeJwt({ sub: `user${i % 100}`, jti: `jti-${i}`, iat: now - 60, exp: now + 3600 }));
    for (const t of tokens.filter((_, i) => i % 10 === 0)) {
      await rk.tokens.revoke(t);
      await peer.revoke(t);
    }
    await rk.tokens.revokeUser('user7');
    await peer.revokeUser('user7');
    let revoked = 0;
    for (const t of tokens) {
      const [a, b] = [await rk.tokens.isRevoked(t), await peer.isRevoked(t)];
      if (a !== b) throw new Error('the two implementations disagree');
      revoked += a ? 1 : 0;
    }
    console.log(`${revoked} of ${n} tokens revoked on both sides; node ${process.version}`);
    const ours = (t) => rk.tokens.isRevoked(t);
    const theirs = (t) => peer.isRevoked(t);
    for (const concurrency of [1, 64]) {
      const a = [];
      const b = [];
      for (let r = 0; r < rounds; r++) {
        a.push(await measure(ours, tokens, concurrency, seconds));
        b.push(await measure(theirs, tokens, concurrency, seconds));
      }
      const ma = median(a);
      const mb = median(b);
      console.log(`concurrency ${String(concurrency).padStart(2)}: redkeeper isRevoked ${ma.toFixed(0).padStart(9)} ops/s   ` +
                  `ioredis EXISTS+GET ${mb.toFixed(0).padStart(9)} ops/s   ratio ${(ma / mb).toFixed(2)}x`);
    }
  } finally {
    redis.disconnect();
    await rk.close();
    await server.stop();
  }
}

main().catch((err) => { console.error(err); process.exit(1); });
