// The README's demo command also drives the Express example app: the transcript shows the 6th failed
// login and the 4th password reset rejected with 429 and Retry-After.
'use strict';

const path = require('path');
const { spawnSync } = require('child_process');

test('http demo transcript', () => {
  const done = spawnSync(process.execPath, [path.join(__dirname, '../../examples/http_demo.js')],
    { encoding: 'utf8', timeout: 30000, env: process.env });
  expect(done.stderr).toBe('');
  expect(done.status).toBe(0);
  const lines = done.stdout.split('\n');
  const status = (prefix) => lines.filter((l) => l.startsWith(prefix)).map((l) => l.split(': ')[1].split(' ')[0]);
  expect(status('POST /login')).toEqual(['401', '401', '401', '401', '401', '429']);
  expect(status('POST /password-reset')).toEqual(['202', '202', '202', '429']);
  expect(lines.filter((l) => l.trim().startsWith('retry-after:'))).toHaveLength(2);
});
