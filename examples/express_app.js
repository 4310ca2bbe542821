// An Express app with the rate limits apps usually configure: login 5 per 15 minutes, password reset
// 3 per hour, API 100 per 15 minutes, uploads 20 per minute. `node examples/express_app.js` serves it
// on PORT (default 3000); REDKEEPER_URL picks the backend (default memory://). Tests import createApp.
'use strict';

const express = require('express');
const { connect } = require('redkeeper');
const { rateLimit, byIp, byUser } = require('redkeeper/express');

// The proxies in front of the app (e.g. TRUSTED_PROXIES=loopback,10.0.0.0/8); none by default, so
// a client-sent X-Forwarded-For is never believed.
function trustedProxies() {
  const text = process.env.TRUSTED_PROXIES;
  return text ? text.split(',').map((s) => s.trim()).filter(Boolean) : undefined;
}

function createApp({ client, trust = trustedProxies() } = {}) {
  const ip = byIp({ trust });
  // Demo authentication: a bearer token is the user id. A real app puts its session/JWT user here.
  const userOf = (req) => {
    const auth = req.headers.authorization || '';
    return auth.startsWith('Bearer ') ? auth.slice(7) : undefined;
  };
  const common = { client, standardHeaders: 'draft-7', legacyHeaders: false };

  // Failed attempts count, successful logins are given back: a user who types the right password
  // is never locked out by their own earlier typos once in.
  const login = rateLimit({
    ...common,
    name: 'login',
    limit: 5,
    windowMs: 15 * 60 * 1000,
    keyGenerator: ip,
    skipSuccessfulRequests: true,
    message: { error: 'too_many_login_attempts', detail: 'Too many login attempts, try again in 15 minutes.' },
  });
  // Per IP and per target account, in one round trip: neither one IP spraying many accounts nor
  // many IPs hammering one account get more than 3 an hour.
  const passwordReset = rateLimit({
    ...common,
    limits: [
      { name: 'password-reset-ip', limit: 3, windowMs: 60 * 60 * 1000, keyGenerator: ip },
      { name: 'password-reset-account', limit: 3, windowMs: 60 * 60 * 1000, keyGenerator: (req) => `account:${String((req.body && req.body.email) || '').toLowerCase()}` },
    ],
    message: { error: 'too_many_password_resets' },
  });
  const api = rateLimit({
    ...common,
    name: 'api',
    limit: 100,
    windowMs: 15 * 60 * 1000,
    keyGenerator: byUser(userOf, { fallback: ip }),
    message: { error: 'rate_limited' },
  });
  const uploads = rateLimit({
    ...common,
    name: 'uploads',
    limit: 20,
    windowMs: 60 * 1000,
    keyGenerator: byUser(userOf, { fallback: ip }),
    message: { error: 'too_many_uploads' },
  });

  const app = express();
  app.use(express.json());
  app.post('/login', login, (req, res) => {
    const { username, password } = req.body || {};
    if (username === 'demo' && password === 'demo') return res.json({ token: 'demo' });
    return res.status(401).json({ error: 'invalid_credentials' });
  });
  app.post('/password-reset', passwordReset, (req, res) => res.status(202).json({ sent: true }));
  app.use('/api', api);
  app.get('/api/items', (req, res) => res.json({ items: [1, 2, 3], rateLimit: req.rateLimit }));
  app.post('/api/uploads', uploads, (req, res) => res.status(201).json({ uploaded: true }));
  app.get('/health', async (req, res) => res.json(await client.health()));
  return app;
}

if (require.main === module) {
  const client = connect(process.env.REDKEEPER_URL || 'memory://');
  const port = Number(process.env.PORT || 3000);
  const server = createApp({ client }).listen(port, () => {
    console.log(`redkeeper Express example on http://localhost:${port} (${client.url})`);
    console.log(`try: for i in 1 2 3 4 5 6; do curl -si -X POST localhost:${port}/login -H 'content-type: application/json' -d '{"username":"demo","password":"nope"}' | head -1; done`);
  });
  const stop = () => server.close(() => client.close());
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

module.exports = { createApp };
