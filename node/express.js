// Entry for require('redkeeper/express'): the rateLimit() middleware, RedkeeperStore for apps that
// keep express-rate-limit, and the key helpers.
'use strict';

const { rateLimit } = require('./lib/express/rate_limit');
const { RedkeeperStore } = require('./lib/express/store');
const { byIp, byUser, byRoute, combine } = require('./lib/express/keys');
const { ipKey } = require('./lib/express/ip');

module.exports = { rateLimit, RedkeeperStore, byIp, byUser, byRoute, combine, ipKey };
