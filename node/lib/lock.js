// rk.lock(name, options): a distributed lock with fencing tokens over the core's "lock" primitive
// (owner-only release/extend, waits woken by pub/sub, auto-renewal, loss detection). Logic and key
// layout live in the C++ core (core/src/locks/README.md), shared with the Python package.
'use strict';

const { EventEmitter } = require('events');
const { PrimitiveHandle } = require('./primitive');
const { checkOptionsObject } = require('./options');
const { RedkeeperError, ErrorCodes, invalidArgument } = require('./errors');

const OPTION_NAMES = ['ttlMs', 'waitMs', 'autoRenew', 'renewIntervalMs', 'onLost'];
const FOREVER_MS = 30 * 24 * 3600 * 1000; // the core's bound for a wait: waitMs: Infinity

// A duration in ms: a number (fractions round up) or a duration string ('30s', '15m') the core parses.
function durationMs(value, param, { allowZero = false, allowInfinity = false } = {}) {
  if (typeof value === 'string') {
    if (value.trim() === '') throw invalidArgument(param, 'must not be empty');
    return value;
  }
  if (allowInfinity && value === Infinity) return FOREVER_MS;
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw invalidArgument(param, "must be a finite number of milliseconds or a duration string like '30s'");
  }
  if (value < 0 || (value === 0 && !allowZero)) {
    throw invalidArgument(param, `must be ${allowZero ? '>= 0' : 'greater than 0'}, got ${value}`);
  }
  return Math.ceil(value);
}

function lockConfig(name, options) {
  if (typeof name !== 'string') throw invalidArgument('name', `must be a string, got ${typeof name}`);
  const o = checkOptionsObject(options, 'options', OPTION_NAMES);
  const config = { name };
  if (o.ttlMs !== undefined) config.ttl_ms = durationMs(o.ttlMs, 'ttlMs');
  if (o.waitMs !== undefined) config.wait_ms = durationMs(o.waitMs, 'waitMs', { allowZero: true, allowInfinity: true });
  if (o.autoRenew !== undefined) {
    if (typeof o.autoRenew !== 'boolean') throw invalidArgument('autoRenew', 'must be a boolean');
    config.auto_renew = o.autoRenew;
  }
  if (o.renewIntervalMs !== undefined) config.renew_interval_ms = durationMs(o.renewIntervalMs, 'renewIntervalMs');
  if (o.onLost !== undefined && typeof o.onLost !== 'function') throw invalidArgument('onLost', 'must be a function');
  return config;
}

function lostError(name) {
  return new RedkeeperError(ErrorCodes.LOCK_LOST, `lock '${name}': lost while held (the lease expired or another owner took it)`);
}

/**
 * One would-be holder of a named lock. acquire() resolves to the fencing token (strictly greater
 * than every earlier token of the name). While held, the lock is renewed every ttl/3 (autoRenew);
 * when it is lost, `lost` turns true, `signal` aborts, 'lost' is emitted and onLost runs.
 * Events: 'lost' (error: RedkeeperError ERR_RK_LOCK_LOST).
 */
class Lock extends EventEmitter {
  constructor(client, name, options) {
    super();
    this._config = lockConfig(name, options);
    this._client = client;
    this._options = options ? { ...options } : {};
    this._onLost = this._options.onLost;
    this._handle = new PrimitiveHandle(client, 'lock', this._config);
    this._fencingToken = undefined;
    this._owner = undefined;
    this._held = false;
    this._lost = false;
    // Made when `signal` is first read or the holding is lost: an AbortController costs more to
    // create than the rest of a Lock (Node builds its signal with a prototype swap and symbol
    // stores that V8 cannot cache), and most holders never look at it.
    this._controller = undefined;
    this._generation = 0; // bumps per acquisition: a late 'watch' answer of an older one is ignored
  }

  get name() { return this._config.name; }
  /** The fence of the last acquisition (undefined before the first). */
  get fencingToken() { return this._fencingToken; }
  /** The random owner token of the last acquisition (release({ owner }) elsewhere takes it). */
  get owner() { return this._owner; }
  get token() { return this._owner; }
  /** True while this object holds the lock (false once released or lost). */
  get held() { return this._held; }
  /** True when the lock was lost while held. */
  get lost() { return this._lost; }
  /** Aborts when the current holding is lost (a fresh signal per acquisition). */
  get signal() {
    if (this._controller === undefined) this._controller = new AbortController();
    return this._controller.signal;
  }

  /** A new Lock for the same name with some options changed. */
  withOptions(options) {
    return new Lock(this._client, this.name, { ...this._options, ...checkOptionsObject(options, 'options', OPTION_NAMES) });
  }

  /**
   * Takes the lock, waiting up to waitMs (default 10 s; Infinity: no limit) for the holder to
   * release it or its lease to end; resolves to the fencing token. Rejects with
   * ERR_RK_LOCK_NOT_ACQUIRED when the wait ends or the store cannot be asked.
   */
  async acquire(options) {
    const o = checkOptionsObject(options, 'options', ['waitMs', 'ttlMs']);
    let args;  // none (the usual case) crosses as nothing rather than as '{}' to parse
    if (o.waitMs !== undefined || o.ttlMs !== undefined) {
      args = {};
      if (o.waitMs !== undefined) args.wait_ms = durationMs(o.waitMs, 'waitMs', { allowZero: true, allowInfinity: true });
      if (o.ttlMs !== undefined) args.ttl_ms = durationMs(o.ttlMs, 'ttlMs');
    }
    const r = await this._handle.call('acquire', args);
    const generation = ++this._generation;
    this._fencingToken = r.fencing_token;
    this._owner = r.owner;
    this._held = true;
    this._lost = false;
    if (this._controller !== undefined && this._controller.signal.aborted) this._controller = undefined;
    // Settles when this holding ends; keeps the event loop alive while the lock is held, like a
    // renewal timer would.
    this._handle.call('watch').then(
      (w) => { if (w.event === 'lost') this._markLost(generation); },
      () => {}, // client closed: nothing to report
    );
    return r.fencing_token;
  }

  _markLost(generation) {
    if (generation !== this._generation || this._lost) return;
    this._held = false;
    this._lost = true;
    const err = lostError(this.name);
    if (this._controller === undefined) this._controller = new AbortController();
    this._controller.abort(err);
    this.emit('lost', err);
    if (this._onLost) this._onLost(this, err);
  }

  /**
   * Releases the lock. Rejects with ERR_RK_LOCK_LOST when it was lost while held, with
   * ERR_RK_LOCK_NOT_OWNER when this object does not hold it. `{ owner }` releases by owner token
   * (handed over from another process): ERR_RK_LOCK_NOT_OWNER unless that token holds it.
   */
  async release(options) {
    const o = checkOptionsObject(options, 'options', ['owner']);
    let args;
    if (o.owner !== undefined) {
      if (typeof o.owner !== 'string') throw invalidArgument('owner', 'must be a string');
      args = { owner: o.owner };
    }
    try {
      await this._handle.call('release', args);
    } catch (err) {
      if (err && err.code === ErrorCodes.LOCK_LOST) this._markLost(this._generation);
      throw err;
    }
    if (o.owner === undefined || o.owner === this._owner) this._held = false;
  }

  /** Resets the lease to ttlMs from now (default: the current lease length). */
  async extend(ttlMs) {
    const args = ttlMs === undefined ? {} : { ttl_ms: durationMs(ttlMs, 'ttlMs') };
    try {
      await this._handle.call('extend', args);
    } catch (err) {
      if (err && err.code === ErrorCodes.LOCK_LOST) this._markLost(this._generation);
      throw err;
    }
  }

  /** Whether anyone holds the lock now (one PTTL). */
  async locked() {
    return (await this._handle.call('locked')).locked;
  }

  /** The core's view of this holder: { state, held, lost, fencingToken, owner, validForMs }. */
  async state() {
    const s = await this._handle.call('state');
    return {
      state: s.state, held: s.held, lost: s.lost,
      fencingToken: s.fencing_token === null ? undefined : s.fencing_token,
      owner: s.owner === null ? undefined : s.owner,
      validForMs: s.valid_for_ms === null ? undefined : s.valid_for_ms,
    };
  }

  /**
   * Acquires, runs fn(lock), releases (also when fn throws) and resolves to fn's result. When the
   * lock is lost while fn runs, lock.signal aborts at once and using() rejects with
   * ERR_RK_LOCK_LOST after fn settles (fn's own error, if any, is its `cause`).
   */
  async using(fn) {
    if (typeof fn !== 'function') throw invalidArgument('fn', 'must be a function');
    await this.acquire();
    let result;
    let fnError;
    let failed = false;
    try {
      result = await fn(this);
    } catch (err) {
      failed = true;
      fnError = err;
    }
    let releaseError;
    if (this._held || this._lost) {
      try {
        await this.release();
      } catch (err) {
        releaseError = err;
      }
    }
    if (this._lost) {
      const err = releaseError && releaseError.code === ErrorCodes.LOCK_LOST ? releaseError : lostError(this.name);
      if (failed) err.cause = fnError;
      throw err;
    }
    if (failed) throw fnError;
    if (releaseError) throw releaseError;
    return result;
  }
}

function createLock(client, name, options) {
  return new Lock(client, name, options);
}

module.exports = { Lock, createLock };
