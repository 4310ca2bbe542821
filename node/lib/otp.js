// rk.otp: one-time codes over the core's "otp" primitive: issue/verify/revoke, stored as HMACs, with
// attempt limits and a resend cooldown. Logic and keys live in the C++ core (core/src/otp/README.md).
'use strict';

const { PrimitiveHandle } = require('./primitive');
const { invalidArgument } = require('./errors');
const { checkOptionsObject, optionalMs } = require('./options');

const OPTION_NAMES = ['name', 'secret', 'ttlMs', 'digits', 'maxAttempts', 'cooldownMs'];
const SECRET_ENV = 'REDKEEPER_OTP_SECRET';

function issueResult(r) {
  return {
    issued: r.issued,
    reason: r.reason,
    code: r.code === undefined ? null : r.code,
    ttlMs: r.ttl_ms === undefined ? null : r.ttl_ms,
    retryAfterMs: r.retry_after_ms,
  };
}

function verifyResult(r) {
  return { ok: r.ok, reason: r.reason, attemptsLeft: r.attempts_left, retryAfterMs: r.retry_after_ms };
}

class Otp {
  constructor(client, options) {
    const opts = { ...checkOptionsObject(options, 'options', OPTION_NAMES) };
    const config = { name: opts.name === undefined ? 'default' : opts.name };
    const secret = opts.secret !== undefined && opts.secret !== null ? opts.secret : process.env[SECRET_ENV];
    if (secret !== undefined && secret !== '') config.secret = secret;
    const ttl = optionalMs(opts.ttlMs, 'ttlMs');
    if (ttl !== undefined) config.ttl_ms = ttl;
    if (opts.digits !== undefined) config.digits = opts.digits;
    if (opts.maxAttempts !== undefined) config.max_attempts = opts.maxAttempts;
    if (opts.cooldownMs !== undefined) config.cooldown_ms = opts.cooldownMs === 0 ? 0 : optionalMs(opts.cooldownMs, 'cooldownMs');
    this._client = client;
    this._options = opts;
    this._config = config;
    // Made on first use, so `rk.otp.withOptions({ secret })` works on Redis, where a handle without
    // a secret is refused.
    this._handleObj = null;
  }

  get _handle() {
    if (this._handleObj === null) this._handleObj = new PrimitiveHandle(this._client, 'otp', this._config);
    return this._handleObj;
  }

  get name() { return this._config.name; }

  /** A new instance with these options changed. */
  withOptions(options) {
    return new Otp(this._client, { ...this._options, ...(options || {}) });
  }

  /**
   * Issues a CSPRNG code (or stores `options.code`). Resolves to { issued: true, reason: 'issued',
   * code, ttlMs, retryAfterMs: 0 } or { issued: false, reason: 'cooldown' | 'locked', code: null,
   * retryAfterMs }.
   */
  async issue(subject, options) {
    const args = { subject };
    if (options !== undefined && options !== null) {
      if (typeof options !== 'object') throw invalidArgument('options', 'must be an object');
      const ttl = optionalMs(options.ttlMs, 'ttlMs');
      if (ttl !== undefined) args.ttl_ms = ttl;
      if (options.digits !== undefined) args.digits = options.digits;
      if (options.code !== undefined) args.code = options.code;
    }
    return issueResult(await this._handle.call('issue', args));
  }

  /**
   * Checks `code` atomically. Resolves to { ok, reason: 'ok' | 'invalid' | 'expired_or_missing' |
   * 'locked', attemptsLeft, retryAfterMs }.
   */
  async verify(subject, code) {
    return verifyResult(await this._handle.call('verify', { subject, code }));
  }

  /** Withdraws the subject's code (with its failure count and cooldown). */
  async revoke(subject) {
    const r = await this._handle.call('revoke', { subject });
    return r.revoked;
  }
}

function createOtp(client) {
  return new Otp(client);
}

module.exports = { Otp, createOtp };
