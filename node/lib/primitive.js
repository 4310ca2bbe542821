// PrimitiveHandle: the generic door to a script-based primitive of the C++ core. Each primitive
// module (tokens.js, cache.js, lock.js, ...) is a typed wrapper over one handle. Arguments and
// results are JSON-shaped (objects, arrays, strings, numbers, booleans, null; Buffer/Uint8Array for
// bytes, which come back as Buffer). Every error is a RedkeeperError with a stable `code`.
'use strict';

const { invalidArgument } = require('./errors');

// The native client lives under a module-private symbol of client.js; find it once by description
// so this module needs nothing else from client.js.
let nativeKey;
function nativeOf(client) {
  if (nativeKey === undefined && client !== null && typeof client === 'object') {
    nativeKey = Object.getOwnPropertySymbols(client).find((s) => s.description === 'redkeeper.nativeClient');
  }
  const native = nativeKey === undefined || client === null || typeof client !== 'object' ? undefined : client[nativeKey];
  if (native === undefined) throw invalidArgument('client', 'must be a redkeeper Client');
  return native;
}

// ---- argument encoding ---------------------------------------------------------------------------
// Arguments cross into C++ as one JSON text (plus the byte arrays it refers to): V8 validates and
// stringifies a small object far faster than one Node-API call per property could read it. check()
// applies the native converter's rules (bindings/node/primitive_wrap.cpp): finite numbers only,
// undefined members omitted, plain objects only, 64 levels at most (cycles hit that limit), errors
// name the path of the offending value. It reports whether the text needs the native fix-up pass:
// byte arrays (sent as {"\u0000rk": i} markers) or integers beyond the safe range (sent as floats).

const MAX_DEPTH = 64;
const BIN_KEY = '\u0000rk'; // user keys may not use it
const NEEDS_FIXUP = 1;
const toTag = Object.prototype.toString;

class PathError extends Error {
  constructor(why) {
    super(why);
    this.path = '';
  }
}

function isPlain(v) {
  const proto = Object.getPrototypeOf(v);
  // null, or some realm's Object.prototype (jest and vm contexts have their own).
  return proto === null || Object.getPrototypeOf(proto) === null;
}

function checkObject(v, depth) {
  if (ArrayBuffer.isView(v)) {
    if (toTag.call(v) !== '[object Uint8Array]') throw new PathError('typed arrays other than Uint8Array/Buffer are not accepted');
    return NEEDS_FIXUP;
  }
  if (depth >= MAX_DEPTH) throw new PathError('nested more than 64 levels deep (or contains itself)');
  let flags = 0;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      try {
        flags |= check(v[i], depth + 1);
      } catch (err) {
        if (err instanceof PathError) err.path = `[${i}]${err.path}`;
        throw err;
      }
    }
    return flags;
  }
  if (!isPlain(v)) {
    const tag = toTag.call(v);
    if (tag === '[object Date]') throw new PathError('is a Date (not JSON): pass date.getTime() or date.toISOString()');
    if (tag === '[object ArrayBuffer]') throw new PathError('is an ArrayBuffer: pass a Buffer or Uint8Array');
    throw new PathError('is not a plain object (Map, Set, class instances... are not JSON)');
  }
  for (const key in v) {
    // Reported at the object's path (the key itself cannot be spelled), as Python reports it.
    if (!wellFormed(key)) throw new PathError('object key is not encodable as UTF-8 (lone surrogate)');
    try {
      if (key === BIN_KEY) throw new PathError('is a reserved key');
      flags |= check(v[key], depth + 1);
    } catch (err) {
      if (err instanceof PathError) err.path = `.${key}${err.path}`;
      throw err;
    }
  }
  return flags;
}

// A string the native side can spell in UTF-8: no lone surrogate (which JSON.parse of "\ud800" or
// string slicing can make). Rejected as the Python package rejects it, rather than changed.
const wellFormed = (s) => s.isWellFormed();
const NOT_UTF8 = 'is not encodable as UTF-8 (lone surrogate)';

function check(v, depth) {
  switch (typeof v) {
    case 'string':
      if (!wellFormed(v)) throw new PathError(NOT_UTF8);
      return 0;
    case 'boolean':
    case 'undefined':
      return 0;
    case 'number':
      if (!Number.isFinite(v)) throw new PathError('must be a finite number (NaN and Infinity are not JSON)');
      return Number.isInteger(v) && !Number.isSafeInteger(v) ? NEEDS_FIXUP : 0;
    case 'object':
      return v === null ? 0 : checkObject(v, depth);
    case 'bigint': throw new PathError('is a BigInt (not JSON): convert it to a number or a string');
    case 'symbol': throw new PathError('is a Symbol (not JSON)');
    case 'function': throw new PathError('is a function (not JSON)');
    default: throw new PathError('is not a JSON value');
  }
}

// Byte arrays become markers; `this[key]` is the value before Buffer#toJSON ran.
function binaryReplacer(bins) {
  return function replace(key, value) {
    const original = this[key];
    if (ArrayBuffer.isView(original)) {
      bins.push(original);
      return { [BIN_KEY]: bins.length - 1 };
    }
    return value;
  };
}

// The JSON text of `args` (an op's arguments, or a handle's config: `name` says which) for the
// native side; byte arrays found on the way are left in encodedBins (no array is returned: this
// runs on every call). Throws RedkeeperError naming the path.
let encodedBins;
function encodeArgs(args, name = 'args') {
  encodedBins = undefined;
  if (typeof args !== 'object' || args === null || Array.isArray(args) || ArrayBuffer.isView(args)) {
    throw invalidArgument(name, 'must be an object');
  }
  let flags;
  try {
    flags = checkObject(args, 0);
  } catch (err) {
    if (err instanceof PathError) throw invalidArgument(`${name}${err.path}`, err.message);
    if (err instanceof RangeError) throw invalidArgument(name, 'nested too deeply');
    throw err;
  }
  if (flags === 0) return JSON.stringify(args);
  const bins = [];
  const text = JSON.stringify(args, binaryReplacer(bins));
  encodedBins = bins;
  return text;
}

class PrimitiveHandle {
  // Throws RedkeeperError (ERR_RK_INVALID_ARGUMENT) on an unknown kind or bad config,
  // ERR_RK_CLOSED when the client is closed.
  constructor(client, kind, config) {
    this.client = client;
    this.kind = kind;
    this.config = config === undefined || config === null ? {} : config;
    const native = nativeOf(client);
    if (typeof kind !== 'string') throw invalidArgument('kind', 'must be a string');
    this._native = native.primitive(kind, encodeArgs(this.config, 'config'), encodedBins);
  }

  // Resolves with the op's JSON result. Never throws: argument errors reject like store errors.
  call(op, args) {
    try {
      if (args === undefined || args === null) return this._native.call(op);
      const text = encodeArgs(args);
      return this._native.call(op, text, encodedBins);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  // call(op, { [field]: value }) for a string value (plus { [flag]: true } when a flag is named),
  // without the JSON round: the hot ops that take one token, key or id. Other values take call().
  callString(op, field, value, flag) {
    if (typeof value !== 'string' || !wellFormed(value)) {
      const args = { [field]: value };
      if (flag !== undefined) args[flag] = true;
      return this.call(op, args);
    }
    try {
      return this._native.callString(op, field, value, flag);
    } catch (err) {
      return Promise.reject(err);
    }
  }
}

module.exports = { PrimitiveHandle };
