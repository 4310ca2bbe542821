// RedkeeperError and its stable codes. Native errors are built by the same class through the factory
// registered here, so `instanceof RedkeeperError` and `err.code` hold for every error we raise.
'use strict';

const native = require('./native');

const ErrorCodes = Object.freeze({
  INVALID_ARGUMENT: 'ERR_RK_INVALID_ARGUMENT',
  CONNECTION: 'ERR_RK_CONNECTION',
  TIMEOUT: 'ERR_RK_TIMEOUT',
  QUEUE_FULL: 'ERR_RK_QUEUE_FULL',
  PROTOCOL: 'ERR_RK_PROTOCOL',
  SCRIPT: 'ERR_RK_SCRIPT',
  CLOSED: 'ERR_RK_CLOSED',
  INTERNAL: 'ERR_RK_INTERNAL',
  // Outcomes of the script-based primitives (tokens, locks, cache).
  TOKEN_MALFORMED: 'ERR_RK_TOKEN_MALFORMED',
  TOKEN_INVALID: 'ERR_RK_TOKEN_INVALID',
  TOKEN_REVOKED: 'ERR_RK_TOKEN_REVOKED',
  LOCK_NOT_ACQUIRED: 'ERR_RK_LOCK_NOT_ACQUIRED',
  LOCK_LOST: 'ERR_RK_LOCK_LOST',
  LOCK_NOT_OWNER: 'ERR_RK_LOCK_NOT_OWNER',
  LOADER_FAILED: 'ERR_RK_LOADER_FAILED',
});

class RedkeeperError extends Error {
  constructor(code, message) {
    super(message);
    this.name = 'RedkeeperError';
    this.code = code;
  }
}

native.setErrorFactory((code, message) => new RedkeeperError(code, message));

// Same "param: why" shape as the core's invalid_argument(), so messages read alike from C++ and JS.
function invalidArgument(param, why) {
  return new RedkeeperError(ErrorCodes.INVALID_ARGUMENT, `${param}: ${why}`);
}

module.exports = { RedkeeperError, ErrorCodes, invalidArgument };
