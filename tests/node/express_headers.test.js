// The middleware renders its headers in JS (a native call per request cost more than the rest of
// the middleware); this holds those strings to the core's render_headers(), the reference, for
// many results, policies, drafts and instants.
'use strict';

const { renderHeaders } = require('../..');
const { render, policyOf } = require('../../node/lib/express/headers');

// Deterministic PRNG so a failure reproduces.
function rng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

test('render() equals the core rendering for 5000 random cases', () => {
  const rand = rng(12345);
  const pick = (list) => list[Math.floor(rand() * list.length)];
  const int = (max) => Math.floor(rand() * max);
  for (let i = 0; i < 5000; i++) {
    const limit = pick([1, 5, 100, 1000000, 1 + int(5000)]);
    const windowMs = pick([1, 999, 1000, 1001, 60000, 900000, 86400000, 1 + int(10000000)]);
    const name = pick(['api', 'login', '5-in-15min', 'a.b_c-d']);
    const allowed = rand() < 0.6;
    const result = {
      allowed,
      limit,
      remaining: allowed ? int(limit) : pick([0, int(limit)]),
      resetAfterMs: pick([0, 1, 999, 1000, 1001, int(windowMs + 1)]),
      retryAfterMs: allowed ? 0 : pick([1, 999, 1000, 1001, int(windowMs) + 1]),
      degraded: false,
    };
    const standard = pick(['draft-6', 'draft-7', 'draft-8', false]);
    const legacy = rand() < 0.5;
    const nowMs = 1700000000000 + int(1e9);
    const ours = render(result, policyOf(name, limit, windowMs), standard, legacy, nowMs);
    const core = renderHeaders(result, { name, limit, windowMs }, { standard, legacy, nowMs });
    expect([i, ours]).toEqual([i, core]);
  }
});
