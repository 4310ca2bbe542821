// Child process for the cross-process concurrency test: one redis client, many concurrent callers
// hitting one key; answers the parent (over fork IPC) with what it admitted.
'use strict';

const { connect } = require('../../..');

const rk = connect(process.argv[2], { commandTimeoutMs: 5000 });

async function run({ name, algorithm, limit, windowMs, key, callers, attemptsPerCaller }) {
  const limiter = rk.limiter(name, { algorithm, limit, windowMs, onError: 'raise' });
  const tally = { admitted: 0, rejected: 0, degraded: 0, errors: [] };
  async function caller() {
    for (let i = 0; i < attemptsPerCaller; i++) {
      try {
        const r = await limiter.hit(key);
        if (r.degraded) tally.degraded++;
        if (r.allowed) tally.admitted++;
        else tally.rejected++;
      } catch (err) {
        tally.errors.push(err.code || String(err));
      }
    }
  }
  await Promise.all(Array.from({ length: callers }, caller));
  return tally;
}

process.on('message', (msg) => {
  if (msg.type === 'run') {
    run(msg).then(
      (tally) => process.send({ type: 'tally', tally }),
      (err) => process.send({ type: 'tally', tally: { errors: [String(err)] } }),
    );
  } else if (msg.type === 'exit') {
    rk.close().then(() => process.disconnect());
  }
});
process.send({ type: 'ready' });
