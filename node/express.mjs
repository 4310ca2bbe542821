// ESM entry for 'redkeeper/express': the same objects as the CommonJS entry, as named exports.
import express from './express.js';

export const {
  rateLimit,
  RedkeeperStore,
  byIp,
  byUser,
  byRoute,
  combine,
  ipKey,
  requireValidToken,
  idempotency,
} = express;

// SessionStore extends express-session's Store, the app's own dependency: without it installed this
// export is undefined (CommonJS throws a clear error on first access instead).
function sessionStore() {
  try {
    return express.SessionStore;
  } catch {
    return undefined;
  }
}
export const SessionStore = sessionStore();
export default express;
