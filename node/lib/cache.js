// rk.cache(namespace): JSON/Buffer values with TTLs, counters, tags, clear, deletePattern, stats and
// getOrSet (one load per key in the fleet) over the core's "cache" primitive. Logic and key layout
// live in the C++ core (core/src/cache/README.md), shared with the Python package.
'use strict';

const { PrimitiveHandle } = require('./primitive');
const { checkOptionsObject, optionalMs } = require('./options');
const { ErrorCodes, invalidArgument } = require('./errors');

const OPTION_NAMES = ['ttlMs', 'lockTimeoutMs', 'maxValueBytes'];

// Store failures getOrSet answers by running the loader (the cache's fail-through policy).
const STORE_FAILURES = new Set([ErrorCodes.CONNECTION, ErrorCodes.TIMEOUT, ErrorCodes.QUEUE_FULL, ErrorCodes.SCRIPT]);

// In-process single flight per client and namespace: two Cache objects for one namespace
// (rk.cache('users') per request) still share a load.
const flightsByClient = new WeakMap();

// get and claim ask the core for the stored bytes (raw: true) and decode here: V8's JSON.parse
// is far cheaper than building the object through N-API. The format (core/src/cache/README.md):
// 'j' + JSON text, 'b' + raw bytes, or the bare decimal of a counter.
const MARK_JSON = 0x6a;
const MARK_BYTES = 0x62;
function decodeStored(buf) {
  if (buf === null || buf === undefined) return undefined;
  const mark = buf[0];
  if (mark === MARK_JSON) return JSON.parse(buf.toString('utf8', 1));
  if (mark === MARK_BYTES) return buf.subarray(1);
  return Number(buf.toString('latin1'));
}

function checkKey(key, param = 'key') {
  if (typeof key !== 'string') throw invalidArgument(param, `must be a string, got ${typeof key}`);
  return key;
}

// set(key, value, 60000) or set(key, value, { ttlMs, tags }).
function writeOptions(options) {
  if (options === undefined || options === null) return {};
  if (typeof options === 'number' || typeof options === 'string') return { ttlMs: options };
  if (typeof options !== 'object' || Array.isArray(options)) {
    throw invalidArgument('options', 'must be { ttlMs, tags } or a TTL in ms');
  }
  for (const k of Object.keys(options)) {
    if (k !== 'ttlMs' && k !== 'tags') throw invalidArgument(k, 'unknown option (expected ttlMs, tags)');
  }
  return options;
}

function setArgs(key, value, options) {
  checkKey(key);
  if (value === undefined || value === null) {
    throw invalidArgument('value', 'undefined/null cannot be cached (get() answers undefined for a miss)');
  }
  const opts = writeOptions(options);
  const args = { key, value };
  const ttl = optionalMs(opts.ttlMs, 'ttlMs');
  if (ttl !== undefined) args.ttl_ms = ttl;
  if (opts.tags !== undefined) {
    if (!Array.isArray(opts.tags)) throw invalidArgument('tags', 'must be an array of strings');
    if (opts.tags.length > 0) args.tags = opts.tags;
  }
  return args;
}

function loaderMessage(err) {
  if (err instanceof Error) return err.message ? `${err.name}: ${err.message}` : err.name;
  return String(err);
}

class Cache {
  constructor(client, namespace, options) {
    const opts = { ...checkOptionsObject(options, 'options', OPTION_NAMES) };
    if (typeof namespace !== 'string') throw invalidArgument('namespace', 'must be a string');
    const config = { namespace };
    const ttl = optionalMs(opts.ttlMs, 'ttlMs');
    if (ttl !== undefined) config.default_ttl_ms = ttl;
    const lock = optionalMs(opts.lockTimeoutMs, 'lockTimeoutMs');
    if (lock !== undefined) config.lock_timeout_ms = lock;
    if (opts.maxValueBytes !== undefined) config.max_value_bytes = opts.maxValueBytes;
    this._client = client;
    this._namespace = namespace;
    this._options = opts;
    this._handle = new PrimitiveHandle(client, 'cache', config);
  }

  get namespace() { return this._namespace; }

  /** A new Cache for the same namespace with these options changed. */
  withOptions(options) {
    return new Cache(this._client, this._namespace, { ...this._options, ...(options || {}) });
  }

  /** The value (JSON or Buffer), or undefined on a miss. */
  async get(key) {
    return decodeStored(await this._handle.callString('get', 'key', checkKey(key), 'raw'));
  }

  /** Stores a JSON value or a Buffer; options: a TTL in ms, or { ttlMs, tags }. */
  async set(key, value, options) {
    await this._handle.call('set', setArgs(key, value, options));
  }

  /** True when the key existed. */
  async delete(key) {
    return this._handle.call('delete', { key: checkKey(key) });
  }

  /** Adds `by` to a counter and returns it; a new counter expires after `ttlMs` (default: the cache's). */
  async incr(key, by = 1, options) {
    checkKey(key);
    if (!Number.isSafeInteger(by)) throw invalidArgument('by', 'must be a safe integer');
    const args = { key, by };
    const opts = writeOptions(options);
    const ttl = optionalMs(opts.ttlMs, 'ttlMs');
    if (ttl !== undefined) args.ttl_ms = ttl;
    return this._handle.call('incr', args);
  }

  async decr(key, by = 1, options) {
    if (!Number.isSafeInteger(by)) throw invalidArgument('by', 'must be a safe integer');
    return this.incr(key, -by, options);
  }

  /** Deletes every key set with `tag`; resolves with how many. */
  async invalidateTag(tag) {
    return this._handle.call('invalidate_tag', { tag: checkKey(tag, 'tag') });
  }

  /** Makes every key of the namespace unreachable at once (a new generation, no scan). */
  async clear() {
    await this._handle.call('clear', {});
  }

  /** Deletes the keys matching a glob via SCAN (never KEYS); resolves with how many. */
  async deletePattern(pattern) {
    return this._handle.call('delete_pattern', { pattern: checkKey(pattern, 'pattern') });
  }

  /** Lookups answered by this Cache object (in process). */
  async stats() {
    const s = await this._handle.call('stats', {});
    return { hits: s.hits, misses: s.misses, hitRatio: s.hit_ratio, sets: s.sets, deletes: s.deletes };
  }

  /**
   * The cached value, or the loader's after storing it. One load per key at a time in the fleet:
   * concurrent callers here share the loader's promise (its exact rejection too); other processes
   * wait for its value without polling, up to lockTimeoutMs, then load for themselves. Errors are
   * never cached (other processes get ERR_RK_LOADER_FAILED); a loader resolving undefined/null
   * caches nothing. When the store fails, the loader answers.
   */
  getOrSet(key, loader, options) {
    let args = null;
    try {
      checkKey(key);
      if (typeof loader !== 'function') throw invalidArgument('loader', 'must be a function');
      // Validated before any load; on a hit (the hot path) nothing else is built.
      if (options !== undefined) args = setArgs(key, true, options);
    } catch (err) {
      return Promise.reject(err);
    }
    let flights = flightsByClient.get(this._client);
    if (flights === undefined) {
      flights = new Map();
      flightsByClient.set(this._client, flights);
    }
    const fkey = `${this._namespace}\u0000${key}`;
    const existing = flights.get(fkey);
    if (existing !== undefined) return existing;
    const flight = this._handle.callString('claim', 'key', key, 'raw')
      .then(
        (claim) => (claim.status === 'hit' ? decodeStored(claim.value) : this._miss(key, loader, args, claim)),
        (err) => {
          if (err && STORE_FAILURES.has(err.code)) return loader();  // fail through: nothing cached
          throw err;
        },
      )
      .finally(() => {
        if (flights.get(fkey) === flight) flights.delete(fkey);
      });
    flights.set(fkey, flight);
    return flight;
  }

  // A miss: "fill" (ours to load and store) or "load" (waited lockTimeoutMs in vain).
  async _miss(key, loader, args, claim) {
    const setArgsForKey = args === null ? setArgs(key, true) : args;
    const token = claim.token;
    const marker = { key, token, gen: claim.gen };
    let value;
    try {
      value = await loader();
    } catch (err) {
      if (token !== undefined) await this._fail({ ...marker, message: loaderMessage(err) });
      throw err;
    }
    if (value === undefined || value === null) {
      if (token !== undefined) await this._fail({ ...marker, release: true });
      return value;
    }
    const fill = { ...setArgsForKey, value, gen: claim.gen };
    if (token !== undefined) fill.token = token;
    try {
      await this._handle.call('fill', fill);
    } catch (err) {
      if (!(err && STORE_FAILURES.has(err.code))) {
        // Not cacheable (size, type): waiters elsewhere must not hang on it.
        if (token !== undefined) await this._fail({ ...marker, message: loaderMessage(err) });
        throw err;
      }
    }
    return value;
  }

  async _fail(args) {
    try {
      await this._handle.call('fail', args);
    } catch (err) {
      if (!(err && STORE_FAILURES.has(err.code))) throw err;  // else the marker expires on its own
    }
  }
}

function createCache(client, namespace = 'default', options) {
  return new Cache(client, namespace, options);
}

module.exports = { Cache, createCache };
