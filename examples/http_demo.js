// The README's demo, HTTP part: serves examples/express_app.js on a free port (memory://) and prints
// what a client sees: six failed logins (the sixth is 429) and four password resets (the fourth is 429).
'use strict';

const http = require('http');
const { connect } = require('redkeeper');
const { createApp } = require('./express_app');

function post(port, path, body) {
  return new Promise((resolve, reject) => {
    const data = JSON.stringify(body);
    const req = http.request({ port, path, method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } }, (res) => {
      let text = '';
      res.on('data', (chunk) => { text += chunk; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(data);
  });
}

function show(label, res) {
  const pick = ['ratelimit', 'ratelimit-policy', 'retry-after'].filter((h) => res.headers[h] !== undefined);
  console.log(`${label}: ${res.status} ${res.body}`);
  for (const h of pick) console.log(`    ${h}: ${res.headers[h]}`);
}

async function main() {
  const client = connect('memory://', { prefix: 'http-demo' });
  const server = createApp({ client }).listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address();
  console.log(`Express example (examples/express_app.js) on 127.0.0.1:${port}, memory://\n`);
  for (let i = 1; i <= 6; i += 1) show(`POST /login (wrong password) #${i}`, await post(port, '/login', { username: 'demo', password: 'nope' }));
  for (let i = 1; i <= 4; i += 1) show(`POST /password-reset #${i}`, await post(port, '/password-reset', { email: 'ada@example.com' }));
  await new Promise((resolve) => server.close(resolve));
  await client.close();
}

main().catch((err) => { console.error(err); process.exitCode = 1; });
