// Sets the rate-limit response headers of one request from the core's rendering, in the shapes
// express-rate-limit 8 sends for each IETF draft, so clients see the same bytes after a swap.
'use strict';

const crypto = require('crypto');

// draft-8's partition key, computed as express-rate-limit does (first 12 hex digits of SHA-256,
// base64 of that text) so both libraries send the same `pk` for the same key.
function partitionKey(key) {
  const hex = crypto.createHash('sha256').update(key).digest('hex').slice(0, 12);
  return Buffer.from(hex).toString('base64');
}

function setAll(res, headers) {
  for (const name in headers) res.setHeader(name, headers[name]);
}

// picked: the outcome of every limit of the request ({ result, key }), decidingIndex: the one whose
// numbers draft-6/7 and the legacy headers carry (they have room for one policy only).
// cfg.standard: 'draft-6' | 'draft-7' | 'draft-8' | false; cfg.legacy: boolean.
function setRateLimitHeaders(res, cfg, picked, decidingIndex, retryAfterMs) {
  if (res.headersSent) return;
  const deciding = picked[decidingIndex];
  if (cfg.legacy) setAll(res, deciding.result.headers(cfg.legacyOptions));
  if (cfg.standard === 'draft-8') {
    // One list member per limit: every policy in force is visible to the client.
    let rateLimit = '';
    let policy = '';
    for (let i = 0; i < picked.length; i++) {
      const h = picked[i].result.headers(cfg.standardOptions);
      const sep = i === 0 ? '' : ', ';
      rateLimit += sep + h.RateLimit;
      policy += `${sep}${h['RateLimit-Policy']}; pk=:${partitionKey(picked[i].key)}:`;
    }
    res.setHeader('RateLimit', rateLimit);
    res.setHeader('RateLimit-Policy', policy);
  } else if (cfg.standard) {
    setAll(res, deciding.result.headers(cfg.standardOptions));
  }
  // With several limits the request may pass again only when all of them admit it.
  if (retryAfterMs !== undefined) res.setHeader('Retry-After', String(Math.ceil(retryAfterMs / 1000)));
}

module.exports = { setRateLimitHeaders, partitionKey };
