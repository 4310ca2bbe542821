// Loads the shared JSON vectors (tests/vectors) and maps their snake_case fields to the Node API.
'use strict';

const fs = require('fs');
const path = require('path');

const dir = path.resolve(__dirname, '..', '..', 'vectors');

function load(name) {
  return JSON.parse(fs.readFileSync(path.join(dir, name), 'utf8'));
}

// Vector limiter config -> rk.limiter() options.
function limiterOptions(l) {
  const o = {};
  if (l.algorithm !== undefined) o.algorithm = l.algorithm;
  if (l.limit !== undefined) o.limit = l.limit;
  if (l.window_ms !== undefined) o.windowMs = l.window_ms;
  if (l.window !== undefined) o.window = l.window;
  if (l.rate !== undefined) o.rate = l.rate;
  if (l.block_duration_ms !== undefined && l.block_duration_ms !== 0) o.blockDurationMs = l.block_duration_ms;
  return o;
}

// Only the fields a vector states are compared, under their Node names.
function expectedResult(expect) {
  const map = {
    allowed: 'allowed',
    limit: 'limit',
    remaining: 'remaining',
    reset_after_ms: 'resetAfterMs',
    retry_after_ms: 'retryAfterMs',
    degraded: 'degraded',
  };
  const out = {};
  for (const [k, v] of Object.entries(expect)) out[map[k] || k] = v;
  return out;
}

function pick(result, keys) {
  const out = {};
  for (const k of keys) out[k] = result[k];
  return out;
}

function resultFromVector(r) {
  return {
    allowed: r.allowed,
    limit: r.limit,
    remaining: r.remaining,
    resetAfterMs: r.reset_after_ms,
    retryAfterMs: r.retry_after_ms,
    degraded: r.degraded === true,
  };
}

module.exports = { load, limiterOptions, expectedResult, pick, resultFromVector };
