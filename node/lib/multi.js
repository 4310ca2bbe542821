// Several limits in one atomic check (client.hitMany) and the HTTP key helpers (clientIp, ipKey),
// all answered by the core so Node and Python agree byte for byte.
'use strict';

const native = require('./native');
const { invalidArgument } = require('./errors');
const opts = require('./options');

const kNative = Symbol.for('redkeeper.limiter.native');

class MultiLimitResult {
  constructor(allowed, results, decidingIndex) {
    this.allowed = allowed;
    this.results = results;
    this.decidingIndex = decidingIndex;
    // The result a response should report: the first rejecting limit, else the least remaining.
    this.deciding = results[decidingIndex];
  }

  get degraded() {
    return this.results.some((r) => r.degraded);
  }

  // The deciding result's headers (same options as LimitResult#headers).
  headers(options) {
    return this.deciding.headers(options);
  }
}

// `checks`: [{ limiter, key, cost? }]. Returns a Promise of MultiLimitResult.
function hitMany(nativeClient, checks) {
  if (!Array.isArray(checks)) {
    return Promise.reject(invalidArgument('checks', `must be an array of { limiter, key, cost }, got ${opts.describe(checks)}`));
  }
  const limiters = [];
  const args = [];
  for (let i = 0; i < checks.length; i += 1) {
    const check = checks[i];
    if (check === null || typeof check !== 'object' || Array.isArray(check)) {
      return Promise.reject(invalidArgument(`checks[${i}]`, 'must be an object like { limiter, key, cost }'));
    }
    const limiter = check.limiter;
    if (limiter === null || typeof limiter !== 'object' || limiter[kNative] === undefined) {
      return Promise.reject(invalidArgument(`checks[${i}].limiter`, 'must be a Limiter made by client.limiter()'));
    }
    const cost = check.cost === undefined ? 1 : check.cost;
    if (typeof cost !== 'number' || !Number.isSafeInteger(cost)) {
      return Promise.reject(invalidArgument(`checks[${i}].cost`, `must be an integer, got ${opts.describe(cost)}`));
    }
    limiters.push(limiter);
    args.push([limiter[kNative], check.key, cost]);
  }
  const build = (raw) =>
    new MultiLimitResult(raw[0], raw[1].map((a, i) => limiters[i]._fromArray(a)), raw[2]);
  let pending;
  try {
    pending = nativeClient.hitMany(args);
  } catch (err) {
    return Promise.reject(err);
  }
  // memory:// answers inline with the result array; Redis with a Promise (from the addon's realm,
  // so not necessarily `instanceof Promise` here).
  if (Array.isArray(pending)) return Promise.resolve(build(pending));
  return pending.then(build);
}

// The client's IP: X-Forwarded-For (a string or an array of header values) is walked from the
// right only through `trusted` hops (CIDRs, IPs, 'loopback', 'private', or a hop count).
function clientIp(remoteAddr, xForwardedFor, trusted) {
  return native.clientIp(remoteAddr, xForwardedFor, trusted);
}

// The rate-limit key of an IP: IPv4 as is, IPv6 as its /56 network (or `ipv6Subnet`; false = off).
function ipKey(ip, ipv6Subnet) {
  return native.ipKey(ip, ipv6Subnet);
}

module.exports = { MultiLimitResult, hitMany, clientIp, ipKey, kNative };
