// Finds and loads the compiled addon (redkeeper.node) that `npm install` built with cmake-js.
'use strict';

const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..', '..');

// REDKEEPER_NATIVE overrides for debugging; build-node/ is where `npm install` puts it; build/ is
// cmake-js's default output for someone running `npx cmake-js compile` by hand.
function candidates() {
  const list = [];
  if (process.env.REDKEEPER_NATIVE) list.push(path.resolve(process.env.REDKEEPER_NATIVE));
  for (const dir of ['build-node', 'build']) {
    for (const config of ['Release', 'Debug', 'RelWithDebInfo']) {
      list.push(path.join(root, dir, config, 'redkeeper.node'));
    }
  }
  return list;
}

function load() {
  const tried = candidates();
  for (const file of tried) {
    if (fs.existsSync(file)) return require(file);
  }
  const err = new Error(
    'redkeeper: the native addon is not built. Run `npm install` (or `npx cmake-js compile --out build-node`) ' +
      'in ' + root + '. Looked in:\n  ' + tried.join('\n  '),
  );
  err.code = 'ERR_RK_NATIVE_NOT_FOUND';
  throw err;
}

module.exports = load();
