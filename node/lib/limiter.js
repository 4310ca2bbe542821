// Limiter and LimitResult: the JS face of the core rate limiter. On memory:// a hit completes inside
// the native call, which leaves its numbers in shared slots; the result object is built here.
'use strict';

const native = require('./native');
const { invalidArgument } = require('./errors');
const opts = require('./options');

const slots = native.resultSlots;
const kNative = Symbol('redkeeper.nativeLimiter');

const HEADER_OPTIONS = ['standard', 'legacy', 'nowMs'];

class LimitResult {
  constructor(allowed, limit, remaining, resetAfterMs, retryAfterMs, degraded) {
    this.allowed = allowed;
    this.limit = limit;
    this.remaining = remaining;
    this.resetAfterMs = resetAfterMs;
    this.retryAfterMs = retryAfterMs;
    this.degraded = degraded;
  }

  // Header name -> value, rendered by the core (same bytes as the Python package sends).
  headers(options) {
    const o = opts.checkOptionsObject(options, 'options', HEADER_OPTIONS);
    const standard = o.standard === undefined ? 'draft-7' : o.standard;
    if (typeof standard !== 'string' && standard !== false) {
      throw invalidArgument('standard', "must be 'draft-6', 'draft-7', 'draft-8', 'none' or false");
    }
    if (o.legacy !== undefined && typeof o.legacy !== 'boolean') {
      throw invalidArgument('legacy', `must be a boolean, got ${opts.describe(o.legacy)}`);
    }
    if (o.nowMs !== undefined) opts.integer(o.nowMs, 'nowMs');
    const limiter = this[kNative];
    if (limiter === undefined) {
      throw invalidArgument('result', 'was not produced by a limiter; use renderHeaders(result, policy)');
    }
    return limiter.headers(this, standard, o.legacy === true, o.nowMs);
  }
}

function fromSlots(Result) {
  return new Result(slots[0] === 1, slots[1], slots[2], slots[3], slots[4], slots[5] === 1);
}

function fromArray(Result, a) {
  return new Result(a[0] === 1, a[1], a[2], a[3], a[4], a[5] === 1);
}

function checkKey(key) {
  if (typeof key === 'string' || key instanceof Uint8Array) return undefined;
  return Promise.reject(invalidArgument('key', `must be a string or a Buffer, got ${opts.describe(key)}`));
}

// Accepts `{ cost }` (the documented form) or a bare number. Returns an integer or a rejection.
function readCount(arg, param, fallback) {
  let value = arg;
  if (arg !== null && typeof arg === 'object' && !Array.isArray(arg)) value = arg[param];
  else if (arg !== undefined && typeof arg !== 'number') {
    return invalidArgument('options', `must be an object like { ${param}: 1 }, got ${opts.describe(arg)}`);
  }
  if (value === undefined) return fallback;
  if (typeof value !== 'number') return invalidArgument(param, `must be a number, got ${opts.describe(value)}`);
  if (!Number.isSafeInteger(value)) return invalidArgument(param, `must be an integer, got ${value}`);
  return value;
}

// The memory:// hit path and the result constructor. Each limiter compiles its own copy of this
// function's text (compileHotPath): V8 keeps type feedback and optimized code per function
// literal, not per closure, so with one shared literal a second limiter made `new Result` and the
// native call polymorphic (a generic construct stub and the slow API-call path; the second limiter
// of the benchmark ran at about half speed). A literal of its own per limiter keeps both
// monomorphic. The compiled text is this function's own source: nothing from a caller is spliced in.
function hotPath(fastHit, slots, generalHit) {
  function Result(allowed, limit, remaining, resetAfterMs, retryAfterMs, degraded) {
    this.allowed = allowed;
    this.limit = limit;
    this.remaining = remaining;
    this.resetAfterMs = resetAfterMs;
    this.retryAfterMs = retryAfterMs;
    this.degraded = degraded;
  }
  function hit(key, options) {
    if (typeof key === 'string' && options === undefined && fastHit(key) === undefined) {
      return Promise.resolve(new Result(slots[0] === 1, slots[1], slots[2], slots[3], slots[4], slots[5] === 1));
    }
    return generalHit.call(this, key, options);
  }
  return { Result, hit };
}

const HOT_PATH_SOURCE = `return (${hotPath.toString()});`;

function compileHotPath(fastHit, resultSlots, generalHit) {
  let fresh;
  try {
    // eslint-disable-next-line no-new-func
    fresh = new Function(HOT_PATH_SOURCE)();
  } catch (err) {
    // Code generation from strings is off (node --disallow-code-generation-from-strings): the
    // shared literal, correct and only slower once a process has several limiters.
    fresh = hotPath;
  }
  return fresh(fastHit, resultSlots, generalHit);
}

class Limiter {
  constructor(nativeLimiter, client) {
    this[kNative] = nativeLimiter;
    this.client = client;
    const config = nativeLimiter.config();
    this.name = config.name;
    this.algorithm = config.algorithm;
    this.limit = config.limit;
    this.windowMs = config.windowMs;
    this.blockDurationMs = config.blockDurationMs;
    this.onError = config.onError;
    // Results carry their limiter on the prototype, so they stay plain six-field objects (cheap to
    // build, clean in JSON) and still know the policy their headers need.
    const { Result, hit } = compileHotPath(nativeLimiter.fastHit(), slots, Limiter.prototype.hit);
    Result.prototype = Object.create(LimitResult.prototype, {
      constructor: { value: LimitResult, writable: true, configurable: true },
      [kNative]: { value: nativeLimiter },
      // Settling a promise with an object looks up its `then`; found here, one hop up, that lookup
      // no longer walks to Object.prototype and back empty-handed (a measurable share of an
      // `await limiter.hit()` on memory://). Undefined, so a result is still no thenable.
      then: { value: undefined },
    });
    this._Result = Result;
    this._fromArray = fromArray.bind(null, this._Result);
    // The per-limiter hot path (see compileHotPath); the prototype's hit() is its general case.
    // Non-enumerable, like a method: a limiter's own keys stay its configuration.
    Object.defineProperty(this, 'hit', { value: hit, writable: true, configurable: true });
    // client.hitMany reaches the native limiter through this (node/lib/multi.js).
    Object.defineProperty(this, Symbol.for('redkeeper.limiter.native'), { value: nativeLimiter });
  }

  _run(method, key, arg) {
    const bad = checkKey(key);
    if (bad !== undefined) return bad;
    let pending;
    try {
      pending = this[kNative][method](key, arg);
    } catch (err) {
      return Promise.reject(err);
    }
    if (pending === undefined) return Promise.resolve(fromSlots(this._Result));
    return pending.then(this._fromArray);
  }

  // Each limiter's own hit() (compileHotPath) answers memory:// string keys inline and comes here
  // for the rest: options, Buffer keys, Redis, and errors, which the general path reports.
  hit(key, options) {
    const cost = readCount(options, 'cost', 1);
    if (typeof cost !== 'number') return Promise.reject(cost);
    if (typeof key === 'string') {
      // The common case, kept short: a string key on a client that completes inline.
      let pending;
      try {
        pending = this[kNative].hit(key, cost);
      } catch (err) {
        return Promise.reject(err);
      }
      if (pending === undefined) return Promise.resolve(fromSlots(this._Result));
      return pending.then(this._fromArray);
    }
    return this._run('hit', key, cost);
  }

  peek(key) {
    return this._run('peek', key);
  }

  refund(key, amount) {
    const n = readCount(amount === undefined ? 1 : amount, 'amount', 1);
    if (typeof n !== 'number') return Promise.reject(n);
    return this._run('refund', key, n);
  }

  // `duration` in seconds (number) or a string ('15m'), like `window`.
  block(key, duration) {
    let ms;
    try {
      ms = opts.durationMs(duration, 'duration');
    } catch (err) {
      return Promise.reject(err);
    }
    return this._run('block', key, ms);
  }

  reset(key) {
    const bad = checkKey(key);
    if (bad !== undefined) return bad;
    let pending;
    try {
      pending = this[kNative].reset(key);
    } catch (err) {
      return Promise.reject(err);
    }
    return pending === undefined ? Promise.resolve() : pending;
  }
}

const LIMITER_OPTIONS = [
  'limit', 'window', 'windowMs', 'rate', 'algorithm', 'blockDuration', 'blockDurationMs', 'onError', 'localBlockCache',
];
const DEFAULT_BLOCK_CACHE_SIZE = 10000;

// Turns the user's limiter options into the core's config fields; throws RedkeeperError.
function limiterConfig(name, options) {
  opts.string(name, 'name');
  const o = opts.checkOptionsObject(options, 'options', LIMITER_OPTIONS);
  let limit;
  let windowMs;
  if (o.rate !== undefined) {
    if (o.limit !== undefined || o.window !== undefined || o.windowMs !== undefined) {
      throw invalidArgument('rate', 'give either rate or limit + window, not both');
    }
    const rate = native.parseRate(opts.string(o.rate, 'rate'));
    limit = rate.limit;
    windowMs = rate.windowMs;
  } else {
    if (o.limit === undefined) throw invalidArgument('limit', 'is required (or give rate)');
    limit = opts.integer(o.limit, 'limit');
    if (o.window !== undefined && o.windowMs !== undefined) {
      throw invalidArgument('window', 'give either window or windowMs, not both');
    }
    if (o.windowMs !== undefined) windowMs = opts.positiveInteger(o.windowMs, 'windowMs');
    else if (o.window !== undefined) windowMs = opts.durationMs(o.window, 'window');
    else throw invalidArgument('window', 'is required (or give windowMs or rate)');
  }
  const algorithm = o.algorithm === undefined ? 'sliding_window' : opts.string(o.algorithm, 'algorithm');
  let blockDurationMs = 0;
  if (o.blockDuration !== undefined && o.blockDurationMs !== undefined) {
    throw invalidArgument('blockDuration', 'give either blockDuration or blockDurationMs, not both');
  }
  if (o.blockDurationMs !== undefined) {
    blockDurationMs = opts.integer(o.blockDurationMs, 'blockDurationMs');
    if (blockDurationMs < 0) throw invalidArgument('blockDurationMs', `must not be negative, got ${blockDurationMs}`);
  } else if (o.blockDuration !== undefined && o.blockDuration !== null && o.blockDuration !== 0) {
    blockDurationMs = opts.durationMs(o.blockDuration, 'blockDuration');
  }
  const onError = o.onError === undefined ? 'open' : opts.string(o.onError, 'onError');
  // true = a default-sized cache of rejected keys answered in-process; a number sets its size.
  let localBlockCache = 0;
  if (o.localBlockCache === true) localBlockCache = DEFAULT_BLOCK_CACHE_SIZE;
  else if (typeof o.localBlockCache === 'number') localBlockCache = opts.integer(o.localBlockCache, 'localBlockCache');
  else if (o.localBlockCache !== undefined && o.localBlockCache !== false) {
    throw invalidArgument('localBlockCache', `must be true, false or a number of keys, got ${opts.describe(o.localBlockCache)}`);
  }
  return [name, algorithm, limit, windowMs, blockDurationMs, onError, localBlockCache];
}

// For results not made by a limiter (e.g. stored ones): policy is { name, limit, windowMs }.
function renderHeaders(result, policy, options) {
  if (result === null || typeof result !== 'object') throw invalidArgument('result', 'must be an object');
  if (policy === null || typeof policy !== 'object') throw invalidArgument('policy', 'must be an object');
  const o = opts.checkOptionsObject(options, 'options', HEADER_OPTIONS);
  const standard = o.standard === undefined ? 'draft-7' : o.standard;
  return native.renderHeaders(result, policy, standard, o.legacy === true, o.nowMs);
}

module.exports = { Limiter, LimitResult, limiterConfig, renderHeaders };
