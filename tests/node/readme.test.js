// The README stays true: every JavaScript snippet in it runs, and the Express one behaves as described.
'use strict';

const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');
const request = require('supertest');

const ROOT = path.resolve(__dirname, '../..');
const SNIPPETS = [...fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8').matchAll(/```js\n([\s\S]*?)```/g)]
  .map((m) => m[1]);
// Inside the package, so require('redkeeper') resolves to this checkout (package self-reference).
const DIR = path.join(ROOT, 'build-node', 'readme-snippets');

function runSnippet(code, index) {
  fs.mkdirSync(DIR, { recursive: true });
  const file = path.join(DIR, `snippet-${index}.js`);
  fs.writeFileSync(file, code);
  return spawnSync(process.execPath, [file], { cwd: ROOT, encoding: 'utf8', timeout: 30000 });
}

test('the README has JavaScript snippets', () => {
  expect(SNIPPETS.length).toBeGreaterThanOrEqual(2);
});

test('every JavaScript snippet runs', () => {
  SNIPPETS.forEach((code, index) => {
    const done = runSnippet(code, index);
    expect({ index, status: done.status, stderr: done.stderr }).toEqual({ index, status: 0, stderr: '' });
  });
});

test('the limiter snippet prints a result', () => {
  const index = SNIPPETS.findIndex((s) => s.includes('async function main'));
  const done = runSnippet(SNIPPETS[index], index);
  expect(done.stdout).toMatch(/^true 99 \{\s*RateLimit: 'limit=100, remaining=99, reset=\d+'/);
});

test('the primitives snippet revokes, versions, caches, locks, de-duplicates and verifies', () => {
  const index = SNIPPETS.findIndex((s) => s.includes('rk.tokens.revoke'));
  const done = runSnippet(SNIPPETS[index], index);
  expect(done.stderr).toBe('');
  const out = done.stdout;
  expect(out).toContain('revoked: true');
  expect(out).toContain('version ok: true');
  expect(out).toMatch(/session: \{ cart: \[ 1, 2 \], theme: 'dark' \}/);
  expect(out).toMatch(/cached: \{ name: 'pen', price: 3 \}/);
  expect(out).toMatch(/fencing token: \d+/);
  expect(out).toContain('webhook: ran duplicate');
  expect(out).toContain('otp: true');
});

describe('the Express snippet', () => {
  let app;
  let rk;
  beforeAll(() => {
    const code = SNIPPETS.find((s) => s.includes("require('redkeeper/express')"));
    fs.mkdirSync(DIR, { recursive: true });
    const file = path.join(DIR, 'express-module.js');
    fs.writeFileSync(file, `${code}\nmodule.exports = { app, rk };\n`);
    ({ app, rk } = require(file));
  });
  afterAll(() => rk.close());

  test('limits /login by hand: 5 allowed, then 429 with headers', async () => {
    const statuses = [];
    let last;
    for (let i = 0; i < 6; i += 1) {
      last = await request(app).post('/login');
      statuses.push(last.status);
    }
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429]);
    expect(last.headers['retry-after']).toMatch(/^\d+$/);
    expect(last.headers['x-ratelimit-remaining']).toBe('0');
  });

  test('password reset: 3 per hour, then 429', async () => {
    const statuses = [];
    for (let i = 0; i < 4; i += 1) statuses.push((await request(app).post('/password-reset')).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
  });

  test('/api carries draft-7 headers', async () => {
    const res = await request(app).get('/api/anything');
    expect(res.status).toBe(404);
    expect(res.headers.ratelimit).toMatch(/^limit=100, remaining=99, reset=\d+$/);
  });
});
