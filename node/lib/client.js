// Client and connect(): one backend (memory:// or Redis) per client, limiters made from it, and a
// close() that settles everything in flight so the process can exit.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');

const native = require('./native');
const { invalidArgument } = require('./errors');
const opts = require('./options');
const { ManualClock, kNative: kClock } = require('./clock');
const { Limiter, limiterConfig } = require('./limiter');
const { hitMany } = require('./multi');

const CONNECT_OPTIONS = ['prefix', 'clock', 'commandTimeoutMs', 'connectTimeoutMs', 'tls', 'maxPending',
  'cluster', 'clusterRefreshMs'];
const TLS_OPTIONS = ['ca', 'cert', 'key', 'servername', 'rejectUnauthorized'];

// The core reads TLS material from files. Node users usually pass PEM contents (fs.readFileSync), so
// contents go to a private temporary file that close() removes; a plain string is taken as a path.
function tlsMaterial(value, param, tempFiles) {
  if (value === undefined) return '';
  if (typeof value === 'string' && !value.includes('-----BEGIN')) return value;
  if (typeof value !== 'string' && !(value instanceof Uint8Array)) {
    throw invalidArgument(`tls.${param}`, `must be a file path, a PEM string or a Buffer, got ${opts.describe(value)}`);
  }
  if (tempFiles.dir === undefined) tempFiles.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'redkeeper-tls-'));
  const file = path.join(tempFiles.dir, `${param}.pem`);
  fs.writeFileSync(file, value, { mode: 0o600 });
  return file;
}

function nativeOptions(options, tempFiles) {
  const o = opts.checkOptionsObject(options, 'options', CONNECT_OPTIONS);
  const out = {};
  if (o.prefix !== undefined) out.prefix = opts.string(o.prefix, 'prefix');
  if (o.clock !== undefined) {
    if (!(o.clock instanceof ManualClock)) throw invalidArgument('clock', 'must be a ManualClock');
    out.clock = o.clock[kClock];
  }
  for (const name of ['commandTimeoutMs', 'connectTimeoutMs', 'maxPending']) {
    if (o[name] !== undefined) out[name] = opts.positiveInteger(o[name], name);
  }
  if (o.cluster !== undefined) {
    if (typeof o.cluster !== 'boolean') throw invalidArgument('cluster', `must be a boolean, got ${opts.describe(o.cluster)}`);
    out.cluster = o.cluster;
  }
  if (o.clusterRefreshMs !== undefined) {
    opts.integer(o.clusterRefreshMs, 'clusterRefreshMs');
    if (o.clusterRefreshMs < 0) {
      throw invalidArgument('clusterRefreshMs', `must be >= 0 (0 = refresh only on errors), got ${o.clusterRefreshMs}`);
    }
    out.clusterRefreshMs = o.clusterRefreshMs;
  }
  if (o.tls !== undefined) {
    const t = opts.checkOptionsObject(o.tls, 'tls', TLS_OPTIONS);
    if (t.servername !== undefined) opts.string(t.servername, 'tls.servername');
    if (t.rejectUnauthorized !== undefined && typeof t.rejectUnauthorized !== 'boolean') {
      throw invalidArgument('tls.rejectUnauthorized', 'must be a boolean');
    }
    out.tls = {
      caFile: tlsMaterial(t.ca, 'ca', tempFiles),
      certFile: tlsMaterial(t.cert, 'cert', tempFiles),
      keyFile: tlsMaterial(t.key, 'key', tempFiles),
      serverName: t.servername || '',
      verify: t.rejectUnauthorized !== false,
    };
  }
  return out;
}

function removeTempFiles(tempFiles) {
  if (tempFiles.dir === undefined) return;
  fs.rmSync(tempFiles.dir, { recursive: true, force: true });
  tempFiles.dir = undefined;
}

const kNative = Symbol('redkeeper.nativeClient');

class Client {
  constructor(url, options) {
    if (typeof url !== 'string') throw invalidArgument('url', `must be a string, got ${opts.describe(url)}`);
    const tempFiles = {};
    try {
      this[kNative] = new native.NativeClient(url, nativeOptions(options, tempFiles));
    } catch (err) {
      removeTempFiles(tempFiles);
      throw err;
    }
    this._tempFiles = tempFiles;
    this.url = url.replace(/\/\/[^@/]*@/, '//***@');
  }

  // Throws on bad options (config errors are synchronous); ops on the limiter return Promises.
  limiter(name, options) {
    return new Limiter(this[kNative].limiter(...limiterConfig(name, options)), this);
  }

  // Several limits at one instant, all or nothing: [{ limiter, key, cost }]. When any limit
  // rejects, none consumes. One round trip on Redis. Resolves to a MultiLimitResult.
  // The script-based primitives: each module in lib/ builds its object around a PrimitiveHandle
  // (lib/primitive.js). Required lazily: most apps use a few.
  _prim(name, make) {
    if (this._prims === undefined) this._prims = new Map();
    let p = this._prims.get(name);
    if (p === undefined) {
      p = make(this);
      this._prims.set(name, p);
    }
    return p;
  }

  /** The JWT denylist (revoke, revokeUser, isRevoked, check, stats). */
  get tokens() { return this._prim('tokens', (c) => require('./tokens').createTokens(c)); }

  /** Per-user token version counters plus a global epoch. */
  get tokenVersions() { return this._prim('tokenVersions', (c) => require('./tokens').createTokenVersions(c)); }

  /** Server-side sessions with a per-user index. */
  get sessions() { return this._prim('sessions', (c) => require('./sessions').createSessions(c)); }

  /** A cache namespace (tenant): JSON/Buffer values, counters, tags, getOrSet. */
  cache(namespace = 'default', options) { return require('./cache').createCache(this, namespace, options); }

  /** A distributed lock with fencing tokens: `await rk.lock('job', { ttlMs }).using(async (lk) => ...)`. */
  lock(name, options) { return require('./lock').createLock(this, name, options); }

  /** Idempotency keys: begin/complete/abandon, and once() for webhooks. */
  get idempotency() { return this._prim('idempotency', (c) => require('./idempotency').createIdempotency(c)); }

  /** One-time codes: issue and verify, stored as HMACs, with attempt limits. */
  get otp() { return this._prim('otp', (c) => require('./otp').createOtp(c)); }

  hitMany(checks) {
    return hitMany(this[kNative], checks);
  }

  ping() {
    try {
      return this[kNative].ping();
    } catch (err) {
      return Promise.reject(err);
    }
  }

  health() {
    try {
      return Promise.resolve(this[kNative].health());
    } catch (err) {
      return Promise.reject(err);
    }
  }

  stats() {
    try {
      return Promise.resolve(this[kNative].stats());
    } catch (err) {
      return Promise.reject(err);
    }
  }

  get closed() {
    return this[kNative].closed();
  }

  // Settles every op in flight (they reject with ERR_RK_CLOSED) and stops background work. Idempotent.
  close() {
    try {
      this[kNative].close();
      removeTempFiles(this._tempFiles);
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(err);
    }
  }
}

function connect(url = 'memory://', options = undefined) {
  return new Client(url, options);
}

module.exports = { Client, connect };
