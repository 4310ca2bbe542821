// Key generators for rateLimit(): by client IP (proxy-aware), by authenticated user, by route, and
// combinations. Each returns a string (or a Promise of one) that names whose allowance a request uses.
'use strict';

const { invalidArgument } = require('../errors');
const opts = require('../options');
const { checkTrust, clientIp, ipKey, checkSubnet, unmap } = require('./ip');

const BY_IP_OPTIONS = ['trust', 'ipv6Subnet'];

let warnedTrustAll = false;

// trust given: the peer address, replaced by X-Forwarded-For hops only while the hop that reported
// them is in `trust`. trust not given: Express' own req.ip (its 'trust proxy' setting) — except
// `trust proxy = true`, which believes any X-Forwarded-For a client sends; then the socket peer.
function byIp(options) {
  const o = opts.checkOptionsObject(options, 'byIp options', BY_IP_OPTIONS);
  const subnet = o.ipv6Subnet === undefined ? 56 : checkSubnet(o.ipv6Subnet);
  if (o.trust !== undefined) {
    const trusted = checkTrust(o.trust);
    return (req) => {
      const socket = req.socket || req.connection;
      const peer = socket && socket.remoteAddress;
      const ip = peer && clientIp(peer, req.headers['x-forwarded-for'], trusted);
      if (!ip) throw invalidArgument('keyGenerator', 'the request has no peer address (connection already closed?)');
      return ipKey(ip, subnet);
    };
  }
  return (req) => {
    let ip = req.ip;
    if (req.app && typeof req.app.get === 'function' && req.app.get('trust proxy') === true) {
      if (!warnedTrustAll) {
        warnedTrustAll = true;
        process.emitWarning(
          "Express 'trust proxy' is true, so req.ip comes from X-Forwarded-For that any client can forge; " +
            'rate limiting by the socket peer instead. Pass `trust` (your proxies) to rateLimit() or byIp().',
          { code: 'RK_TRUST_PROXY_TRUE' },
        );
      }
      ip = undefined;
    }
    if (ip === undefined) {
      const socket = req.socket || req.connection;
      ip = socket && socket.remoteAddress;
    }
    if (!ip) throw invalidArgument('keyGenerator', 'the request has no peer address (connection already closed?)');
    return ipKey(unmap(ip), subnet);
  };
}

function isPromise(v) {
  return v !== null && typeof v === 'object' && typeof v.then === 'function';
}

// getUser(req) returns the user's id (string or number) or null/undefined for anonymous requests,
// which then fall back to `fallback` (by IP unless said otherwise). Prefixes keep the spaces apart.
function byUser(getUser, options) {
  if (typeof getUser !== 'function') throw invalidArgument('getUser', `must be a function, got ${opts.describe(getUser)}`);
  const o = opts.checkOptionsObject(options, 'byUser options', ['fallback']);
  const fallback = o.fallback === undefined ? byIp() : o.fallback;
  if (fallback !== null && typeof fallback !== 'function') {
    throw invalidArgument('fallback', 'must be a key generator function or null');
  }
  const finish = (req, res, user) => {
    if (user !== null && user !== undefined && user !== '') return `user:${user}`;
    if (fallback === null) throw invalidArgument('keyGenerator', 'no authenticated user on the request and no fallback');
    const k = fallback(req, res);
    return isPromise(k) ? k.then((v) => `ip:${v}`) : `ip:${k}`;
  };
  return (req, res) => {
    const user = getUser(req, res);
    return isPromise(user) ? user.then((u) => finish(req, res, u)) : finish(req, res, user);
  };
}

function routeKey(req) {
  // Before routing (app.use) there is no req.route; the path then stands for the route.
  const path = req.route && typeof req.route.path === 'string' ? (req.baseUrl || '') + req.route.path : (req.baseUrl || '') + (req.path || req.url);
  return `${req.method} ${path}`;
}

// byRoute() returns the generator; byRoute used directly as a generator works too.
function byRoute(reqOrOptions) {
  if (reqOrOptions && typeof reqOrOptions === 'object' && typeof reqOrOptions.method === 'string' && reqOrOptions.headers) {
    return routeKey(reqOrOptions);
  }
  opts.checkOptionsObject(reqOrOptions, 'byRoute options', []);
  return routeKey;
}

// combine(byIp(), byRoute): one key made of every part, e.g. '203.0.113.9|GET /login'.
function combine(...generators) {
  if (generators.length === 0) throw invalidArgument('combine', 'needs at least one key generator');
  generators.forEach((g, i) => {
    if (typeof g !== 'function') throw invalidArgument(`combine[${i}]`, `must be a key generator function, got ${opts.describe(g)}`);
  });
  return (req, res) => {
    const parts = generators.map((g) => g(req, res));
    if (parts.some(isPromise)) return Promise.all(parts).then((all) => all.join('|'));
    return parts.join('|');
  };
}

module.exports = { byIp, byUser, byRoute, combine, isPromise };
