// PrimitiveHandle: the generic door to a script-based primitive of the C++ core. Each primitive
// module (tokens.js, cache.js, lock.js, ...) is a typed wrapper over one handle. Arguments and
// results are JSON-shaped (objects, arrays, strings, numbers, booleans, null; Buffer/Uint8Array for
// bytes, which come back as Buffer). Every error is a RedkeeperError with a stable `code`.
'use strict';

// The native client lives under a module-private symbol of client.js; find it once by description
// so this module needs nothing else from client.js.
let nativeKey;
function nativeOf(client) {
  if (nativeKey === undefined && client !== null && typeof client === 'object') {
    nativeKey = Object.getOwnPropertySymbols(client).find((s) => s.description === 'redkeeper.nativeClient');
  }
  const native = nativeKey === undefined ? undefined : client[nativeKey];
  if (native === undefined) {
    const { invalidArgument } = require('./errors');
    throw invalidArgument('client', 'must be a redkeeper Client');
  }
  return native;
}

class PrimitiveHandle {
  // Throws RedkeeperError (ERR_RK_INVALID_ARGUMENT) on an unknown kind or bad config,
  // ERR_RK_CLOSED when the client is closed.
  constructor(client, kind, config) {
    this.client = client;
    this.kind = kind;
    this.config = config === undefined ? {} : config;
    this._native = nativeOf(client).primitive(kind, this.config);
  }

  // Resolves with the op's JSON result. Never throws: argument errors reject like store errors.
  call(op, args) {
    try {
      return this._native.call(op, args);
    } catch (err) {
      return Promise.reject(err);
    }
  }
}

module.exports = { PrimitiveHandle };
