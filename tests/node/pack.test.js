// `npm pack` makes a tarball that installs and builds in an empty project, without the developer's
// npm settings (no nodedir, fresh HOME) and without fetching Node headers: node-api-headers from npm.
'use strict';

const { execFileSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const root = path.resolve(__dirname, '..', '..');
const TEN_MINUTES = 10 * 60 * 1000;

function run(cmd, args, cwd, env) {
  return execFileSync(cmd, args, { cwd, env, encoding: 'utf8', timeout: TEN_MINUTES, stdio: ['ignore', 'pipe', 'pipe'] });
}

test(
  'npm pack tarball installs and builds in an empty project',
  () => {
    const work = fs.mkdtempSync(path.join(os.tmpdir(), 'redkeeper-pack-'));
    try {
      const home = path.join(work, 'home');
      const app = path.join(work, 'app');
      fs.mkdirSync(home);
      fs.mkdirSync(app);
      const env = { ...process.env, HOME: home };
      // Drop every npm setting inherited from the developer's shell (npm_config_nodedir above all);
      // keep the package cache so the test does not download the registry again.
      for (const k of Object.keys(env)) if (k.toLowerCase().startsWith('npm_')) delete env[k];
      env.npm_config_cache = path.join(os.homedir(), '.npm');
      env.npm_config_update_notifier = 'false';
      // The compiler cache (scripts/setup.sh): keep the developer's cache dir despite the fresh
      // HOME, and rewrite paths relative to the installed package, as the checkout's own build does
      // relative to the checkout, so the tarball's build reuses that build's objects.
      env.CCACHE_DIR = process.env.CCACHE_DIR || path.join(os.homedir(), '.cache', 'ccache');
      env.CCACHE_BASEDIR = path.join(app, 'node_modules', 'redkeeper');

      const packed = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', work], root, env));
      const tarball = path.join(work, packed[0].filename);
      const files = packed[0].files.map((f) => f.path);
      expect(files).toEqual(expect.arrayContaining(['CMakeLists.txt', 'node/index.js', 'node/index.d.ts', 'bindings/node/CMakeLists.txt', 'core/CMakeLists.txt']));
      expect(files.some((f) => f.startsWith('tests/') || f.startsWith('build'))).toBe(false);

      fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }));
      run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', tarball], app, env);

      const script = `
        const { connect, ManualClock } = require('redkeeper');
        (async () => {
          const rk = connect('memory://', { clock: new ManualClock(0) });
          const l = rk.limiter('pack', { limit: 1, window: '1m' });
          const a = await l.hit('k');
          const b = await l.hit('k');
          await rk.close();
          console.log(JSON.stringify({ a: a.allowed, b: b.allowed, where: require.resolve('redkeeper') }));
        })();`;
      const out = JSON.parse(run(process.execPath, ['-e', script], app, env).trim());
      expect(out.a).toBe(true);
      expect(out.b).toBe(false);
      // The addon came from the installed copy, not from this checkout.
      expect(out.where.startsWith(path.join(app, 'node_modules', 'redkeeper'))).toBe(true);
      expect(fs.existsSync(path.join(app, 'node_modules', 'redkeeper', 'build-node', 'Release', 'redkeeper.node'))).toBe(true);
    } finally {
      fs.rmSync(work, { recursive: true, force: true });
    }
  },
  TEN_MINUTES + 60000,
);
