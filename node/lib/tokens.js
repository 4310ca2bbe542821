// rk.tokens (JWT denylist + per-user revoke-all) and rk.tokenVersions (per-user counters plus a
// global epoch) over the core's "tokens" / "token_versions" primitives. Decoding, verification,
// key layout and the exact rules live in the C++ core (core/src/tokens/README.md), shared with Python.
'use strict';

const { PrimitiveHandle } = require('./primitive');
const { RedkeeperError, ErrorCodes, invalidArgument } = require('./errors');
const { checkOptionsObject, optionalMs } = require('./options');

const TOKEN_OPTIONS = ['maxLifetimeMs', 'leewayMs', 'verifyKey', 'algorithms', 'onError', 'auditLimit'];
const VERSION_OPTIONS = ['loader', 'cacheTtlMs', 'onError'];

// Strings and bytes go to the core; anything else is not a token (same error as garbage text).
function tokenArg(token) {
  if (typeof token === 'string' || token instanceof Uint8Array) return token;
  throw new RedkeeperError(ErrorCodes.TOKEN_MALFORMED, 'token: must be a string');
}

// User ids / subs: strings or safe integers (42 and '42' are the same user, from Node and Python).
function userArg(value, param) {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' && Number.isSafeInteger(value)) return value;
  throw invalidArgument(param, 'must be a string or an integer');
}

function reject(fn) {
  try {
    return fn();
  } catch (err) {
    return Promise.reject(err);
  }
}

class Tokens {
  constructor(client, options) {
    const opts = { ...checkOptionsObject(options, 'options', TOKEN_OPTIONS) };
    const config = {};
    const life = optionalMs(opts.maxLifetimeMs, 'maxLifetimeMs');
    if (life !== undefined) config.max_lifetime_ms = life;
    if (opts.leewayMs !== undefined && opts.leewayMs !== null) {
      config.leeway_ms = opts.leewayMs === 0 ? 0 : optionalMs(opts.leewayMs, 'leewayMs');
    }
    if (opts.verifyKey !== undefined && opts.verifyKey !== null) config.verify_key = opts.verifyKey;
    if (opts.algorithms !== undefined && opts.algorithms !== null) config.algorithms = opts.algorithms;
    if (opts.onError !== undefined) config.on_error = opts.onError;
    if (opts.auditLimit !== undefined) config.audit_limit = opts.auditLimit;
    this._client = client;
    this._options = opts;
    this._handle = new PrimitiveHandle(client, 'tokens', config);
  }

  /** A new instance with these options changed; this one is unchanged. */
  withOptions(options) {
    return new Tokens(this._client, { ...this._options, ...checkOptionsObject(options, 'options', TOKEN_OPTIONS) });
  }

  /** Denylists the token until it expires. true when this call added it. */
  revoke(token) {
    return reject(() => this._handle.call('revoke', { token: tokenArg(token) })).then((r) => r.added);
  }

  /** Revokes every token of `sub` issued before now; the reason goes to the bounded audit trail. */
  revokeUser(sub, reason) {
    return reject(() => {
      const args = { sub: userArg(sub, 'sub') };
      if (reason !== undefined && reason !== null) args.reason = reason;
      return this._handle.call('revoke_user', args);
    }).then((r) => ({ revokedBeforeMs: r.revoked_before_ms, expiresAtMs: r.expires_at_ms }));
  }

  /** One round trip: denylisted, revoked by revokeUser, or expired. true when the store is down (fail closed). */
  isRevoked(token) {
    return reject(() => this._handle.callString('is_revoked', 'token', tokenArg(token)));
  }

  /** The claims, or rejects with ERR_RK_TOKEN_REVOKED / ERR_RK_TOKEN_INVALID / ERR_RK_TOKEN_MALFORMED. */
  check(token) {
    return reject(() => this._handle.callString('check', 'token', tokenArg(token)));
  }

  /** { denylisted, usersRevoked } */
  stats() {
    return this._handle.call('stats', {}).then((r) => ({ denylisted: r.denylisted, usersRevoked: r.users_revoked }));
  }

  audit(sub) {
    return reject(() => this._handle.call('audit', { sub: userArg(sub, 'sub') })).then((r) => ({
      revokedBeforeMs: r.revoked_before_ms,
      entries: r.entries.map((e) => ({ atMs: e.at_ms, reason: e.reason })),
    }));
  }

  /** { header, claims } without any check or store access. */
  decode(token) {
    return reject(() => this._handle.call('decode', { token: tokenArg(token) }));
  }
}

// A version is one integer: epoch * 2^32 + the user's counter; verify() is true iff it is current.
class TokenVersions {
  constructor(client, options) {
    const opts = { ...checkOptionsObject(options, 'options', VERSION_OPTIONS) };
    if (opts.loader !== undefined && opts.loader !== null && typeof opts.loader !== 'function') {
      throw invalidArgument('loader', 'must be a function (user) => number | null | Promise of one');
    }
    const config = {};
    const ttl = optionalMs(opts.cacheTtlMs, 'cacheTtlMs');
    if (ttl !== undefined) config.cache_ttl_ms = ttl;
    if (opts.onError !== undefined) config.on_error = opts.onError;
    this._client = client;
    this._options = opts;
    this._loader = opts.loader || null;
    this._handle = new PrimitiveHandle(client, 'token_versions', config);
  }

  withOptions(options) {
    return new TokenVersions(this._client, { ...this._options, ...checkOptionsObject(options, 'options', VERSION_OPTIONS) });
  }

  async _load(user) {
    const v = await this._loader(user);
    if (v === undefined || v === null) return 0;
    if (!Number.isSafeInteger(v) || v < 0) throw invalidArgument('loader', `must resolve to a non-negative integer or null, got ${v}`);
    return v;
  }

  /** The user's current version (embed it in the tokens you issue). */
  async get(user) {
    const u = userArg(user, 'user');
    let r = await this._handle.call('get', { user: u });
    if (!r.found && this._loader) r = await this._handle.call('prime', { user: u, counter: await this._load(u) });
    return r.version;
  }

  /** Invalidates every version issued so far for the user; resolves with the new version. */
  async bump(user) {
    const args = { user: userArg(user, 'user'), need_load: this._loader !== null };
    let r = await this._handle.call('bump', args);
    if (!r.found) {
      args.base = await this._load(args.user);
      r = await this._handle.call('bump', args);
    }
    return r.version;
  }

  /** Invalidates every user's tokens; resolves with the new epoch. */
  async bumpAll() {
    return (await this._handle.call('bump_all', {})).epoch;
  }

  /** true iff `version` is the user's current version; false when the store is down (fail closed). */
  async verify(user, version) {
    const u = userArg(user, 'user');
    if (!Number.isSafeInteger(version)) throw invalidArgument('version', 'must be an integer');
    const r = await this._handle.call('verify', { user: u, version });
    if (!r.found && this._loader && !r.degraded) return (await this.get(u)) === version;
    return r.valid;
  }
}

function createTokens(client) {
  return new Tokens(client);
}

function createTokenVersions(client) {
  return new TokenVersions(client);
}

module.exports = { Tokens, TokenVersions, createTokens, createTokenVersions };
