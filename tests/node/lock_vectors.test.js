// Shared lock vectors (tests/vectors/locks.json) through the core 'lock' primitive, memory, Redis and a Redis Cluster.
'use strict';

const crypto = require('crypto');
const path = require('path');
const { connect } = require('../..');
const { PrimitiveHandle } = require('../../node/lib/primitive');

const DATA = require(path.join(__dirname, '..', 'vectors', 'locks.json'));
const { useRedisBackends } = require('./helpers/backends');
jest.setTimeout(30000);

const backends = useRedisBackends();

describe.each(['memory', 'redis', 'cluster'])('lock vectors on %s', (backend) => {
  let rk;
  beforeEach(() => { rk = connect(backends.url(backend)); });
  afterEach(async () => { await rk.close(); });

  test.each(DATA.cases.map((c) => [c.name, c]))('%s', async (_, c) => {
    const name = `vec-${crypto.randomBytes(5).toString('hex')}`;
    const handles = {};
    for (const [h, cfg] of Object.entries(c.handles)) handles[h] = new PrimitiveHandle(rk, 'lock', { name, ...cfg });
    let fence = 0;
    for (const step of c.steps) {
      const p = handles[step.handle].call(step.op, step.args || {});
      if (step.expect.error) {
        await expect(p).rejects.toMatchObject({ code: step.expect.error });
        continue;
      }
      const r = await p;
      if (step.expect.result) expect(r).toMatchObject(step.expect.result);
      if (step.expect.fence) {
        if (step.expect.fence !== 'first') expect(r.fencing_token).toBe(fence + Number(step.expect.fence.slice(1)));
        fence = r.fencing_token;
      }
    }
  });

  test.each(DATA.config_errors.map((b) => [JSON.stringify(b.config), b]))('config %s', async (_, bad) => {
    let err;
    try {
      const h = new PrimitiveHandle(rk, 'lock', bad.config);
      await h.call('state', {});
    } catch (e) { err = e; }
    expect(err).toBeDefined();
    expect(err.code).toBe('ERR_RK_INVALID_ARGUMENT');
    expect(err.message.startsWith(`${bad.param}:`)).toBe(true);
  });
});
