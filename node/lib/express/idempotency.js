// idempotency(): Express middleware for the Idempotency-Key header on rk.idempotency. The first
// request runs and its response (status, headers, body) is stored before it is sent; a retry replays
// it (Idempotent-Replayed: true); a concurrent duplicate gets 409, the same key with another request
// 422. Statuses >= 500, thrown errors and aborted responses release the key so a retry runs again.
'use strict';

const crypto = require('crypto');
const { ErrorCodes, invalidArgument } = require('../errors');
const { Idempotency } = require('../idempotency');
const opts = require('../options');

const OPTIONS = [
  'client', 'idempotency', 'name', 'ttlMs', 'lockTtlMs', 'maxResponseBytes', 'methods', 'header', 'scope',
  'fingerprint', 'maxKeyLength', 'storeStatus',
];
// Connection-level or recomputed headers: never replayed from the store.
const SKIP_HEADERS = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length', 'date']);

function fn(value, param) {
  if (value === undefined) return undefined;
  if (typeof value !== 'function') throw invalidArgument(param, `must be a function, got ${opts.describe(value)}`);
  return value;
}

// The request body as bytes, whatever ran before us: the raw bytes when a parser kept them
// (req.rawBody, express.raw()), the text (express.text()), else the parsed value as JSON.
function bodyBytes(req) {
  if (Buffer.isBuffer(req.rawBody)) return req.rawBody;
  const body = req.body;
  if (body === undefined || body === null) return Buffer.alloc(0);
  if (Buffer.isBuffer(body)) return body;
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  return Buffer.from(JSON.stringify(body), 'utf8');
}

function defaultFingerprint(req) {
  return crypto.createHash('sha256')
    .update(`${req.method}\n${req.originalUrl || req.url}\n`)
    .update(bodyBytes(req))
    .digest('hex');
}

function sendJson(res, status, payload, headers) {
  const body = Buffer.from(JSON.stringify(payload));
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', body.length);
  for (const [k, v] of Object.entries(headers || {})) res.setHeader(k, v);
  res.end(body);
}

// [[name, value], ...] with multi-valued headers (set-cookie) as several pairs, as Python stores them.
function headerPairs(res) {
  const pairs = [];
  for (const [name, value] of Object.entries(res.getHeaders())) {
    if (SKIP_HEADERS.has(name)) continue;
    if (Array.isArray(value)) for (const v of value) pairs.push([name, String(v)]);
    else pairs.push([name, String(value)]);
  }
  return pairs;
}

function replay(res, stored) {
  if (stored === null || typeof stored !== 'object' || !Number.isInteger(stored.status)) {
    // Not written by a middleware (once() or a direct complete() used the same name).
    sendJson(res, 409, { error: 'Idempotency-Key belongs to a non-HTTP operation' });
    return;
  }
  const grouped = new Map();
  for (const [name, value] of stored.headers || []) {
    const key = String(name).toLowerCase();
    if (SKIP_HEADERS.has(key)) continue;
    if (!grouped.has(key)) grouped.set(key, []);
    grouped.get(key).push(String(value));
  }
  res.statusCode = stored.status;
  for (const [name, values] of grouped) res.setHeader(name, values.length === 1 ? values[0] : values);
  let body = stored.body;
  if (body === undefined || body === null) body = Buffer.alloc(0);
  else if (typeof body === 'string') body = Buffer.from(body, 'utf8');
  res.setHeader('Idempotent-Replayed', 'true');
  res.setHeader('Content-Length', body.length);
  res.end(body);
}

function idempotency(options) {
  const o = opts.checkOptionsObject(options, 'options', OPTIONS);
  let idem = o.idempotency;
  if (idem === undefined) {
    if (o.client === undefined) throw invalidArgument('client', 'idempotency() needs client or idempotency');
    idem = new Idempotency(o.client, {
      name: o.name === undefined ? 'http' : o.name,
      ttlMs: o.ttlMs,
      lockTtlMs: o.lockTtlMs,
      maxResponseBytes: o.maxResponseBytes,
    });
  } else if (!(idem instanceof Idempotency)) {
    throw invalidArgument('idempotency', 'must be rk.idempotency (or its withOptions())');
  }
  const methods = new Set((o.methods || ['POST', 'PATCH']).map((m) => String(m).toUpperCase()));
  const header = (o.header === undefined ? 'Idempotency-Key' : opts.string(o.header, 'header')).toLowerCase();
  const scope = fn(o.scope, 'scope');
  const fingerprint = fn(o.fingerprint, 'fingerprint') || defaultFingerprint;
  const storeStatus = fn(o.storeStatus, 'storeStatus') || ((status) => status < 500);
  const maxKeyLength = o.maxKeyLength === undefined ? 255 : opts.positiveInteger(o.maxKeyLength, 'maxKeyLength');
  if (maxKeyLength > 512) throw invalidArgument('maxKeyLength', 'must be at most 512');

  async function handle(req, res, next) {
    let key = String(req.headers[header]).trim();
    if (key.length === 0 || key.length > maxKeyLength) {
      sendJson(res, 400, { error: `${header} must be 1 to ${maxKeyLength} characters` });
      return;
    }
    if (scope) {
      const owner = await scope(req);
      if (owner) key = `${owner}:${key}`;
    }
    const fp = await fingerprint(req);
    let b;
    try {
      b = await idem.begin(key, fp);
    } catch (err) {
      // Running the request without idempotency could run it twice: refuse instead.
      sendJson(res, 503, { error: 'idempotency store unavailable' }, { 'Retry-After': '1' });
      return;
    }
    if (b.status === 'mismatch') {
      sendJson(res, 422, { error: 'Idempotency-Key was already used with a different request' });
      return;
    }
    if (b.status === 'inProgress') {
      sendJson(res, 409, { error: 'a request with this Idempotency-Key is in progress' },
        { 'Retry-After': String(Math.max(1, Math.ceil(b.retryAfterMs / 1000))) });
      return;
    }
    if (b.status === 'completed') {
      replay(res, b.response);
      return;
    }
    capture(req, res, key, b.token);
    next();
  }

  // Buffers the response until it is complete, stores it (or releases the key), then sends it.
  function capture(req, res, key, token) {
    const origWrite = res.write;
    const origEnd = res.end;
    const origWriteHead = res.writeHead;
    const chunks = [];
    let ended = false;
    let settled = false;
    const release = () => {
      if (settled) return Promise.resolve();
      settled = true;
      return idem.abandon(key, token).catch(() => {});  // the marker expires anyway
    };
    const toBuffer = (chunk, encoding) => {
      if (chunk === undefined || chunk === null) return null;
      if (Buffer.isBuffer(chunk)) return chunk;
      if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      return Buffer.from(String(chunk), typeof encoding === 'string' ? encoding : 'utf8');
    };
    // Headers given to writeHead become ordinary headers, so getHeaders() sees them at the end.
    res.writeHead = function writeHead(status, reason, headers) {
      if (typeof reason !== 'string') headers = reason;
      else res.statusMessage = reason;
      res.statusCode = status;
      if (Array.isArray(headers)) {
        for (let i = 0; i + 1 < headers.length; i += 2) res.setHeader(headers[i], headers[i + 1]);
      } else if (headers) {
        for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
      }
      return res;
    };
    res.write = function write(chunk, encoding, cb) {
      const buf = toBuffer(chunk, encoding);
      if (buf) chunks.push(buf);
      const callback = typeof encoding === 'function' ? encoding : cb;
      if (callback) process.nextTick(callback);
      return true;
    };
    res.end = function end(chunk, encoding, cb) {
      if (ended) return res;
      ended = true;
      if (typeof chunk === 'function') { cb = chunk; chunk = undefined; }
      if (typeof encoding === 'function') { cb = encoding; encoding = undefined; }
      const buf = toBuffer(chunk, encoding);
      if (buf) chunks.push(buf);
      const body = Buffer.concat(chunks);
      const status = res.statusCode;
      const finish = () => {
        res.write = origWrite;
        res.end = origEnd;
        res.writeHead = origWriteHead;
        if (!res.hasHeader('content-length') && !res.hasHeader('transfer-encoding')) res.setHeader('Content-Length', body.length);
        origEnd.call(res, body, cb);
      };
      let store;
      if (storeStatus(status)) {
        settled = true;
        store = idem.complete(key, token, { status, headers: headerPairs(res), body }).catch((err) => {
          // Too large to store: release rather than wedge the key. Marker expired: nothing to do.
          if (err && err.code === ErrorCodes.INVALID_ARGUMENT) { settled = false; return release(); }
          return undefined;
        });
      } else {
        store = release();
      }
      store.then(finish, finish);
      return res;
    };
    // The client went away before the handler answered: free the key for its retry.
    res.on('close', () => { if (!ended) release(); });
  }

  return function idempotencyMiddleware(req, res, next) {
    if (!methods.has(req.method) || req.headers[header] === undefined) {
      next();
      return;
    }
    handle(req, res, next).catch(next);
  };
}

module.exports = { idempotency };
