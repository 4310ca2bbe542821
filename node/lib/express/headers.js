// Sets the rate-limit response headers of one request, in the shapes express-rate-limit 8 sends
// for each IETF draft, so clients see the same bytes after a swap. The strings are the core's
// render_headers() output (tests/node/express_headers.test.js checks them against it for many
// results); they are built here because a native call per request cost ~8 us, the template ~0.05.
'use strict';

const crypto = require('crypto');

// draft-8's partition key, computed as express-rate-limit does (first 12 hex digits of SHA-256,
// base64 of that text) so both libraries send the same `pk` for the same key.
function partitionKey(key) {
  const hex = crypto.createHash('sha256').update(key).digest('hex').slice(0, 12);
  return Buffer.from(hex).toString('base64');
}

function ceilSeconds(ms) {
  return ms > 0 ? Math.ceil(ms / 1000) : 0;
}

// The per-limit parts that never change: the policy texts.
function policyOf(name, limit, windowMs) {
  const w = ceilSeconds(windowMs);
  return { name, draft67: `${limit};w=${w}`, draft8: `"${name}"; q=${limit}; w=${w}` };
}

// Header name -> value for one result, as the core renders them. nowMs: the instant for
// X-RateLimit-Reset (epoch seconds).
function render(result, policy, standard, legacy, nowMs) {
  const out = {};
  const remaining = result.remaining > 0 ? result.remaining : 0;
  const reset = ceilSeconds(result.resetAfterMs);
  if (standard === 'draft-6') {
    out['RateLimit-Limit'] = String(result.limit);
    out['RateLimit-Remaining'] = String(remaining);
    out['RateLimit-Reset'] = String(reset);
    out['RateLimit-Policy'] = policy.draft67;
  } else if (standard === 'draft-7') {
    out.RateLimit = `limit=${result.limit}, remaining=${remaining}, reset=${reset}`;
    out['RateLimit-Policy'] = policy.draft67;
  } else if (standard === 'draft-8') {
    out.RateLimit = `"${policy.name}"; r=${remaining}; t=${reset}`;
    out['RateLimit-Policy'] = policy.draft8;
  }
  if (legacy) {
    out['X-RateLimit-Limit'] = String(result.limit);
    out['X-RateLimit-Remaining'] = String(remaining);
    out['X-RateLimit-Reset'] = String(Math.ceil((nowMs + (result.resetAfterMs > 0 ? result.resetAfterMs : 0)) / 1000));
  }
  if (!result.allowed) out['Retry-After'] = String(ceilSeconds(result.retryAfterMs));
  return out;
}

// picked: every limit's { result, key, policy }; decidingIndex: the one draft-6/7 and the legacy
// headers carry (they have room for one policy only); draft-8 lists them all.
// cfg.standard: 'draft-6' | 'draft-7' | 'draft-8' | false; cfg.legacy: boolean.
function setRateLimitHeaders(res, cfg, picked, decidingIndex, retryAfterMs, nowMs) {
  if (res.headersSent) return;
  const deciding = picked[decidingIndex];
  const multi8 = cfg.standard === 'draft-8';
  const headers = render(deciding.result, deciding.policy, multi8 ? false : cfg.standard, cfg.legacy, nowMs);
  for (const name in headers) if (name !== 'Retry-After') res.setHeader(name, headers[name]);
  if (multi8) {
    // One list member per limit: every policy in force is visible to the client.
    let rateLimit = '';
    let policies = '';
    for (let i = 0; i < picked.length; i++) {
      const p = picked[i];
      const h = render(p.result, p.policy, 'draft-8', false, nowMs);
      const sep = i === 0 ? '' : ', ';
      rateLimit += sep + h.RateLimit;
      policies += `${sep}${h['RateLimit-Policy']}; pk=:${partitionKey(p.key)}:`;
    }
    res.setHeader('RateLimit', rateLimit);
    res.setHeader('RateLimit-Policy', policies);
  }
  // With several limits the request may pass again only when all of them admit it.
  if (retryAfterMs !== undefined) res.setHeader('Retry-After', String(ceilSeconds(retryAfterMs)));
}

module.exports = { setRateLimitHeaders, partitionKey, policyOf, render };
