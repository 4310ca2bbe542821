// Starts a private Redis Cluster (3 primaries + 3 replicas by default) on free loopback ports with
// redis-cli --cluster create, for the cluster suites; tests that kill or reshard start their own.
// Usage: const cluster = await startCluster(); ... cluster.url ... await cluster.stop();
'use strict';

const { execFile } = require('child_process');

const { startRedis, freePort, call, delay } = require('./redisServer');

const REDIS_CLI = process.env.REDIS_CLI || '/usr/bin/redis-cli';
const SLOTS = 16384;

function crc16(buf) {
  let crc = 0;
  for (const byte of buf) {
    crc ^= byte << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

// The Redis Cluster slot of a key (hash tags honoured): tests pick keys landing on a chosen primary.
function keySlot(key) {
  let k = Buffer.from(key);
  const open = k.indexOf('{');
  if (open >= 0) {
    const close = k.indexOf('}', open + 1);
    if (close > open + 1) k = k.subarray(open + 1, close);
  }
  return crc16(k) % SLOTS;
}

function parseInfo(text) {
  const out = {};
  for (const line of String(text).split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0 && !line.startsWith('#')) out[line.slice(0, i)] = line.slice(i + 1).trim();
  }
  return out;
}

function runCli(args) {
  return new Promise((resolve, reject) => {
    execFile(REDIS_CLI, args, { timeout: 30000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`redis-cli ${args.slice(0, 2).join(' ')} failed: ${err.message}\n${stdout}${stderr}`));
      else resolve(stdout);
    });
  });
}

async function startNode(nodeTimeoutMs) {
  // An explicit bus port: the default (port + 10000) overflows for ephemeral ports. Picked per start
  // attempt (startRedis starts again on fresh ports when one was taken). Replicas sync at once (the
  // default diskless sync waits 5 s for more replicas).
  const server = await startRedis({
    args: async () => ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf',
      '--cluster-node-timeout', String(nodeTimeoutMs), '--cluster-port', String(await freePort()),
      '--repl-diskless-sync-delay', '0', '--enable-debug-command', 'yes'],
  });
  server.id = await server.call(['CLUSTER', 'MYID']);
  server.addr = `127.0.0.1:${server.port}`;
  return server;
}

async function startCluster({ primaries = 3, replicas = 1, nodeTimeoutMs = 1000 } = {}) {
  const nodes = [];
  const cluster = {
    nodes,
    get url() {
      return `redis+cluster://${this.liveNodes().slice(0, 2).map((n) => n.addr).join(',')}`;
    },
    // A plain redis:// URL of one node: a cluster seed for the `cluster: true` option.
    get seedUrl() {
      return `redis://${this.liveNodes()[0].addr}/0`;
    },
    liveNodes: () => nodes.filter((n) => n.running),
    nodeById(id) {
      const n = nodes.find((x) => x.id === id);
      if (!n) throw new Error(`unknown node ${id}`);
      return n;
    },
    // CLUSTER NODES as a live node sees it: id, addr, role, master, slots, failed.
    async topology() {
      const text = await this.liveNodes()[0].call(['CLUSTER', 'NODES']);
      return text.trim().split('\n').map((line) => {
        const parts = line.split(' ');
        const flags = parts[2].split(',');
        const slots = [];
        for (const r of parts.slice(8)) {
          if (r.startsWith('[')) continue; // a slot being migrated or imported
          const [lo, hi] = r.split('-').map(Number);
          for (let s = lo; s <= (hi === undefined ? lo : hi); s++) slots.push(s);
        }
        return {
          id: parts[0],
          addr: parts[1].split('@')[0],
          role: flags.includes('master') ? 'master' : 'replica',
          master: parts[3],
          slots,
          failed: flags.includes('fail') || flags.includes('fail?'),
        };
      });
    },
    // Live primaries ordered by their lowest slot.
    async primaries() {
      const rows = (await this.topology()).filter((r) => r.role === 'master' && r.slots.length && !r.failed);
      rows.sort((a, b) => a.slots[0] - b.slots[0]);
      return rows.map((r) => this.nodeById(r.id));
    },
    async primaryOf(keyOrSlot) {
      const slot = typeof keyOrSlot === 'number' ? keyOrSlot : keySlot(keyOrSlot);
      const row = (await this.topology()).find((r) => r.role === 'master' && !r.failed && r.slots.includes(slot));
      if (!row) throw new Error(`no live primary owns slot ${slot}`);
      return this.nodeById(row.id);
    },
    async replicasOf(primary) {
      return (await this.topology()).filter((r) => r.role === 'replica' && r.master === primary.id)
        .map((r) => this.nodeById(r.id));
    },
    // A single-key admin command on the primary that owns `key`.
    async command(key, args) {
      return (await this.primaryOf(key)).call(args);
    },
    // KEYS on every primary: a namespace's keys are spread over the cluster.
    async keys(pattern) {
      const out = [];
      for (const n of await this.primaries()) out.push(...(await n.call(['KEYS', pattern])));
      return out;
    },
    async flushall() {
      for (const n of await this.primaries()) await n.call(['FLUSHALL']);
    },
    // SIGKILLs the primary owning the key's slot; its replica takes over after the node timeout.
    async killPrimaryOf(keyOrSlot) {
      const victim = await this.primaryOf(keyOrSlot);
      await victim.halt('SIGKILL');
      return victim;
    },
    async beginMigration(slot, src, dst) {
      await dst.call(['CLUSTER', 'SETSLOT', slot, 'IMPORTING', src.id]);
      await src.call(['CLUSTER', 'SETSLOT', slot, 'MIGRATING', dst.id]);
    },
    // MIGRATEs `keys` (or every key left in the slot) from src to dst; resolves with how many.
    async migrateKeys(slot, src, dst, keys = []) {
      let moved = 0;
      for (;;) {
        const batch = keys.length ? keys : await src.call(['CLUSTER', 'GETKEYSINSLOT', slot, 100]);
        if (!batch.length) return moved;
        await src.call(['MIGRATE', '127.0.0.1', dst.port, '', 0, 5000, 'REPLACE', 'KEYS', ...batch]);
        moved += batch.length;
        if (keys.length) return moved;
      }
    },
    async finishMigration(slot, src, dst) {
      // The destination first, then the source, then everyone else (the documented order).
      await dst.call(['CLUSTER', 'SETSLOT', slot, 'NODE', dst.id]);
      await src.call(['CLUSTER', 'SETSLOT', slot, 'NODE', dst.id]);
      for (const n of await this.primaries()) {
        if (n.id !== src.id && n.id !== dst.id) await n.call(['CLUSTER', 'SETSLOT', slot, 'NODE', dst.id]);
      }
    },
    // Moves `slot` to `toNode` like redis-cli --cluster reshard; with pauseMs the slot stays
    // half-migrated that long (clients then get ASK).
    async migrateSlot(slot, toNode, keys = [], { pauseMs = 0 } = {}) {
      const src = await this.primaryOf(slot);
      if (src.id === toNode.id) throw new Error(`slot ${slot} is already on ${toNode.addr}`);
      await this.beginMigration(slot, src, toNode);
      await this.migrateKeys(slot, src, toNode, keys);
      if (pauseMs) await delay(pauseMs);
      await this.migrateKeys(slot, src, toNode); // keys written meanwhile
      await this.finishMigration(slot, src, toNode);
    },
    // Until every live node reports cluster_state:ok, live primaries cover every slot and every
    // live replica has finished its sync.
    async waitOk(timeoutMs = 20000) {
      const deadline = Date.now() + timeoutMs;
      let last = '';
      for (;;) {
        try {
          last = await notOk();
        } catch (err) {
          last = `admin connection failed: ${err.message}`;
        }
        if (!last) return;
        if (Date.now() > deadline) throw new Error(`cluster not ok after ${timeoutMs} ms: ${last}`);
        await delay(50);
      }
    },
    // CROSSSLOT errors the live nodes answered so far (INFO errorstats).
    async crossSlotErrors() {
      let total = 0;
      for (const n of this.liveNodes()) {
        const info = parseInfo(await n.call(['INFO', 'errorstats']));
        if (info.errorstat_CROSSSLOT) total += Number(/count=(\d+)/.exec(info.errorstat_CROSSSLOT)[1]);
      }
      return total;
    },
    // Stops every node; rejects afterwards if any node ever answered CROSSSLOT: every primitive
    // keeps the keys of one operation in one slot, whatever a test did on this cluster.
    async stop() {
      const crossSlot = await this.crossSlotErrors().catch(() => 0);
      await Promise.all(nodes.map(async (n) => {
        await n.halt('SIGKILL');
        await n.stop();
      }));
      if (crossSlot > 0) throw new Error(`${crossSlot} operations got CROSSSLOT on this cluster`);
    },
  };

  async function notOk() {
    const live = cluster.liveNodes();
    for (const n of live) {
      const info = parseInfo(await n.call(['CLUSTER', 'INFO']));
      if (info.cluster_state !== 'ok' || info.cluster_slots_ok !== String(SLOTS)) {
        return `${n.addr}: ${info.cluster_state} slots_ok=${info.cluster_slots_ok}`;
      }
      if (Number(info.cluster_known_nodes) < nodes.length) return `${n.addr}: knows ${info.cluster_known_nodes} nodes`;
      const rep = parseInfo(await n.call(['INFO', 'replication']));
      if (rep.role === 'slave' && (rep.master_link_status !== 'up' || rep.master_sync_in_progress !== '0')) {
        return `${n.addr}: replica not in sync`;
      }
    }
    const liveIds = new Set(live.map((n) => n.id));
    let covered = 0;
    for (const r of await cluster.topology()) {
      if (r.role === 'master' && liveIds.has(r.id) && !r.failed) covered += r.slots.length;
    }
    return covered === SLOTS ? '' : `live primaries cover ${covered} slots`;
  }

  try {
    const count = primaries * (1 + replicas);
    nodes.push(...(await Promise.all(Array.from({ length: count }, () => startNode(nodeTimeoutMs)))));
    await runCli(['--cluster', 'create', ...nodes.map((n) => n.addr), '--cluster-replicas', String(replicas),
      '--cluster-yes']);
    await cluster.waitOk();
  } catch (err) {
    await cluster.stop().catch(() => {});
    throw err;
  }
  return cluster;
}

module.exports = { startCluster, keySlot, call };
