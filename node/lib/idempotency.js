// rk.idempotency: begin/complete/abandon/extend over the core's "idempotency" primitive, and once()
// for webhooks. Logic and keys live in the C++ core (core/src/idempotency/README.md).
'use strict';

const { PrimitiveHandle } = require('./primitive');
const { ErrorCodes, invalidArgument } = require('./errors');
const { checkOptionsObject, optionalMs } = require('./options');

const OPTION_NAMES = ['name', 'ttlMs', 'lockTtlMs', 'maxResponseBytes'];

function beginResult(r) {
  switch (r.status) {
    case 'new': return { status: 'new', token: r.token };
    case 'completed': return { status: 'completed', response: r.response };
    case 'in_progress': return { status: 'inProgress', retryAfterMs: r.retry_after_ms };
    default: return { status: r.status };
  }
}

class Idempotency {
  constructor(client, options) {
    const opts = { ...checkOptionsObject(options, 'options', OPTION_NAMES) };
    const config = { name: opts.name === undefined ? 'default' : opts.name };
    const ttl = optionalMs(opts.ttlMs, 'ttlMs');
    if (ttl !== undefined) config.ttl_ms = ttl;
    const lockTtl = optionalMs(opts.lockTtlMs, 'lockTtlMs');
    if (lockTtl !== undefined) config.lock_ttl_ms = lockTtl;
    if (opts.maxResponseBytes !== undefined) config.max_response_bytes = opts.maxResponseBytes;
    this._client = client;
    this._options = opts;
    this._handle = new PrimitiveHandle(client, 'idempotency', config);
  }

  get name() { return this._options.name === undefined ? 'default' : this._options.name; }

  /** A new instance with these options changed. */
  withOptions(options) {
    return new Idempotency(this._client, { ...this._options, ...(options || {}) });
  }

  /**
   * Claims `key` ({ status: 'new', token }) or reports its state: { status: 'inProgress', retryAfterMs },
   * { status: 'completed', response } or { status: 'mismatch' } (same key, other fingerprint).
   */
  async begin(key, fingerprint, options) {
    const args = { key };
    if (fingerprint !== undefined && fingerprint !== null) args.fingerprint = fingerprint;
    const lockTtl = optionalMs(options && options.lockTtlMs, 'lockTtlMs');
    if (lockTtl !== undefined) args.lock_ttl_ms = lockTtl;
    return beginResult(await this._handle.call('begin', args));
  }

  /** Stores `response` (JSON, Buffers allowed) for retries; only the token's owner may. */
  async complete(key, token, response, options) {
    const args = { key, token, response: response === undefined ? null : response };
    const ttl = optionalMs(options && options.ttlMs, 'ttlMs');
    if (ttl !== undefined) args.ttl_ms = ttl;
    await this._handle.call('complete', args);
  }

  /** Frees the key so a retry runs again. false when the marker had already expired or was completed. */
  async abandon(key, token) {
    const r = await this._handle.call('abandon', { key, token });
    return r.abandoned;
  }

  /** Pushes the in-progress marker's expiry out (heartbeat for long requests). */
  async extend(key, token, options) {
    const args = { key, token };
    const lockTtl = optionalMs(options && options.lockTtlMs, 'lockTtlMs');
    if (lockTtl !== undefined) args.lock_ttl_ms = lockTtl;
    const r = await this._handle.call('extend', args);
    return r.extended;
  }

  /**
   * Runs `handler` at most once per `eventId` across every process. Resolves to
   * { status: 'ran', result } | { status: 'duplicate', result } (the stored first result) |
   * { status: 'inProgress', retryAfterMs } | { status: 'mismatch' }. A handler that throws frees
   * the event (so a redelivery runs it) and the error propagates. The result is stored when it is
   * JSON (Buffers allowed) and small enough, else null is.
   */
  async once(eventId, handler, options) {
    if (typeof handler !== 'function') throw invalidArgument('handler', 'must be a function');
    const fingerprint = options && options.fingerprint;
    const b = await this.begin(eventId, fingerprint);
    if (b.status === 'completed') return { status: 'duplicate', result: b.response };
    if (b.status === 'inProgress') return { status: 'inProgress', retryAfterMs: b.retryAfterMs };
    if (b.status !== 'new') return { status: b.status };
    let result;
    try {
      result = await handler();
    } catch (err) {
      await this.abandon(eventId, b.token).catch(() => {});  // the marker expires anyway
      throw err;
    }
    try {
      try {
        await this.complete(eventId, b.token, result === undefined ? null : result);
      } catch (err) {
        if (err.code !== ErrorCodes.INVALID_ARGUMENT) throw err;
        await this.complete(eventId, b.token, null);  // not storable: the event is still done
      }
    } catch (err) {
      // The handler outlived lockTtlMs: its work is done, a redelivery may run it again.
      if (err.code !== ErrorCodes.LOCK_LOST && err.code !== ErrorCodes.LOCK_NOT_OWNER) throw err;
    }
    return { status: 'ran', result };
  }
}

function createIdempotency(client) {
  return new Idempotency(client);
}

module.exports = { Idempotency, createIdempotency };
