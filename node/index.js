// redkeeper for Node: rate limits (and, in later releases, the other primitives) on an embedded
// memory:// store or Redis, from one C++ core shared with the Python package.
'use strict';

const { RedkeeperError, ErrorCodes } = require('./lib/errors');
const { ManualClock } = require('./lib/clock');
const { Client, connect } = require('./lib/client');
const { Limiter, LimitResult, renderHeaders } = require('./lib/limiter');
const { MultiLimitResult, clientIp, ipKey } = require('./lib/multi');
const native = require('./lib/native');

// Durations and rates parsed exactly as limiter options are (by the core).
function parseDuration(text) {
  return native.parseDurationMs(text, 'duration');
}

function parseRate(text) {
  return native.parseRate(text);
}

module.exports = {
  connect,
  Client,
  Limiter,
  LimitResult,
  ManualClock,
  RedkeeperError,
  ErrorCodes,
  parseDuration,
  parseRate,
  renderHeaders,
  MultiLimitResult,
  clientIp,
  ipKey,
};
