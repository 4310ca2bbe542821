// Express middleware rejecting revoked, malformed or invalid JWTs with 401 JSON, on rk.tokens.check
// (one round trip, fails closed when the store is down).
'use strict';

const { ErrorCodes } = require('../errors');

const ERRORS = {
  [ErrorCodes.TOKEN_REVOKED]: 'token_revoked',
  [ErrorCodes.TOKEN_MALFORMED]: 'token_malformed',
  [ErrorCodes.TOKEN_INVALID]: 'token_invalid',
};

/** The token of an `Authorization: Bearer <token>` header (scheme case-insensitive), else undefined. */
function bearerToken(req) {
  const header = req.headers && req.headers.authorization;
  if (typeof header !== 'string') return undefined;
  const m = /^bearer\s+(\S+)\s*$/i.exec(header);
  return m ? m[1] : undefined;
}

/**
 * requireValidToken({ client, getToken }): `client` is a redkeeper client (its `tokens`) or a tokens
 * object from `rk.tokens.withOptions(...)`; `getToken(req)` (sync or async) defaults to the Bearer
 * header. On success sets `req.tokenClaims` and calls next(); otherwise responds 401 with
 * `{ error: 'token_missing' | 'token_malformed' | 'token_invalid' | 'token_revoked', message }`.
 * Store errors (only with onError: 'raise') go to next(err).
 */
function requireValidToken(options = {}) {
  const { client, getToken = bearerToken } = options;
  if (!client) throw new TypeError('requireValidToken: options.client is required');
  const tokens = typeof client.check === 'function' ? client : client.tokens;
  return async function validToken(req, res, next) {
    let token;
    try {
      token = await getToken(req);
    } catch (err) {
      next(err);
      return;
    }
    if (token === undefined || token === null || token === '') {
      res.set('WWW-Authenticate', 'Bearer');
      res.status(401).json({ error: 'token_missing', message: 'no bearer token' });
      return;
    }
    let claims;
    try {
      claims = await tokens.check(token);
    } catch (err) {
      const error = err && ERRORS[err.code];
      if (error === undefined) {
        next(err);
        return;
      }
      res.set('WWW-Authenticate', 'Bearer');
      res.status(401).json({ error, message: err.message });
      return;
    }
    req.tokenClaims = claims;
    next();
  };
}

module.exports = { requireValidToken, bearerToken };
