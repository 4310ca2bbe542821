// RedkeeperStore: express-rate-limit's Store interface on a redkeeper client, for apps that keep
// express-rate-limit and swap only the store (like rate-limit-redis, minus the hand-written Lua).
'use strict';

const { invalidArgument } = require('../errors');
const { Client } = require('../client');
const opts = require('../options');
const { kMaxLimit, kMaxLimitTimesWindow } = require('./bounds');

const STORE_OPTIONS = ['client', 'prefix', 'name'];

// express-rate-limit decides, the store only counts: it rejects when totalHits > limit, counts the
// rejected hits too, and later calls decrement() for any hit (a rejected one included) that
// skipFailedRequests/skipSuccessfulRequests say should not count. Our limiter consumes nothing on a
// rejected hit, so a limiter at the app's limit would under-count and a decrement after a 429
// would give away a unit never taken. So the store runs a fixed window whose capacity is far above
// any real limit: every increment consumes one unit, and totalHits = capacity - remaining. The
// app's limit (which express-rate-limit may compute per request) never reaches the store.
class RedkeeperStore {
  constructor(options) {
    const o = opts.checkOptionsObject(options, 'options', STORE_OPTIONS);
    if (!(o.client instanceof Client)) throw invalidArgument('client', 'is required and must be a redkeeper Client (from connect())');
    this.client = o.client;
    this.prefix = o.prefix === undefined ? 'rl:' : opts.string(o.prefix, 'prefix');
    this.name = o.name === undefined ? 'express-rate-limit' : opts.string(o.name, 'name');
    // Keys live on the client's backend: every app server sees the same counts.
    this.localKeys = false;
    this.limiter = undefined;
  }

  // Called by express-rate-limit with its resolved options; windowMs is all the store needs.
  init(options) {
    const windowMs = Math.ceil(options.windowMs);
    if (!Number.isFinite(windowMs) || windowMs <= 0) throw invalidArgument('windowMs', `must be > 0, got ${options.windowMs}`);
    this.windowMs = windowMs;
    this.capacity = Math.min(kMaxLimit, Math.floor(kMaxLimitTimesWindow / windowMs));
    this.limiter = this.client.limiter(this.name, {
      limit: this.capacity,
      windowMs,
      algorithm: 'fixed_window',
      onError: 'raise',
    });
  }

  _ready() {
    if (this.limiter === undefined) throw invalidArgument('store', 'init() was not called (pass the store to express-rate-limit)');
    return this.limiter;
  }

  _info(result) {
    return { totalHits: this.capacity - result.remaining, resetTime: new Date(Date.now() + result.resetAfterMs) };
  }

  async get(key) {
    const r = await this._ready().peek(this.prefix + key);
    if (r.remaining === this.capacity) return undefined;
    return this._info(r);
  }

  async increment(key) {
    const r = await this._ready().hit(this.prefix + key);
    // Only a key already holding `capacity` hits in this window is rejected; report it as full.
    if (!r.allowed) return { totalHits: this.capacity + 1, resetTime: new Date(Date.now() + r.resetAfterMs) };
    return this._info(r);
  }

  async decrement(key) {
    await this._ready().refund(this.prefix + key, 1);
  }

  async resetKey(key) {
    await this._ready().reset(this.prefix + key);
  }

  // The client belongs to the app (it may serve other limiters): closing it is the app's call.
  async shutdown() {}
}

module.exports = { RedkeeperStore };
