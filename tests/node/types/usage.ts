// Compiled (never run) by tests/node/types.test.js: every public API used the way the README shows,
// so a wrong or missing declaration in node/*.d.ts fails the test suite.
import { connect, RedkeeperError } from 'redkeeper';
import type { Client, LimitResult } from 'redkeeper';
import { rateLimit, SessionStore, requireValidToken, idempotency } from 'redkeeper/express';

async function main(rk: Client): Promise<void> {
  const login = rk.limiter('login', { limit: 5, window: '15m' });
  const r: LimitResult = await login.hit('1.2.3.4');
  const remaining: number = r.remaining;

  const tokens = rk.tokens.withOptions({ maxLifetimeMs: '7 days' });
  const revoked: boolean = await tokens.isRevoked('a.b.c');
  await rk.tokens.revoke('a.b.c');
  await rk.tokens.revokeUser('42', 'password changed');
  const claims = await rk.tokens.check('a.b.c');
  const version: number = await rk.tokenVersions.bump('42');
  const ok: boolean = await rk.tokenVersions.verify('42', version);

  const sid: string = await rk.sessions.create({ cart: [1, 2] }, { userId: '42' });
  const data = await rk.sessions.get(sid);
  await rk.sessions.update(sid, { theme: 'dark' });
  const devices = await rk.sessions.listUser('42');
  const newId = await rk.sessions.rotate(sid);
  const destroyed: number = await rk.sessions.destroyUser('42', { exceptId: newId ?? undefined });

  const cache = rk.cache('products', { ttlMs: '5m' });
  await cache.set('p1', { name: 'pen' }, { ttlMs: 60_000, tags: ['catalog'] });
  const p = await cache.get<{ name: string }>('p1');
  const loaded = await cache.getOrSet('p2', async () => ({ name: 'ink' }), { ttlMs: 60_000 });
  await cache.invalidateTag('catalog');
  const hits: number = (await cache.stats()).hits;

  const lock = rk.lock('nightly-report', { ttlMs: 10_000, waitMs: 2_000 });
  const fence: number = await lock.using(async (lk) => lk.fencingToken ?? -1);

  const begun = await rk.idempotency.begin('order-1', 'sha256-of-body');
  const once = await rk.idempotency.once('evt_1', async () => 'sent');

  const issued = await rk.otp.issue('user@example.com', { ttlMs: 300_000 });
  const verified = await rk.otp.verify('user@example.com', '123456');

  const middlewares = [
    rateLimit({ client: rk, windowMs: 60_000, limit: 100 }),
    requireValidToken({ client: rk }),
    idempotency({ client: rk }),
  ];
  const store = new SessionStore({ client: rk, ttl: 3600 });
  console.log(remaining, revoked, claims, ok, data, devices, destroyed, p, loaded, hits, fence, begun, once,
              issued, verified, middlewares.length, store);
}

// Redis Cluster: a seed list URL, or a plain URL with the cluster option; the cluster counters.
async function cluster(): Promise<number> {
  const seeds = connect('redis+cluster://127.0.0.1:7000,127.0.0.1:7001', { clusterRefreshMs: 0 });
  const seeded = connect('redis://127.0.0.1:7000', { cluster: true, clusterRefreshMs: 10_000 });
  const { redirects, topologyRefreshes, nodes } = await seeds.stats();
  await Promise.all([seeds.close(), seeded.close()]);
  return redirects + topologyRefreshes + nodes;
}

const rk = connect('memory://');
void cluster;
main(rk).catch((err: unknown) => {
  if (err instanceof RedkeeperError) console.error(err.code);
}).finally(() => rk.close());
