// The middleware's store calls: one limit through Limiter.hit, several through the client's
// all-or-nothing hitMany (one round trip), and the refunds skip* options ask for after a response.
'use strict';

// outcome: { allowed, results: LimitResult[] (one per check), deciding: index of the result whose
// headers the response carries (the first rejecting one, else the one with the least remaining) }.
function fromSingle(result) {
  return { allowed: result.allowed, results: [result], deciding: 0 };
}

function hitAll(client, checks, single) {
  if (single) {
    const c = checks[0];
    return c.limiter.hit(c.key, c.cost === 1 ? undefined : { cost: c.cost }).then(fromSingle);
  }
  if (typeof client.hitMany === 'function') {
    return client
      .hitMany(checks.map((c) => ({ limiter: c.limiter, key: c.key, cost: c.cost })))
      .then((m) => ({ allowed: m.allowed, results: m.results, deciding: m.decidingIndex }));
  }
  return hitInTurn(checks);
}

// For builds without Client.hitMany: hit in turn, give back on the first rejection and peek the
// rest. Same outcome when nothing races, but several round trips and not atomic.
async function hitInTurn(checks) {
  const results = [];
  let rejectedAt = -1;
  for (let i = 0; i < checks.length; i++) {
    const c = checks[i];
    if (rejectedAt !== -1) {
      results.push(await c.limiter.peek(c.key));
      continue;
    }
    const r = await c.limiter.hit(c.key, { cost: c.cost });
    results.push(r);
    if (!r.allowed) rejectedAt = i;
  }
  if (rejectedAt !== -1) {
    for (let i = 0; i < rejectedAt; i++) results[i] = await checks[i].limiter.refund(checks[i].key, checks[i].cost);
    return { allowed: false, results, deciding: rejectedAt };
  }
  let deciding = 0;
  results.forEach((r, i) => {
    if (r.remaining < results[deciding].remaining) deciding = i;
  });
  return { allowed: true, results, deciding };
}

function refundAll(checks) {
  return Promise.all(checks.map((c) => c.limiter.refund(c.key, c.cost)));
}

function supportsLocalBlockCache(client) {
  try {
    client.limiter('rk-probe', { limit: 1, windowMs: 1000, localBlockCache: 1 });
    return true;
  } catch (err) {
    return false;
  }
}

module.exports = { hitAll, refundAll, supportsLocalBlockCache };
