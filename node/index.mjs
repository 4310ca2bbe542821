// ESM entry: the same objects as the CommonJS entry, as named exports.
import redkeeper from './index.js';

export const {
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
} = redkeeper;
export default redkeeper;
