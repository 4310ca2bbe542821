// client.hitMany (tests/vectors/multi.json on memory:// and Redis), the localBlockCache option
// (Redis traffic for an attacked key drops to nothing), and clientIp / ipKey
// (tests/vectors/client_ip.json).
'use strict';

const { connect, ManualClock, RedkeeperError, MultiLimitResult, clientIp, ipKey } = require('../../node');
const { load, limiterOptions, expectedResult, pick } = require('./helpers/vectors');
const { startRedis } = require('./helpers/redisServer');

const MULTI = load('multi.json').cases;
const CLIENT_IP = load('client_ip.json');

let server;
beforeAll(async () => {
  server = await startRedis();
});
afterAll(async () => {
  if (server) await server.stop();
});

let prefixCounter = 0;

function checkResult(result, want) {
  const fields = expectedResult(want);
  expect(pick(result, Object.keys(fields))).toEqual(fields);
}

async function runCase(url, c) {
  const clock = new ManualClock(c.start_ms);
  const prefix = `nm${prefixCounter++}`; // the foreign client shares it: only identity makes it foreign
  const rk = connect(url, { clock, prefix });
  const other = connect(url, { clock, prefix });
  try {
    const mine = {};
    const foreign = {};
    for (const [name, spec] of Object.entries(c.limiters)) {
      mine[name] = rk.limiter(name, limiterOptions(spec));
      foreign[name] = other.limiter(name, limiterOptions(spec));
    }
    for (const step of c.steps) {
      if (step.op === 'advance') {
        clock.advance(step.ms);
        continue;
      }
      let promise;
      if (step.op === 'hit_many') {
        const checks = step.checks.map((k) => ({
          limiter: (k.foreign ? foreign : mine)[k.limiter],
          key: k.key,
          ...(k.cost === undefined ? {} : { cost: k.cost }),
        }));
        promise = rk.hitMany(checks);
      } else {
        const limiter = mine[step.limiter];
        if (step.op === 'hit') promise = limiter.hit(step.key, { cost: step.cost === undefined ? 1 : step.cost });
        else if (step.op === 'peek') promise = limiter.peek(step.key);
        else if (step.op === 'reset') promise = limiter.reset(step.key);
        else if (step.op === 'refund') promise = limiter.refund(step.key, step.amount);
        else if (step.op === 'block') promise = limiter.block(step.key, `${step.ms}ms`);
        else throw new Error(`unknown op ${step.op}`);
      }
      if (step.error !== undefined) {
        await expect(promise).rejects.toMatchObject({ code: step.error });
        continue;
      }
      const result = await promise;
      if (step.op === 'hit_many') {
        expect(result).toBeInstanceOf(MultiLimitResult);
        expect([result.allowed, result.decidingIndex]).toEqual([step.expect.allowed, step.expect.deciding]);
        expect(result.deciding).toBe(result.results[step.expect.deciding]);
        expect(result.results).toHaveLength(step.checks.length);
        (step.expect.results || []).forEach((want, i) => checkResult(result.results[i], want));
      } else if (step.expect !== undefined) {
        checkResult(result, step.expect);
      }
    }
  } finally {
    await rk.close();
    await other.close();
  }
}

describe.each([
  ['memory', () => 'memory://'],
  ['redis', () => server.url],
])('multi.json on %s', (_backend, url) => {
  test.each(MULTI.map((c) => [c.name, c]))('%s', async (_name, c) => {
    await runCase(url(), c);
  });
});

test('the deciding result renders the headers; nothing is consumed by a rejection', async () => {
  // A ManualClock: on the wall clock a minute boundary between the hits (sliding windows align to
  // the epoch) would take one unit off and let the third hit in.
  const rk = connect('memory://', { clock: new ManualClock(1_700_000_000_000) });
  const minute = rk.limiter('minute', { rate: '2/minute' });
  const day = rk.limiter('day', { rate: '100/day' });
  await rk.hitMany([{ limiter: minute, key: 'ip' }, { limiter: day, key: 'ip' }]);
  await rk.hitMany([{ limiter: minute, key: 'ip' }, { limiter: day, key: 'ip' }]);
  const rejected = await rk.hitMany([{ limiter: minute, key: 'ip' }, { limiter: day, key: Buffer.from('ip') }]);
  expect(rejected.allowed).toBe(false);
  expect(rejected.degraded).toBe(false);
  expect(rejected.headers()).toEqual(rejected.results[0].headers());
  expect(rejected.headers()['Retry-After']).toBeDefined();
  expect((await day.peek('ip')).remaining).toBe(98);
  await rk.close();
});

test.each([
  ['not an array', 'x'],
  ['not an object', ['x']],
  ['no limiter', [{ key: 'k' }]],
  ['a fake limiter', [{ limiter: {}, key: 'k' }]],
  ['a bad key', [{ limiter: 'L', key: 42 }]],
  ['a fractional cost', [{ limiter: 'L', key: 'k', cost: 1.5 }]],
])('hitMany rejects %s with ERR_RK_INVALID_ARGUMENT', async (_what, checks) => {
  const rk = connect('memory://');
  const limiter = rk.limiter('x', { rate: '5/minute' });
  const resolved = Array.isArray(checks) ? checks.map((c) => (c && c.limiter === 'L' ? { ...c, limiter } : c)) : checks;
  await expect(rk.hitMany(resolved)).rejects.toMatchObject({ code: 'ERR_RK_INVALID_ARGUMENT' });
  await expect(rk.hitMany(resolved)).rejects.toBeInstanceOf(RedkeeperError);
  await rk.close();
});

test('hitMany on a closed client rejects with ERR_RK_CLOSED', async () => {
  const rk = connect(server.url);
  const limiter = rk.limiter('x', { rate: '5/minute' });
  await rk.close();
  await expect(rk.hitMany([{ limiter, key: 'k' }])).rejects.toMatchObject({ code: 'ERR_RK_CLOSED' });
});

async function evalshaCalls() {
  const info = String(await server.call(['INFO', 'commandstats']));
  const m = /cmdstat_evalsha:calls=(\d+)/.exec(info);
  return m ? Number(m[1]) : 0;
}

test('localBlockCache: an attacked key stops reaching Redis, answers stay right', async () => {
  // A fixed start, 20 s into a minute: the sliding window's rejection then lasts past the 5 s the
  // loop below covers. From the wall clock (the default), 1 start in 12 fell in a minute's last
  // 5 s, where the rejection ends at the minute and a later hit is rightly admitted.
  const clock = new ManualClock(1_700_000_000_000);
  const rk = connect(server.url, { clock, prefix: 'nbc' });
  try {
    const cached = rk.limiter('login', { limit: 3, windowMs: 60000, localBlockCache: true });
    const plain = rk.limiter('login', { limit: 3, windowMs: 60000 });
    for (let i = 0; i < 3; i += 1) expect((await cached.hit('attacker')).allowed).toBe(true);
    const first = await cached.hit('attacker');
    expect(first.allowed).toBe(false);
    await server.call(['CONFIG', 'RESETSTAT']);
    let last;
    for (let i = 0; i < 500; i += 1) {
      clock.advance(10);
      last = await cached.hit('attacker');
      expect(last.allowed).toBe(false);
    }
    expect(await evalshaCalls()).toBe(0);
    const truth = await plain.peek('attacker');
    expect(last.retryAfterMs).toBe(truth.retryAfterMs);
    expect(last.retryAfterMs).toBe(first.retryAfterMs - 5000);
    await cached.reset('attacker');
    expect((await cached.hit('attacker')).allowed).toBe(true);
  } finally {
    await rk.close();
  }
});

test('localBlockCache option is checked', () => {
  const rk = connect('memory://');
  for (const bad of [-1, 'yes', 1.5]) {
    expect(() => rk.limiter('x', { limit: 1, windowMs: 1000, localBlockCache: bad })).toThrow(RedkeeperError);
  }
  expect(rk.limiter('x', { limit: 1, windowMs: 1000, localBlockCache: 16 }).limit).toBe(1);
  rk.close();
});

describe('clientIp / ipKey vectors', () => {
  test.each(CLIENT_IP.client_ip.map((v) => [`${v.remote} | ${v.xff} | ${JSON.stringify(v.trusted)}`, v]))(
    'clientIp %s',
    (_name, v) => {
      const call = () => clientIp(v.remote, v.xff, v.trusted);
      if (v.error !== undefined) expect(call).toThrow(expect.objectContaining({ code: v.error }));
      else expect(call()).toBe(v.expect);
    },
  );
  test.each(CLIENT_IP.ip_key.map((v) => [`${v.ip} /${v.subnet}`, v]))('ipKey %s', (_name, v) => {
    const call = () => ipKey(v.ip, v.subnet === undefined ? 56 : v.subnet);
    if (v.error !== undefined) expect(call).toThrow(expect.objectContaining({ code: v.error }));
    else expect(call()).toBe(v.expect);
  });
  test('Node forms: several headers, defaults, bad types', () => {
    expect(clientIp('127.0.0.1', ['6.6.6.6', '1.2.3.4'], 'loopback')).toBe('1.2.3.4');
    expect(clientIp('::ffff:127.0.0.1', undefined, ['loopback'])).toBe('127.0.0.1');
    expect(ipKey('2001:db8:1:2ff::1')).toBe('2001:db8:1:200::/56');
    expect(ipKey('2001:db8::1', false)).toBe('2001:db8::1');
    expect(() => clientIp(undefined, '1.2.3.4')).toThrow(expect.objectContaining({ code: 'ERR_RK_INVALID_ARGUMENT' }));
    expect(() => clientIp('127.0.0.1', '1.2.3.4', true)).toThrow(RedkeeperError);
    expect(() => ipKey('::1', 1.5)).toThrow(RedkeeperError);
  });
});
