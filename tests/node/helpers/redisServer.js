// Starts a private redis-server on a free loopback port (never 6379) for tests, and stops it after.
// Usage: const server = await startRedis(); ... server.url ... await server.stop();
// Fault tests also use server.restart() (same port), server.call([...]) (RESP, any reply type),
// and the unixSocket / auth options.
'use strict';

const { spawn } = require('child_process');
const fs = require('fs');
const net = require('net');
const os = require('os');
const path = require('path');

const REDIS_SERVER = process.env.REDIS_SERVER || '/usr/bin/redis-server';

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => (port === 6379 ? freePort().then(resolve, reject) : resolve(port)));
    });
  });
}

// Sends one inline command and resolves with the first reply line.
function command(port, line, timeoutMs = 1000) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let data = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`redis ${line}: no reply within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on('connect', () => socket.write(`${line}\r\n`));
    socket.on('data', (chunk) => {
      data += chunk.toString('utf8');
      if (data.includes('\r\n')) {
        clearTimeout(timer);
        socket.end();
        resolve(data.split('\r\n')[0]);
      }
    });
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

// Parses one RESP2 value at `pos`; returns [value, next] or undefined when more bytes are needed.
// Error replies become Error objects (values, not throws), so a pipeline can report each one.
function parseReply(buf, pos) {
  const eol = buf.indexOf('\r\n', pos);
  if (eol < 0) return undefined;
  const type = String.fromCharCode(buf[pos]);
  const line = buf.toString('utf8', pos + 1, eol);
  const next = eol + 2;
  switch (type) {
    case '+':
      return [line, next];
    case '-':
      return [new Error(line), next];
    case ':':
      return [Number(line), next];
    case '$': {
      const len = Number(line);
      if (len < 0) return [null, next];
      if (buf.length < next + len + 2) return undefined;
      return [buf.toString('utf8', next, next + len), next + len + 2];
    }
    case '*': {
      const n = Number(line);
      if (n < 0) return [null, next];
      const out = [];
      let at = next;
      for (let i = 0; i < n; i++) {
        const r = parseReply(buf, at);
        if (r === undefined) return undefined;
        out.push(r[0]);
        at = r[1];
      }
      return [out, at];
    }
    default:
      throw new Error(`unexpected RESP type byte ${JSON.stringify(type)}`);
  }
}

function encode(args) {
  let out = `*${args.length}\r\n`;
  for (const a of args) {
    const s = String(a);
    out += `$${Buffer.byteLength(s)}\r\n${s}\r\n`;
  }
  return out;
}

// Sends commands (arrays of args) on one fresh connection, after AUTH/SELECT when asked, and
// resolves with the reply of the last one; rejects if that reply is a Redis error.
function call(port, commands, { auth, db, timeoutMs = 2000 } = {}) {
  const list = Array.isArray(commands[0]) ? commands : [commands];
  const all = [];
  if (auth) all.push(['AUTH', ...auth]);
  if (db !== undefined) all.push(['SELECT', db]);
  all.push(...list);
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let buf = Buffer.alloc(0);
    const replies = [];
    let pos = 0;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`redis ${list.map((c) => c[0]).join(',')}: no reply within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on('connect', () => socket.write(all.map(encode).join('')));
    socket.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      for (;;) {
        const r = parseReply(buf, pos);
        if (r === undefined) break;
        replies.push(r[0]);
        pos = r[1];
      }
      if (replies.length < all.length) return;
      clearTimeout(timer);
      socket.end();
      const last = replies[replies.length - 1];
      const setupError = replies.slice(0, -1).find((r) => r instanceof Error);
      if (setupError) reject(setupError);
      else if (last instanceof Error) reject(last);
      else resolve(last);
    });
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

function delay(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

// Options: args (extra redis-server arguments; or a function, maybe async, returning them, called
// again for each start attempt so a caller that puts more ports in them picks those afresh too),
// port (default: a free one), unixSocket (path), auth ([user, pass] or [pass]: what
// call()/readiness send first), startTimeoutMs.
async function startRedis({ args = [], port, unixSocket, auth, startTimeoutMs = 10000 } = {}) {
  let serverPort = port === undefined ? await freePort() : port;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'redkeeper-redis-'));
  let fullArgs;  // this attempt's; restarts keep them (and so their ports)
  async function pickArgs() {
    fullArgs = ['--port', String(serverPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir];
    if (unixSocket) fullArgs.push('--unixsocket', unixSocket, '--unixsocketperm', '700');
    fullArgs.push(...(typeof args === 'function' ? await args() : args));
  }

  let child;
  let exited;
  let output = '';

  // Ready when the server on the port is this child: a port found free can be taken by another
  // test's redis-server before ours binds it, and that one would answer PING just the same.
  async function spawnAndWait() {
    output = '';
    child = spawn(REDIS_SERVER, fullArgs, { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const current = child;
    exited = new Promise((resolve) => current.once('exit', resolve));
    const deadline = Date.now() + startTimeoutMs;
    for (;;) {
      if (current.exitCode !== null) throw new Error(`redis-server exited early:\n${output}`);
      try {
        const info = await call(serverPort, ['INFO', 'server'], { auth, timeoutMs: 200 });
        const m = /process_id:(\d+)/.exec(String(info));
        if (m && Number(m[1]) === current.pid) break;
      } catch (_) {
        // not listening yet (a restart on the same port may also still see the old socket)
      }
      if (Date.now() > deadline) {
        current.kill('SIGKILL');
        throw new Error(`redis-server did not answer as pid ${current.pid} within ${startTimeoutMs} ms:\n${output}`);
      }
      await delay(25);
    }
  }

  // A port found free can be bound by another test's server before ours binds it: then start
  // again on fresh ports, ours and the caller's (a port the caller fixed is kept, and not retried).
  const repick = port === undefined || typeof args === 'function';
  for (let attempt = 1; ; attempt++) {
    await pickArgs();
    try {
      await spawnAndWait();
      break;
    } catch (err) {
      if (!repick || attempt >= 5 || !/Address already in use/.test(output)) throw err;
      if (port === undefined) serverPort = await freePort();
      // Nothing of the failed start carries over (a cluster node may have written nodes.conf).
      fs.rmSync(dir, { recursive: true, force: true });
      fs.mkdirSync(dir);
    }
  }

  async function stopProcess(signal) {
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
  }

  return {
    port: serverPort,
    host: '127.0.0.1',
    url: `redis://127.0.0.1:${serverPort}/0`,
    dir,
    get pid() {
      return child.pid;
    },
    get running() {
      return child.exitCode === null && child.signalCode === null;
    },
    command: (line) => command(serverPort, line),
    call: (commands, options) => call(serverPort, commands, { auth, ...options }),
    // Ends the process (data is not kept: no persistence) but keeps the directory for start().
    halt: (signal = 'SIGTERM') => stopProcess(signal),
    // Starts again on the same port and arguments after halt().
    start: () => spawnAndWait(),
    async restart(signal = 'SIGKILL') {
      await stopProcess(signal);
      await spawnAndWait();
    },
    async stop() {
      await stopProcess('SIGTERM');
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

module.exports = { startRedis, freePort, call, delay };
