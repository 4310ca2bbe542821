// rk.sessions: server-side sessions over the core's "sessions" primitive: create/get/update/touch/
// destroy, per-user listing and logout, rotate, count. Logic, key layout and exact semantics live in
// the C++ core (core/src/sessions/README.md), shared with the Python package.
'use strict';

const { PrimitiveHandle } = require('./primitive');
const { invalidArgument } = require('./errors');
const { checkOptionsObject, optionalMs } = require('./options');

const OPTION_NAMES = ['name', 'idleTimeoutMs', 'absoluteTimeoutMs', 'touchOnGet', 'maxBytes'];

function checkObject(value, param) {
  if (value !== undefined && (value === null || typeof value !== 'object' || Array.isArray(value))) {
    throw invalidArgument(param, 'must be an object');
  }
  return value || {};
}

// User ids: strings or safe integers (42 and '42' are the same user, from Node and Python alike).
function userId(value, param = 'userId') {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' && Number.isSafeInteger(value)) return value;
  throw invalidArgument(param, 'must be a string or an integer');
}

function meta(m) {
  return {
    handle: m.handle,
    userId: m.user_id,
    device: m.device,
    created: m.created,
    lastSeen: m.last_seen,
    expires: m.expires,
    idleTimeoutMs: m.idle_timeout_ms,
    absoluteDeadline: m.absolute_deadline,
  };
}

function listing(e) {
  return { handle: e.handle, device: e.device, created: e.created, lastSeen: e.last_seen, expires: e.expires, current: e.current };
}

class Sessions {
  constructor(client, options) {
    const opts = { ...checkOptionsObject(options, 'options', OPTION_NAMES) };
    const config = { name: opts.name === undefined ? 'default' : opts.name };
    const idle = optionalMs(opts.idleTimeoutMs, 'idleTimeoutMs');
    if (idle !== undefined) config.idle_timeout_ms = idle;
    if (opts.absoluteTimeoutMs !== undefined && opts.absoluteTimeoutMs !== null) {
      config.absolute_timeout_ms = opts.absoluteTimeoutMs === 0 ? 0 : optionalMs(opts.absoluteTimeoutMs, 'absoluteTimeoutMs');
    }
    if (opts.touchOnGet !== undefined) config.touch_on_get = opts.touchOnGet;
    if (opts.maxBytes !== undefined) config.max_bytes = opts.maxBytes;
    this._client = client;
    this._options = opts;
    this._handle = new PrimitiveHandle(client, 'sessions', config);
  }

  get name() { return this._handle.config.name; }

  /** A new instance with these options changed (this one is unchanged). */
  withOptions(options) {
    return new Sessions(this._client, { ...this._options, ...checkObject(options, 'options') });
  }

  _saveArgs(data, options) {
    const o = checkObject(options, 'options');
    const args = { data: data === undefined ? {} : data };
    if (o.userId !== undefined && o.userId !== null) args.user_id = userId(o.userId);
    const ttl = optionalMs(o.ttlMs, 'ttlMs');
    if (ttl !== undefined) args.ttl_ms = ttl;
    if (o.device !== undefined && o.device !== null) args.device = o.device;
    return args;
  }

  /** A new session; resolves to its id (43 URL-safe chars). options: { userId, ttlMs, device }. */
  async create(data, options) {
    return this._handle.call('create', this._saveArgs(data, options));
  }

  /** Stores data under an id chosen elsewhere (replaces the data; keeps created/user/device). */
  async set(id, data, options) {
    const args = this._saveArgs(data, options);
    args.id = id;
    return this._handle.call('set', args);
  }

  /**
   * The session's data, or null. options: { touch } (default: refresh the idle expiry, unless the
   * instance has touchOnGet: false), { withMeta: true } resolves to { data, meta } instead.
   */
  async get(id, options) {
    const o = checkObject(options, 'options');
    const withMeta = o.withMeta === true;
    // Without meta the core answers the data as JSON text: V8's JSON.parse builds it fastest.
    let r;
    if (!withMeta && o.touch === undefined) {
      r = await this._handle.callString('get', 'id', id, 'as_json');  // the per-request form
    } else {
      const args = withMeta ? { id, with_meta: true } : { id, as_json: true };
      if (o.touch !== undefined) args.touch = o.touch;
      r = await this._handle.call('get', args);
    }
    if (r === null) return null;
    if (!withMeta) return JSON.parse(r);
    return { data: r.data, meta: meta(r.meta) };
  }

  /** Metadata without refreshing: { handle, userId, device, created, lastSeen, expires, idleTimeoutMs, absoluteDeadline } or null. */
  async info(id) {
    const r = await this._handle.call('info', { id });
    return r === null ? null : meta(r);
  }

  /** Merges top-level keys (a null value deletes the key); false when there is no session. */
  async update(id, patch, options) {
    const o = checkObject(options, 'options');
    const args = { id, patch };
    if (o.touch !== undefined) args.touch = o.touch;
    return this._handle.call('update', args);
  }

  /** Sliding refresh, optionally with a new idle timeout { ttlMs }; false when there is no session. */
  async touch(id, options) {
    const o = checkObject(options, 'options');
    const args = { id };
    const ttl = optionalMs(o.ttlMs, 'ttlMs');
    if (ttl !== undefined) args.ttl_ms = ttl;
    return this._handle.call('touch', args);
  }

  async destroy(id) { return this._handle.call('destroy', { id }); }

  /** Destroys a session listed by listUser (only when it belongs to that user). */
  async destroyHandle(user, handle) {
    return this._handle.call('destroy_handle', { user_id: userId(user), handle });
  }

  /** Destroys every session of the user except options.exceptId; resolves to how many. */
  async destroyUser(user, options) {
    const o = checkObject(options, 'options');
    const args = { user_id: userId(user) };
    if (o.exceptId !== undefined && o.exceptId !== null) args.except_id = o.exceptId;
    return this._handle.call('destroy_user', args);
  }

  /** The user's live sessions: [{ handle, device, created, lastSeen, expires, current }]. */
  async listUser(user, options) {
    const o = checkObject(options, 'options');
    const args = { user_id: userId(user) };
    if (o.currentId !== undefined && o.currentId !== null) args.current_id = o.currentId;
    return (await this._handle.call('list_user', args)).map(listing);
  }

  /** New id for the same session (against fixation); the old id stops working. null when gone. */
  async rotate(id) { return this._handle.call('rotate', { id }); }

  /** Live sessions in this namespace. */
  async count() { return this._handle.call('count', {}); }

  /** Handles of every live session (O(n): admin use). */
  async ids() { return this._handle.call('ids', {}); }

  /** Every live session: [{ handle, data, meta }] (O(n): admin use). */
  async all() {
    return (await this._handle.call('all', {})).map((e) => ({ handle: e.handle, data: e.data, meta: meta(e.meta) }));
  }

  /** Removes every session of this namespace; resolves to how many were live. */
  async clear() { return this._handle.call('clear', {}); }
}

function createSessions(client, options) {
  return new Sessions(client, options);
}

module.exports = { Sessions, createSessions };
