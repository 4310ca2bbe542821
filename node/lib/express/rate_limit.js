// rateLimit(): Express middleware taking express-rate-limit's options (same names, same meaning) on
// a redkeeper client, plus algorithm, cost, name, trust, localBlockCache and several limits at once.
'use strict';

const { RedkeeperError, ErrorCodes, invalidArgument } = require('../errors');
const { Client } = require('../client');
const opts = require('../options');
const { byIp, isPromise } = require('./keys');
const { checkSubnet } = require('./ip');
const { setRateLimitHeaders, policyOf } = require('./headers');
const { hitAll, refundAll } = require('./engine');

const DRAFTS = ['draft-6', 'draft-7', 'draft-8'];
const DEFAULT_MESSAGE = 'Too many requests, please try again later.';

const LIMIT_OPTIONS = ['limit', 'max', 'windowMs', 'rate', 'keyGenerator', 'name', 'algorithm', 'cost', 'blockDuration', 'localBlockCache'];
const OPTIONS = [
  'client', 'windowMs', 'limit', 'max', 'rate', 'statusCode', 'message', 'handler', 'keyGenerator', 'skip',
  'skipFailedRequests', 'skipSuccessfulRequests', 'requestWasSuccessful', 'requestPropertyName',
  'standardHeaders', 'legacyHeaders', 'passOnStoreError', 'ipv6Subnet', 'validate', 'logger',
  'algorithm', 'cost', 'name', 'trust', 'localBlockCache', 'blockDuration', 'limits',
];
// express-rate-limit options with no counterpart here: say what to do instead of a bare "unknown".
const NOT_HERE = {
  store: 'the store is the client: pass `client` (or keep express-rate-limit and use RedkeeperStore)',
  identifier: 'use `name` (it is the draft-8 policy name)',
  retryAfter: 'Retry-After is computed from the limiter state',
  headers: 'use `legacyHeaders`',
};

function bool(value, param, fallback) {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw invalidArgument(param, `must be true or false, got ${opts.describe(value)}`);
  return value;
}

function fn(value, param) {
  if (value === undefined) return undefined;
  if (typeof value !== 'function') throw invalidArgument(param, `must be a function, got ${opts.describe(value)}`);
  return value;
}

function positiveInt(value, param) {
  if (typeof value === 'function') throw invalidArgument(param, 'must be a number (a per-request limit is not supported; use `limits` or `cost`)');
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw invalidArgument(param, `must be an integer >= 1, got ${opts.describe(value)}`);
  }
  return value;
}

// express-rate-limit's default identifier ('5-in-1min', '100-in-15min', '3-in-1hr'): our default
// limiter name, so draft-8 policy names match after a swap and every server derives the same name.
function defaultName(limit, windowMs) {
  const seconds = windowMs / 1000;
  const minutes = windowMs / 60000;
  const hours = windowMs / 3600000;
  const days = windowMs / 86400000;
  let duration;
  if (seconds < 60) duration = `${seconds}sec`;
  else if (minutes < 60) duration = `${minutes}min`;
  else if (hours < 24) duration = `${hours}hr${hours > 1 ? 's' : ''}`;
  else duration = `${days}day${days > 1 ? 's' : ''}`;
  return `${limit}-in-${duration}`;
}

function costOf(value, param) {
  if (value === undefined) return 1;
  if (typeof value === 'function') return value;
  return positiveInt(value, param);
}

// One limit's settings: from the top-level options, or from an entry of `limits` (which inherits
// the top-level keyGenerator, algorithm, cost, blockDuration and localBlockCache).
function parseLimit(o, param, inherited) {
  let limit;
  let windowMs;
  const p = (name) => (param ? `${param}.${name}` : name);
  if (o.rate !== undefined) {
    if (o.limit !== undefined || o.max !== undefined || o.windowMs !== undefined) {
      throw invalidArgument(p('rate'), 'give either rate or limit + windowMs, not both');
    }
    ({ limit, windowMs } = require('../native').parseRate(opts.string(o.rate, p('rate'))));
  } else {
    // express-rate-limit's defaults: 5 per minute; `limit` wins over the older `max`.
    if (o.limit !== undefined) limit = positiveInt(o.limit, p('limit'));
    else if (o.max !== undefined) limit = positiveInt(o.max, p('max'));
    else limit = 5;
    windowMs = 60000;
    if (o.windowMs !== undefined) {
      if (typeof o.windowMs !== 'number' || !Number.isFinite(o.windowMs) || o.windowMs <= 0) {
        throw invalidArgument(p('windowMs'), `must be a number of milliseconds > 0, got ${opts.describe(o.windowMs)}`);
      }
      windowMs = Math.ceil(o.windowMs);
    }
  }
  const keyGenerator = o.keyGenerator === undefined ? inherited.keyGenerator : fn(o.keyGenerator, p('keyGenerator'));
  const cost = o.cost === undefined ? inherited.cost : costOf(o.cost, p('cost'));
  const name = o.name === undefined ? defaultName(limit, windowMs) : opts.string(o.name, p('name'));
  return {
    name,
    limit,
    windowMs,
    keyGenerator,
    cost,
    algorithm: o.algorithm === undefined ? inherited.algorithm : opts.string(o.algorithm, p('algorithm')),
    blockDuration: o.blockDuration === undefined ? inherited.blockDuration : o.blockDuration,
    localBlockCache: o.localBlockCache === undefined ? inherited.localBlockCache : o.localBlockCache,
    param: param || 'options',
  };
}

function parseLocalBlockCache(value, param) {
  if (value === undefined || value === false) return 0;
  if (value === true) return 10000;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw invalidArgument(param, `must be true, false or a number of entries >= 1, got ${opts.describe(value)}`);
  }
  return value;
}

function makeLimiter(client, spec) {
  const options = { limit: spec.limit, windowMs: spec.windowMs, algorithm: spec.algorithm, onError: 'raise' };
  if (spec.blockDuration !== undefined) options.blockDuration = spec.blockDuration;
  const cacheSize = parseLocalBlockCache(spec.localBlockCache, spec.param === 'options' ? 'localBlockCache' : `${spec.param}.localBlockCache`);
  if (cacheSize > 0) options.localBlockCache = cacheSize;
  return client.limiter(spec.name, options);
}

function parseStandard(value) {
  if (value === undefined || value === false) return false;
  if (value === true) return 'draft-6';
  if (typeof value === 'string' && DRAFTS.includes(value)) return value;
  throw invalidArgument('standardHeaders', `must be one of 'draft-6', 'draft-7', 'draft-8', true or false, got ${typeof value === 'string' ? `'${value}'` : opts.describe(value)}`);
}

function parseOptions(options) {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw invalidArgument('options', `must be an object with at least { client }, got ${opts.describe(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (options[key] === undefined) continue; // express-rate-limit ignores options set to undefined
    if (NOT_HERE[key]) throw invalidArgument(key, `not an option of redkeeper's rateLimit: ${NOT_HERE[key]}`);
    if (!OPTIONS.includes(key)) throw invalidArgument(key, `unknown option (expected one of: ${OPTIONS.join(', ')})`);
  }
  const o = options;
  if (o.client === undefined) throw invalidArgument('client', "is required: rateLimit({ client: connect('redis://…'), … })");
  if (!(o.client instanceof Client)) throw invalidArgument('client', 'must be a redkeeper Client (from connect())');
  if (o.client.closed) throw invalidArgument('client', 'is closed');

  const statusCode = o.statusCode === undefined ? 429 : o.statusCode;
  if (!Number.isInteger(statusCode) || statusCode < 100 || statusCode > 599) {
    throw invalidArgument('statusCode', `must be an HTTP status code, got ${opts.describe(statusCode)}`);
  }
  const requestPropertyName = o.requestPropertyName === undefined ? 'rateLimit' : o.requestPropertyName;
  if (typeof requestPropertyName !== 'string' || requestPropertyName === '') {
    throw invalidArgument('requestPropertyName', 'must be a non-empty string');
  }
  if (o.logger !== undefined && (o.logger === null || typeof o.logger.error !== 'function')) {
    throw invalidArgument('logger', 'must have an error(...) method');
  }
  const ipv6Subnet = o.ipv6Subnet === undefined ? 56 : checkSubnet(o.ipv6Subnet);
  const keyGenerator = o.keyGenerator === undefined ? byIp({ trust: o.trust, ipv6Subnet }) : fn(o.keyGenerator, 'keyGenerator');
  if (o.keyGenerator !== undefined && o.trust !== undefined) {
    throw invalidArgument('trust', 'applies to the default key generator only; pass it to byIp({ trust }) in your keyGenerator');
  }
  const inherited = {
    keyGenerator,
    cost: costOf(o.cost, 'cost'),
    algorithm: o.algorithm === undefined ? 'fixed_window' : opts.string(o.algorithm, 'algorithm'),
    blockDuration: o.blockDuration,
    localBlockCache: o.localBlockCache,
  };

  let specs;
  if (o.limits !== undefined) {
    if (!Array.isArray(o.limits) || o.limits.length === 0) throw invalidArgument('limits', 'must be a non-empty array of limits');
    for (const k of ['limit', 'max', 'windowMs', 'rate', 'name']) {
      if (o[k] !== undefined) throw invalidArgument(k, 'give it inside each entry of `limits`, not next to `limits`');
    }
    specs = o.limits.map((entry, i) => {
      const param = `limits[${i}]`;
      return parseLimit(opts.checkOptionsObject(entry, param, LIMIT_OPTIONS), param, inherited);
    });
    const names = new Set();
    specs.forEach((s, i) => {
      if (names.has(s.name)) {
        throw invalidArgument(`limits[${i}].name`, `'${s.name}' is used twice in this middleware; give each limit its own name`);
      }
      names.add(s.name);
    });
  } else {
    specs = [parseLimit(o, '', inherited)];
  }

  const standard = parseStandard(o.standardHeaders);
  const legacy = bool(o.legacyHeaders, 'legacyHeaders', true);
  return {
    client: o.client,
    specs,
    statusCode,
    message: o.message === undefined ? DEFAULT_MESSAGE : o.message,
    handler: fn(o.handler, 'handler'),
    skip: fn(o.skip, 'skip'),
    skipFailedRequests: bool(o.skipFailedRequests, 'skipFailedRequests', false),
    skipSuccessfulRequests: bool(o.skipSuccessfulRequests, 'skipSuccessfulRequests', false),
    requestWasSuccessful: fn(o.requestWasSuccessful, 'requestWasSuccessful') || ((req, res) => res.statusCode < 400),
    requestPropertyName,
    passOnStoreError: bool(o.passOnStoreError, 'passOnStoreError', false),
    logger: o.logger || console,
    headers: { standard, legacy },
  };
}

// A value, or the value of a Promise, without a microtask hop for the common synchronous case.
function settle(value, then) {
  return isPromise(value) ? value.then(then) : then(value);
}

const kName = Symbol('name');
const kResult = Symbol('result');
const kLimits = Symbol('limits');

// express-rate-limit's request info, with our numbers: a rejected request consumed nothing, so
// `used` is what the window holds; `resetTime` is when the allowance is whole again. The extras
// sit behind getters, so JSON and Object.keys show express-rate-limit's fields only.
class RateLimitInfo {
  constructor(result, key, nowMs, name) {
    this.limit = result.limit;
    this.used = result.limit - result.remaining;
    this.remaining = result.remaining;
    this.resetTime = new Date(nowMs + result.resetAfterMs);
    this.key = key;
    this[kName] = name;
    this[kResult] = result;
    this[kLimits] = undefined;
  }

  // express-rate-limit's deprecated alias of `used`.
  get current() {
    return this.used;
  }

  get name() {
    return this[kName];
  }

  get result() {
    return this[kResult];
  }

  get limits() {
    return this[kLimits];
  }
}

function isStoreError(err) {
  return err instanceof RedkeeperError && err.code !== ErrorCodes.INVALID_ARGUMENT;
}

// Keys longer than the core accepts (combined keys can be) are hashed rather than rejected.
function fitKey(key) {
  if (typeof key !== 'string') {
    if (typeof key === 'number') return String(key);
    if (key instanceof Uint8Array && key.length > 0 && key.length <= 1024) return key;
    throw invalidArgument('keyGenerator', `must return a string, got ${opts.describe(key)}`);
  }
  if (key.length > 256 && Buffer.byteLength(key) > 1024) {
    return 'sha256:' + require('crypto').createHash('sha256').update(key).digest('base64url');
  }
  return key;
}

function rateLimit(options) {
  const cfg = parseOptions(options);
  const { client, specs } = cfg;
  const limiters = specs.map((s) => makeLimiter(client, s));
  const policies = specs.map((s) => policyOf(s.name, s.limit, s.windowMs));
  const single = specs.length === 1;
  const refunds = cfg.skipFailedRequests || cfg.skipSuccessfulRequests;

  const reject = async (req, res, next) => {
    res.status(cfg.statusCode);
    const message = typeof cfg.message === 'function' ? await cfg.message(req, res) : cfg.message;
    if (!res.writableEnded) res.send(message);
  };
  const handler = cfg.handler || reject;
  const optionsUsed = Object.freeze({ ...options, ...cfg, limit: specs[0].limit, windowMs: specs[0].windowMs });

  // After the response: give back what this request consumed when skip* says it should not count.
  const armRefund = (req, res, checks, resetTime) => {
    let done = false;
    const refund = () => {
      if (done) return;
      done = true;
      if (Date.now() >= resetTime) return; // the window it counted in is over already
      refundAll(checks).catch((err) => cfg.logger.error(err, 'redkeeper: error from the store during refund.'));
    };
    res.once('finish', () => {
      Promise.resolve(cfg.requestWasSuccessful(req, res))
        .then((ok) => {
          if (ok ? cfg.skipSuccessfulRequests : cfg.skipFailedRequests) refund();
        })
        .catch((err) => cfg.logger.error(err, 'redkeeper: error in requestWasSuccessful.'));
    });
    if (cfg.skipFailedRequests) {
      res.once('close', () => {
        if (!res.writableEnded) refund();
      });
      res.once('error', refund);
    }
  };

  const decide = (req, res, next, checks, outcome) => {
    const nowMs = Date.now();
    const picked = outcome.results.map((result, i) => ({ result, key: checks[i].key, policy: policies[i] }));
    const deciding = outcome.deciding;
    const infos = picked.map((p, i) => new RateLimitInfo(p.result, p.key, nowMs, specs[i].name));
    const reqInfo = infos[deciding];
    if (!single) reqInfo[kLimits] = infos;
    req[cfg.requestPropertyName] = reqInfo;

    let retryAfterMs;
    if (!outcome.allowed) {
      retryAfterMs = 0;
      for (const p of picked) if (!p.result.allowed && p.result.retryAfterMs > retryAfterMs) retryAfterMs = p.result.retryAfterMs;
    }
    if (cfg.headers.standard || cfg.headers.legacy) setRateLimitHeaders(res, cfg.headers, picked, deciding, retryAfterMs, nowMs);
    if (!outcome.allowed) return handler(req, res, next, optionsUsed);
    if (refunds) {
      let resetTime = Infinity;
      for (const i of infos) resetTime = Math.min(resetTime, i.resetTime.getTime());
      armRefund(req, res, checks, resetTime);
    }
    return next();
  };

  const storeFailed = (next, err) => {
    if (cfg.passOnStoreError && isStoreError(err)) {
      cfg.logger.error(err, 'redkeeper: error from the store, allowing the request without rate limiting.');
      return next();
    }
    return next(err);
  };

  const check = (req, res, next) => {
    const checks = new Array(specs.length);
    let pending = null;
    for (let i = 0; i < specs.length; i++) {
      const spec = specs[i];
      const entry = { limiter: limiters[i], key: '', cost: 1 };
      checks[i] = entry;
      const k = spec.keyGenerator(req, res);
      const c = typeof spec.cost === 'function' ? spec.cost(req, res) : spec.cost;
      if (isPromise(k) || isPromise(c)) {
        const both = Promise.all([k, c]).then(([kk, cc]) => {
          entry.key = fitKey(kk);
          entry.cost = cc;
        });
        pending = pending ? pending.then(() => both) : both;
      } else {
        entry.key = fitKey(k);
        entry.cost = c;
      }
    }
    const go = () =>
      hitAll(client, checks, single).then(
        (outcome) => decide(req, res, next, checks, outcome),
        (err) => storeFailed(next, err),
      );
    return pending ? pending.then(go) : go();
  };

  const middleware = (req, res, next) => {
    let ran;
    try {
      ran = cfg.skip === undefined ? check(req, res, next) : settle(cfg.skip(req, res), (skip) => (skip ? next() : check(req, res, next)));
    } catch (err) {
      next(err);
      return;
    }
    // Nothing is returned: Express 5 would await a returned Promise, and errors already go to next.
    if (isPromise(ran)) ran.then(undefined, next);
  };

  // express-rate-limit's extras: forget a key (every limit of this middleware), read its state.
  middleware.resetKey = (key) => Promise.all(limiters.map((l) => l.reset(key))).then(() => undefined);
  middleware.getKey = (key) =>
    limiters[0].peek(key).then((r) => ({ totalHits: r.limit - r.remaining, resetTime: new Date(Date.now() + r.resetAfterMs) }));
  middleware.limiters = limiters;
  return middleware;
}

module.exports = { rateLimit, parseOptions, defaultName };
