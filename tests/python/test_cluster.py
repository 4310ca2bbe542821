"""Redis Cluster from Python: the cluster/cluster_refresh options and stats counters, routing over
every primary, namespace-wide ops on namespaces living on each primary, Python<->Node interop on one
cluster, no CROSSSLOT ever, exact admission across processes, resharding a slot under traffic
(MOVED and ASK) and killing a primary under traffic (failover). Killing/resharding tests start
their own cluster (cluster_factory); the others share the session's redis_cluster."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid
from typing import Any, Dict, List

import pytest

import redkeeper
from conftest import RedisCluster, admin_command, key_slot
from test_tokens import make_jwt
from test_tokens_interop import run_node


def fresh(tag: str = "c") -> str:
    return f"{tag}{uuid.uuid4().hex[:10]}"


def ids_on_each_primary(cluster: RedisCluster, per_node: int = 1, tag: str = "id") -> List[List[str]]:
    """For each primary (lowest slot first), `per_node` ids whose hash slot that primary owns: a
    limiter id / cache namespace / session namespace is the hash tag of its keys."""
    primaries = cluster.primaries()
    owners = {}
    for r in cluster.topology():
        if r["role"] == "master":
            for s in r["slots"]:
                owners[s] = r["id"]
    out: List[List[str]] = [[] for _ in primaries]
    index = {p.id: i for i, p in enumerate(primaries)}
    i = 0
    while any(len(ids) < per_node for ids in out):
        candidate = f"{tag}{uuid.uuid4().hex[:6]}{i}"
        i += 1
        bucket = out[index[owners[key_slot(candidate)]]]
        if len(bucket) < per_node:
            bucket.append(candidate)
    return out


# ---- options and stats (no cluster needed) -------------------------------------------------------


@pytest.mark.parametrize("flavour", [redkeeper.Client, redkeeper.AsyncClient])
@pytest.mark.parametrize("bad", ["yes", 1, None])
def test_cluster_must_be_a_bool(flavour: Any, bad: Any) -> None:
    with pytest.raises(redkeeper.InvalidArgument, match="cluster"):
        flavour("memory://", cluster=bad)


@pytest.mark.parametrize("flavour", [redkeeper.Client, redkeeper.AsyncClient])
@pytest.mark.parametrize("bad", [-1, -0.5, float("nan"), float("inf"), "10", True, None])
def test_cluster_refresh_must_be_seconds_at_least_zero(flavour: Any, bad: Any) -> None:
    with pytest.raises(redkeeper.InvalidArgument, match="cluster_refresh"):
        flavour("memory://", cluster_refresh=bad)


def test_cluster_refresh_zero_and_fractions_are_accepted() -> None:
    for refresh in (0, 0.0, 0.25, 10, 3600):
        with redkeeper.Client("memory://", cluster_refresh=refresh) as c:
            assert c.limiter("x", limit=1, window=1).hit("k").allowed


def test_memory_stats_report_no_cluster() -> None:
    with redkeeper.Client("memory://") as c:
        s = c.stats()
        assert (s["redirects"], s["topology_refreshes"], s["nodes"]) == (0, 0, 0)


def test_single_server_is_one_node(redis_server: Any) -> None:
    with redkeeper.Client(redis_server.url) as c:
        c.ping()
        s = c.stats()
        assert s["nodes"] == 1 and s["redirects"] == 0


@pytest.mark.parametrize("url", [
    "redis+cluster://127.0.0.1:7000/2",       # a cluster has only db 0
    "redis+cluster://127.0.0.1:notaport",
    "rediss+cluster://127.0.0.1:7000,127.0.0.1:99999",  # a bad port in the seed list
])
def test_bad_cluster_urls_name_the_url(url: str) -> None:
    with pytest.raises(redkeeper.InvalidArgument, match="url"):
        redkeeper.Client(url)


def test_memory_cannot_be_a_cluster() -> None:
    with pytest.raises(redkeeper.InvalidArgument, match="cluster"):
        redkeeper.Client("memory://", cluster=True)
    with redkeeper.Client("memory://", cluster=False) as rk:
        assert rk.limiter("x", limit=1, window=1).hit("k").allowed


def test_unix_socket_cannot_be_a_cluster(tmp_path: Any) -> None:
    with pytest.raises(redkeeper.InvalidArgument, match="url|cluster"):
        redkeeper.Client(f"unix://{tmp_path}/redis.sock", cluster=True)


# ---- the shared cluster --------------------------------------------------------------------------


async def test_limiter_routes_to_every_primary(redis_cluster: RedisCluster) -> None:
    prefix = fresh("rt")
    groups = ids_on_each_primary(redis_cluster, per_node=3)
    async with redkeeper.AsyncClient(redis_cluster.url, prefix=prefix) as rk:
        limiter = rk.limiter("route", limit=5, window=60, on_error="raise")
        for ids in groups:
            for i in ids:
                assert (await limiter.hit(i)).remaining == 4
                assert (await limiter.hit(i, cost=2)).remaining == 2
        s = rk.stats()
        assert s["nodes"] == 3
        assert s["topology_refreshes"] >= 1
        assert s["errors"] == 0
        assert (await rk.health()).connected
    for primary, ids in zip(redis_cluster.primaries(), groups):
        keys = {k.decode() for k in primary.command("KEYS", f"{prefix}:*")}
        assert keys == {f"{prefix}:limiter:route:{{{i}}}" for i in ids}


def test_cluster_option_with_a_plain_seed_url(redis_cluster: RedisCluster) -> None:
    prefix = fresh("seed")
    groups = ids_on_each_primary(redis_cluster)
    with redkeeper.Client(redis_cluster.seed_url, prefix=prefix, cluster=True, cluster_refresh=0) as rk:
        limiter = rk.limiter("seed", limit=2, window=60, on_error="raise")
        for ids in groups:
            assert limiter.hit(ids[0]).remaining == 1
        assert rk.stats()["nodes"] == 3
    assert len(redis_cluster.keys(f"{prefix}:*")) == 3


def test_hit_many_needs_one_id_on_a_cluster(redis_cluster: RedisCluster) -> None:
    with redkeeper.Client(redis_cluster.url, prefix=fresh("hm")) as rk:
        minute = rk.limiter("minute", limit=3, window=60, on_error="raise")
        hour = rk.limiter("hour", limit=10, window=3600, on_error="raise")
        assert rk.hit_many([(minute, "1.2.3.4"), (hour, "1.2.3.4", 2)]).allowed
        # Different ids hash to different slots: refused before anything is sent (no CROSSSLOT).
        with pytest.raises(redkeeper.InvalidArgument, match="checks"):
            rk.hit_many([(minute, "1.2.3.4"), (hour, "5.6.7.8")])


async def test_cache_namespaces_on_every_primary(redis_cluster: RedisCluster) -> None:
    prefix = fresh("ca")
    namespaces = [ids[0] for ids in ids_on_each_primary(redis_cluster, tag="ns")]
    async with redkeeper.AsyncClient(redis_cluster.url, prefix=prefix) as rk:
        for ns in namespaces:
            c = rk.cache(ns)
            for i in range(30):
                await c.set(f"user:{i}", {"i": i}, tags=["users"] if i % 2 else ())
                await c.set(f"order:{i}", i)
            assert await c.get_or_set("loaded", lambda: {"v": 1}) == {"v": 1}
            assert await c.delete_pattern("user:*") == 30
            assert await c.get("user:3") is None and await c.get("order:3") == 3
            assert await c.invalidate_tag("users") == 0
            await c.clear()
            assert await c.get("order:3") is None and await c.get("loaded") is None
        assert rk.stats()["errors"] == 0
    # delete_pattern really deleted: no value key of any namespace is left on any primary.
    assert [k for k in redis_cluster.keys(f"{prefix}:*") if ":v:user:" in k] == []


async def test_session_namespaces_on_every_primary(redis_cluster: RedisCluster) -> None:
    prefix = fresh("se")
    namespaces = [ids[0] for ids in ids_on_each_primary(redis_cluster, tag="sn")]
    async with redkeeper.AsyncClient(redis_cluster.url, prefix=prefix) as rk:
        for ns in namespaces:
            s = rk.sessions.with_options(name=ns)
            mine = [await s.create({"n": i}, user_id="ann", device={"d": i}) for i in range(3)]
            other = await s.create({"x": 1}, user_id="bob")
            assert await s.count() == 4
            assert len(await s.list_user("ann", current_id=mine[0])) == 3
            rotated = await s.rotate(mine[1])
            assert rotated and await s.get(mine[1]) is None and await s.get(rotated) == {"n": 1}
            assert await s.destroy_user("ann", except_id=mine[0]) == 2
            assert await s.count() == 2
            assert await s.get(other) == {"x": 1}
        assert rk.stats()["errors"] == 0
    # Each namespace's keys stayed on the primary owning its hash tag.
    for primary, ns in zip(redis_cluster.primaries(), namespaces):
        keys = [k.decode() for k in primary.command("KEYS", f"{prefix}:sessions:{{{ns}}}:*")]
        assert keys and all(key_slot(k) == key_slot(ns) for k in keys)


async def test_every_primitive_without_crossslot(redis_cluster: RedisCluster) -> None:
    before = redis_cluster.crossslot_errors()
    prefix = fresh("xs")
    now = int(time.time())
    async with redkeeper.AsyncClient(redis_cluster.url, prefix=prefix) as rk:
        for uid in [ids[0] for ids in ids_on_each_primary(redis_cluster, tag="u")]:
            token = make_jwt({"sub": uid, "jti": "j" + uid, "iat": now - 5, "exp": now + 60})
            assert await rk.tokens.revoke(token)
            assert await rk.tokens.is_revoked(token)
            await rk.tokens.revoke_user(uid, reason="test")
            assert await rk.token_versions.bump(uid) == 1
            sid = await rk.sessions.create({"a": 1}, user_id=uid)
            assert await rk.sessions.rotate(sid)
            assert await rk.sessions.destroy_user(uid) == 1
            lock = rk.lock(uid, ttl=5)
            assert await lock.acquire() >= 1
            await lock.release()
            record = await rk.idempotency.begin(uid, lock_ttl=30)
            assert record.is_new and record.token
            await rk.idempotency.complete(uid, record.token, {"status": 200})
            assert (await rk.idempotency.begin(uid)).completed
            assert (await rk.limiter("xs", limit=2, window=60).hit(uid)).allowed
        assert rk.stats()["errors"] == 0
    assert redis_cluster.crossslot_errors() == before


async def test_tokens_interop_with_node_on_the_cluster(redis_cluster: RedisCluster) -> None:
    prefix = fresh("tki")
    now = int(time.time())
    py_revoked = make_jwt({"sub": "ann", "jti": "py-1", "iat": now - 5, "exp": now + 300})
    py_user_token = make_jwt({"sub": "bob", "iat": now - 5, "exp": now + 300})
    node_token = make_jwt({"sub": "cat", "exp": now + 300})
    victim = make_jwt({"sub": "node-victim", "jti": "v", "iat": now - 5, "exp": now + 300})
    async with redkeeper.AsyncClient(redis_cluster.url, prefix=prefix) as client:
        assert await client.tokens.revoke(py_revoked) is True
        await client.tokens.revoke_user("bob", reason="from python")
        v1 = await client.token_versions.bump("shared-user")
        out = await asyncio.get_running_loop().run_in_executor(
            None, run_node, redis_cluster.url, prefix, py_revoked, py_user_token, node_token)
        assert out["pyRevokedSeen"] is True
        assert out["pyUserTokenSeen"] is True
        assert out["versionSeen"] == v1
        assert out["nodeAdded"] is True
        assert await client.tokens.is_revoked(node_token) is True
        assert await client.tokens.is_revoked(victim) is True
        assert out["nodeBump"] == v1 + 1


CONTENDER = r"""
import asyncio, json, sys, time
import redkeeper
url, prefix, start_at = sys.argv[1], sys.argv[2], float(sys.argv[3])

async def main():
    async with redkeeper.AsyncClient(url, prefix=prefix, command_timeout=20) as rk:
        lim = rk.limiter("contended", limit=1000, window=86400, algorithm="sliding_window", on_error="raise")
        await rk.ping()
        await asyncio.sleep(max(0.0, start_at - time.time()))
        async def caller():
            got = 0
            for _ in range(5):
                got += (await lim.hit("one-key")).allowed
            return got
        admitted = sum(await asyncio.gather(*(caller() for _ in range(64))))
        print(json.dumps({"admitted": admitted, "errors": rk.stats()["errors"]}))

asyncio.run(main())
"""


def test_four_processes_of_64_callers_admit_exactly_the_limit(redis_cluster: RedisCluster) -> None:
    prefix = fresh("cc")
    start_at = time.time() + 2.0
    procs = [subprocess.Popen([sys.executable, "-c", CONTENDER, redis_cluster.url, prefix, str(start_at)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(4)]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        results.append(json.loads(out))
    assert sum(r["admitted"] for r in results) == 1000  # of 4 x 64 x 5 = 1280 attempts
    assert all(r["errors"] == 0 for r in results)


# ---- private clusters: resharding and failover ---------------------------------------------------


async def _traffic(rk: Any, ids: List[str], stop: asyncio.Event, tally: Dict[str, Any]) -> None:
    """One caller: hits each id in turn until told to stop, counting successes and failures."""
    limiter = rk.limiter("traffic", limit=1_000_000, window=3600, algorithm="fixed_window", on_error="raise")
    cache = rk.cache(ids[0])
    while not stop.is_set():
        for i in ids:
            try:
                await limiter.hit(i)
                tally["hits"][i] = tally["hits"].get(i, 0) + 1
                await cache.set(f"k{i}", i)
                assert await cache.get(f"k{i}") == i
            except Exception as e:  # noqa: BLE001 - every failure is reported by the test
                tally["failures"].append(repr(e))


async def test_reshard_a_slot_under_traffic_moved_and_ask(cluster_factory: Any) -> None:
    cluster = cluster_factory(replicas=0)
    groups = ids_on_each_primary(cluster, per_node=2)
    moving = groups[0][0]  # its slot moves from the first primary to the second
    slot = key_slot(moving)
    src, dst = cluster.primary_of(slot), cluster.primaries()[1]
    tally: Dict[str, Any] = {"hits": {}, "failures": []}
    ids = [i for g in groups for i in g]
    # No op may fail here (not even a timeout): 10 s, not 2 s, so a stalled box during the
    # migration's admin round trips cannot fail one; a redirect loop would still hang far past it.
    async with redkeeper.AsyncClient(cluster.url, prefix="rs", command_timeout=10,
                                     cluster_refresh=0) as rk:
        stop = asyncio.Event()
        callers = [asyncio.ensure_future(_traffic(rk, ids, stop, tally)) for _ in range(8)]
        await asyncio.sleep(0.3)
        loop = asyncio.get_running_loop()
        # Half-migrated: the slot's existing keys move to dst, new ones are still created on src
        # unless a client was sent there with ASK.
        await loop.run_in_executor(None, cluster.begin_migration, slot, src, dst)
        await loop.run_in_executor(None, cluster.migrate_keys, slot, src, dst)
        await asyncio.sleep(0.5)
        await loop.run_in_executor(None, cluster.migrate_keys, slot, src, dst)
        await loop.run_in_executor(None, cluster.finish_migration, slot, src, dst)
        await asyncio.sleep(0.5)
        stop.set()
        await asyncio.gather(*callers)
        stats = rk.stats()
        assert sorted(set(f[:120] for f in tally["failures"])) == []
        assert stats["redirects"] > 0
        assert stats["errors"] == 0
        # No hit lost or counted twice: the counters agree with what the callers saw.
        limiter = rk.limiter("traffic", limit=1_000_000, window=3600, algorithm="fixed_window")
        for i in ids:
            assert (await limiter.peek(i)).remaining == 1_000_000 - tally["hits"][i], i
    assert cluster.primary_of(slot).id == dst.id
    assert admin_command(dst, "CLUSTER", "COUNTKEYSINSLOT", str(slot)) >= 1


async def test_kill_a_primary_under_traffic_then_resume(cluster_factory: Any) -> None:
    # A short node timeout here only: the replica must take over well within the 10 s below.
    cluster = cluster_factory(node_timeout_ms=1000)
    groups = ids_on_each_primary(cluster, per_node=2)
    victim_ids = groups[1]
    timeout = 0.5
    async with redkeeper.AsyncClient(cluster.url, prefix="fo", command_timeout=timeout,
                                     connect_timeout=0.5) as rk:
        open_limiter = rk.limiter("open", limit=1_000_000, window=3600)
        raising = rk.limiter("raise", limit=1_000_000, window=3600, on_error="raise")
        for g in groups:
            assert not (await open_limiter.hit(g[0])).degraded
        outcomes: List[Any] = []
        slow: List[float] = []
        stop = asyncio.Event()

        async def timed(op: Any) -> None:
            t0 = time.monotonic()
            try:
                outcomes.append(await op)
            except (redkeeper.ConnectionError, redkeeper.TimeoutError) as e:
                outcomes.append(e)
            took = time.monotonic() - t0
            # Settled within its timeout (plus scheduling slack on a busy machine).
            if took > timeout + 1.0:
                slow.append(took)

        async def caller() -> None:
            while not stop.is_set():
                for g in groups:
                    await timed(open_limiter.hit(g[0]))
                await timed(raising.hit(victim_ids[1]))
                await asyncio.sleep(0.01)

        callers = [asyncio.ensure_future(caller()) for _ in range(4)]
        await asyncio.sleep(0.3)
        killed_at = time.monotonic()
        await asyncio.get_running_loop().run_in_executor(None, cluster.kill_primary_of, victim_ids[0])
        # Ops on the killed primary's slots succeed again on this same client, within ~10 s.
        recovered = None
        while time.monotonic() - killed_at < 15:
            r = await open_limiter.hit(victim_ids[0])
            if not r.degraded:
                recovered = time.monotonic() - killed_at
                break
            await asyncio.sleep(0.1)
        stop.set()
        await asyncio.gather(*callers)
        assert recovered is not None and recovered < 10.0, recovered
        assert slow == []
        degraded = [o for o in outcomes if isinstance(o, redkeeper.RateLimitResult) and o.degraded]
        errors = [o for o in outcomes if isinstance(o, Exception)]
        assert degraded, "the open limiter never reported degraded while the primary was down"
        assert errors, "the raising limiter never saw the outage"
        assert (await raising.hit(victim_ids[1])).allowed
        for g in groups:  # every primary's slots serve again
            assert not (await open_limiter.hit(g[1])).degraded
        assert rk.stats()["nodes"] == 3
