// Entry for require('redkeeper/express'): the rateLimit() middleware, RedkeeperStore for apps that
// keep express-rate-limit, the key helpers, requireValidToken(), idempotency() and SessionStore.
'use strict';

const { rateLimit } = require('./lib/express/rate_limit');
const { RedkeeperStore } = require('./lib/express/store');
const { byIp, byUser, byRoute, combine } = require('./lib/express/keys');
const { ipKey } = require('./lib/express/ip');

module.exports = { rateLimit, RedkeeperStore, byIp, byUser, byRoute, combine, ipKey };

const { requireValidToken } = require('./lib/express/require_valid_token');
const { idempotency } = require('./lib/express/idempotency');

module.exports.requireValidToken = requireValidToken;
module.exports.idempotency = idempotency;
// SessionStore extends express-session's Store (the app's dependency): built on first access.
Object.defineProperty(module.exports, 'SessionStore', {
  enumerable: true,
  get: () => require('./lib/express/session_store').SessionStore,
});
