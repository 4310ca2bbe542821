// Entry for require('redkeeper/express'): the rateLimit() middleware, RedkeeperStore for apps that
// keep express-rate-limit, and the key helpers.
'use strict';

const { rateLimit } = require('./lib/express/rate_limit');
const { RedkeeperStore } = require('./lib/express/store');
const { byIp, byUser, byRoute, combine } = require('./lib/express/keys');
const { ipKey } = require('./lib/express/ip');

module.exports = { rateLimit, RedkeeperStore, byIp, byUser, byRoute, combine, ipKey };

// Auth state and idempotency integrations, loaded on first use.
Object.defineProperties(module.exports, {
  SessionStore: { enumerable: true, get: () => require('./lib/express/session_store').SessionStore },
  requireValidToken: { enumerable: true, get: () => require('./lib/express/require_valid_token').requireValidToken },
  idempotency: { enumerable: true, get: () => require('./lib/express/idempotency').idempotency },
});
