// The middleware's store calls: one limit through Limiter.hit, several through the client's
// all-or-nothing hitMany (one round trip), and the refunds skip* options ask for after a response.
'use strict';

// outcome: { allowed, results: LimitResult[] (one per check), deciding: index of the result whose
// headers the response carries (the first rejecting one, else the one with the least remaining) }.
function fromSingle(result) {
  return { allowed: result.allowed, results: [result], deciding: 0 };
}

function fromMany(m) {
  return { allowed: m.allowed, results: m.results, deciding: m.decidingIndex };
}

function hitAll(client, checks, single) {
  if (single) {
    const c = checks[0];
    return c.limiter.hit(c.key, c.cost === 1 ? undefined : { cost: c.cost }).then(fromSingle);
  }
  return client.hitMany(checks).then(fromMany);
}

function refundAll(checks) {
  return Promise.all(checks.map((c) => c.limiter.refund(c.key, c.cost)));
}

module.exports = { hitAll, refundAll };
