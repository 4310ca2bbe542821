// Demo on the embedded memory:// backend: a "login" limiter, 5 attempts per 15 minutes, hit 7 times
// by one IP. Prints what an Express app would answer each time, with its rate-limit headers.
'use strict';

const { connect } = require('..');

async function main() {
  const rk = connect('memory://', { prefix: 'demo' });
  const login = rk.limiter('login', { rate: '5/15minutes', algorithm: 'sliding_window' });
  const ip = '203.0.113.7';

  console.log(`limiter "${login.name}": ${login.limit} attempts per ${login.windowMs / 60000} minutes (${login.algorithm}), key ${ip}\n`);
  for (let attempt = 1; attempt <= 7; attempt++) {
    const result = await login.hit(ip);
    const status = result.allowed ? '200 OK               ' : '429 Too Many Requests';
    console.log(
      `attempt ${attempt}: ${status}  remaining=${result.remaining}` +
        (result.allowed ? '' : `  retry in ${Math.ceil(result.retryAfterMs / 1000)} s`),
    );
    const headers = result.headers({ standard: 'draft-7', legacy: true });
    for (const [name, value] of Object.entries(headers)) console.log(`    ${name}: ${value}`);
  }

  const peek = await login.peek(ip);
  console.log(`\npeek (consumes nothing): allowed=${peek.allowed} remaining=${peek.remaining}`);
  await login.reset(ip);
  const after = await login.hit(ip);
  console.log(`after reset: allowed=${after.allowed} remaining=${after.remaining}`);
  await rk.close();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
