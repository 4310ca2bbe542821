// SessionStore: an express-session Store on rk.sessions, a drop-in for connect-redis (same option
// names: ttl in seconds or a function, disableTouch; TTL from cookie.expires like connect-redis).
// Session data lives under SHA-256 handles of express-session's ids (core/src/sessions/README.md),
// so all()/ids() report handles, never usable ids.
'use strict';

const { invalidArgument } = require('../errors');

// express-session is a peer dependency: loaded when a store is first made.
let BaseStore = null;
function baseStore() {
  if (BaseStore === null) BaseStore = require('express-session').Store;
  return BaseStore;
}

function optionalCb(promise, cb) {
  if (typeof cb !== 'function') return promise;
  promise.then((v) => cb(null, v), (err) => cb(err));
  return undefined;
}

// Default user-id extraction for the per-user index: passport's `passport.user`, else `userId`.
function defaultUserId(sess) {
  const candidates = [sess && sess.passport && sess.passport.user, sess && sess.userId];
  for (const c of candidates) {
    if (typeof c === 'string' && c !== '') return c;
    if (typeof c === 'number' && Number.isSafeInteger(c)) return c;
  }
  return undefined;
}

const OPTION_NAMES = ['client', 'ttl', 'disableTouch', 'name', 'absoluteTimeoutMs', 'userId'];

function makeStoreClass() {
  const Base = baseStore();
  class SessionStore extends Base {
    /**
     * options: { client (required: a redkeeper Client), ttl (seconds or (sess) => seconds; default
     * 86400, used when the cookie has no expiry), disableTouch, name (sessions namespace, default
     * 'express'), absoluteTimeoutMs, userId ((sess) => user id for rk.sessions.destroyUser/listUser;
     * default passport.user or userId; false disables) }
     */
    constructor(options) {
      super();
      if (options === null || typeof options !== 'object') throw invalidArgument('options', 'must be an object');
      for (const key of Object.keys(options)) {
        if (!OPTION_NAMES.includes(key)) {
          throw invalidArgument(key, `unknown option (expected one of: ${OPTION_NAMES.join(', ')})`);
        }
      }
      if (!options.client || typeof options.client !== 'object') throw invalidArgument('client', 'a redkeeper Client is required');
      const ttl = options.ttl === undefined ? 86400 : options.ttl;
      if (typeof ttl !== 'function' && !(typeof ttl === 'number' && Number.isFinite(ttl) && ttl > 0)) {
        throw invalidArgument('ttl', 'must be seconds (> 0) or a function (sess) => seconds');
      }
      this.ttl = ttl;
      this.disableTouch = options.disableTouch === true;
      this.userId = options.userId === false ? null : (options.userId || defaultUserId);
      const sessionOptions = { name: options.name === undefined ? 'express' : options.name, touchOnGet: false };
      if (options.absoluteTimeoutMs !== undefined) sessionOptions.absoluteTimeoutMs = options.absoluteTimeoutMs;
      this.sessions = options.client.sessions.withOptions(sessionOptions);
    }

    // Milliseconds the session should live: until cookie.expires when set, else `ttl`.
    getTTL(sess) {
      if (typeof this.ttl === 'function') return Math.ceil(this.ttl(sess) * 1000);
      const expires = sess && sess.cookie && sess.cookie.expires;
      if (expires) return new Date(expires).getTime() - Date.now();
      return Math.ceil(this.ttl * 1000);
    }

    // express-session's hot path: one HGETALL answered as JSON text (touch is its own call).
    get(sid, cb) {
      const p = this.sessions._handle.call('get', { id: sid, as_json: true, touch: false })
        .then((text) => (text === null ? null : JSON.parse(text)));
      return optionalCb(p, cb);
    }

    set(sid, sess, cb) {
      return optionalCb(this._set(sid, sess), cb);
    }

    async _set(sid, sess) {
      const ttlMs = this.getTTL(sess);
      if (!(ttlMs > 0)) {
        await this.sessions.destroy(sid);
        return;
      }
      // JSON round trip, as connect-redis does: Cookie serialises itself through toJSON().
      const data = JSON.parse(JSON.stringify(sess));
      const options = { ttlMs };
      const user = this.userId === null ? undefined : this.userId(sess);
      if (user !== undefined && user !== null) options.userId = user;
      await this.sessions.set(sid, data, options);
    }

    touch(sid, sess, cb) {
      if (this.disableTouch) return optionalCb(Promise.resolve(), cb);
      return optionalCb(this._touch(sid, sess), cb);
    }

    async _touch(sid, sess) {
      const ttlMs = this.getTTL(sess);
      if (ttlMs > 0) await this.sessions.touch(sid, { ttlMs });
      else await this.sessions.destroy(sid);
    }

    destroy(sid, cb) {
      return optionalCb(this.sessions.destroy(sid).then(() => undefined), cb);
    }

    clear(cb) {
      return optionalCb(this.sessions.clear().then(() => undefined), cb);
    }

    length(cb) {
      return optionalCb(this.sessions.count(), cb);
    }

    /** Handles (base64url SHA-256 of the ids): the ids themselves are never stored. */
    ids(cb) {
      return optionalCb(this.sessions.ids(), cb);
    }

    /** Every session, each with `id` set to its handle (see ids()). */
    all(cb) {
      return optionalCb(this.sessions.all().then((list) => list.map((e) => ({ ...e.data, id: e.handle }))), cb);
    }
  }
  return SessionStore;
}

let StoreClass = null;
module.exports = {
  get SessionStore() {
    if (StoreClass === null) StoreClass = makeStoreClass();
    return StoreClass;
  },
};
