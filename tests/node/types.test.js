// The .d.ts files are checked by compiling tests/node/types/usage.ts (every public API used the way
// the README shows) with the TypeScript compiler in strict mode: a wrong declaration fails here.
'use strict';

const { execFileSync } = require('child_process');
const path = require('path');

const root = path.resolve(__dirname, '..', '..');

test('index.d.ts and express.d.ts type-check a program using every primitive', () => {
  const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  let output = '';
  try {
    execFileSync(process.execPath, [tsc, '-p', path.join(__dirname, 'types')], { cwd: root, encoding: 'utf8' });
  } catch (err) {
    output = `${err.stdout || ''}${err.stderr || ''}` || String(err);
  }
  expect(output).toBe('');
}, 60000);
