"""client.cache(namespace): every op on memory:// (ManualClock) and on a private redis-server, sync
and asyncio; get_or_set's single flight in process, across clients and across 4 processes; loader
errors; store failure falling through to the loader; bad input."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
import uuid
from typing import Any, Iterator, List

import pytest

import redkeeper
from redkeeper.cache import AsyncCache, Cache, CacheStats

from conftest import BACKENDS, admin_command, backend_url

T0 = 1_700_000_000_000


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def clock() -> redkeeper.ManualClock:
    return redkeeper.ManualClock(start_ms=T0)


@pytest.fixture
def url(backend: str, request: pytest.FixtureRequest) -> str:
    return backend_url(request, backend)


@pytest.fixture
def client(url: str, clock: redkeeper.ManualClock) -> Iterator[redkeeper.Client]:
    c = redkeeper.Client(url, clock=clock) if url == "memory://" else redkeeper.Client(url)
    yield c
    c.close()


@pytest.fixture
async def aclient(url: str, clock: redkeeper.ManualClock) -> Any:
    c = redkeeper.AsyncClient(url, clock=clock) if url == "memory://" else redkeeper.AsyncClient(url)
    yield c
    await c.aclose()


def fresh() -> str:
    return "t-" + uuid.uuid4().hex[:12]


def unit(backend: str) -> int:
    """The time unit of the TTL tests: exact on memory:// (ManualClock); x4 on Redis, where TTLs are
    real and a value must still be there after a few round trips on a busy box (the 150-200 ms of
    slack at x1 was too little). "Gone" checks wait past the TTL, so lateness never breaks them."""
    return 1 if backend == "memory" else 4


def let_expire(backend: str, clock: redkeeper.ManualClock, seconds: float) -> None:
    if backend == "memory":
        clock.advance(int(seconds * 1000))
    else:
        time.sleep(seconds)


def test_flavours_and_with_options(client: redkeeper.Client, aclient: redkeeper.AsyncClient) -> None:
    c = client.cache(fresh(), ttl=60)
    assert isinstance(c, Cache)
    assert isinstance(aclient.cache("x"), AsyncCache)
    other = c.with_options(ttl=5)
    assert isinstance(other, Cache) and other.namespace == c.namespace
    with pytest.raises(redkeeper.InvalidArgument, match="bogus"):
        c.with_options(bogus=1)


def test_values_round_trip_sync(client: redkeeper.Client) -> None:
    c = client.cache(fresh())
    assert c.get("missing") is None
    assert c.get("missing", "dflt") == "dflt"
    doc = {"a": 1, "b": [1.5, "x", None, True], "u": "h\u00e9"}
    c.set("doc", doc)
    assert c.get("doc") == doc
    raw = b"\x00\xffj{b\x01"
    c.set("raw", raw)
    got = c.get("raw")
    assert isinstance(got, bytes) and got == raw
    c.set("s", "42")
    assert c.get("s") == "42"
    c.set("f", 2.5)
    assert c.get("f") == 2.5
    assert c.delete("doc") is True
    assert c.delete("doc") is False
    assert c.get("doc") is None


async def test_values_round_trip_async(aclient: redkeeper.AsyncClient) -> None:
    c = aclient.cache(fresh())
    assert await c.get("k") is None
    await c.set("k", {"n": [1, 2]})
    assert await c.get("k") == {"n": [1, 2]}
    await c.set("b", bytearray(b"xy"))
    assert await c.get("b") == b"xy"
    assert await c.delete("k") is True


def test_ttl_and_default_ttl(client: redkeeper.Client, backend: str, clock: redkeeper.ManualClock) -> None:
    u = unit(backend)
    c = client.cache(fresh(), ttl=0.3 * u)
    c.set("short", 1, ttl=0.1 * u)
    c.set("default", 2)
    c.set("long", 3, ttl="1h")
    let_expire(backend, clock, 0.15 * u)
    assert c.get("short") is None
    assert c.get("default") == 2
    let_expire(backend, clock, 0.2 * u)
    assert c.get("default") is None
    assert c.get("long") == 3


async def test_counters(aclient: redkeeper.AsyncClient, backend: str, clock: redkeeper.ManualClock) -> None:
    u = unit(backend)
    c = aclient.cache(fresh())
    assert await c.incr("views", ttl=0.2 * u) == 1
    assert await c.incr("views", 5) == 6
    assert await c.decr("views", 2) == 4
    assert await c.get("views") == 4
    let_expire(backend, clock, 0.25 * u)
    assert await c.get("views") is None
    assert await c.decr("views") == -1
    await c.set("doc", {"a": 1})
    with pytest.raises(redkeeper.InvalidArgument, match="key"):
        await c.incr("doc")


def test_tags_clear_and_patterns(client: redkeeper.Client) -> None:
    ns = fresh()
    c = client.cache(ns)
    c.set("u1", 1, tags=["users", "g1"])
    c.set("u2", 2, tags=["users"])
    c.set("p1", 3, tags=("posts",))
    assert c.invalidate_tag("users") == 2
    assert c.get("u1") is None and c.get("u2") is None and c.get("p1") == 3

    for i in range(25):
        c.set(f"user:{i}", i)
    c.set("post:1", 1)
    neighbour = client.cache(ns + "x")
    neighbour.set("user:1", "n")
    assert c.delete_pattern("user:*") == 25
    assert c.get("user:3") is None and c.get("post:1") == 1
    assert neighbour.get("user:1") == "n"

    c.clear()
    assert c.get("p1") is None and c.get("post:1") is None
    c.set("p1", "again")
    assert client.cache(ns).get("p1") == "again"  # another cache object, same namespace


def test_stats(client: redkeeper.Client) -> None:
    c = client.cache(fresh())
    c.set("k", 1)
    for _ in range(3):
        c.get("k")
    c.get("nope")
    c.get_or_set("k", lambda: 2)
    c.get_or_set("other", lambda: 2)
    s = c.stats()
    assert isinstance(s, CacheStats)
    assert (s.hits, s.misses) == (4, 2)
    assert s.hit_ratio == pytest.approx(4 / 6)
    assert s.sets == 2


def test_bad_input(client: redkeeper.Client) -> None:
    c = client.cache(fresh(), max_value_bytes=64)
    bad = redkeeper.InvalidArgument
    with pytest.raises(bad, match="key"):
        c.get("")
    with pytest.raises(bad, match="key"):
        c.get(5)  # type: ignore[arg-type]
    with pytest.raises(bad, match="key"):
        c.get("k" * 2000)
    with pytest.raises(bad, match="ttl"):
        c.set("k", 1, ttl=-1)
    with pytest.raises(bad, match="ttl"):
        c.set("k", 1, ttl=0)
    with pytest.raises(bad, match="ttl"):
        c.set("k", 1, ttl=float("nan"))
    with pytest.raises(bad, match="value"):
        c.set("k", "x" * 100)
    with pytest.raises(bad, match="value"):
        c.set("k", None)
    with pytest.raises((bad, TypeError)):
        c.set("k", {"x": object()})
    with pytest.raises((bad, ValueError)):
        c.set("k", {"x": float("inf")})
    with pytest.raises(bad, match="tags"):
        c.set("k", 1, tags="t")
    with pytest.raises(bad, match="by"):
        c.incr("k", 1.5)  # type: ignore[arg-type]
    with pytest.raises(bad, match="loader"):
        c.get_or_set("k", 5)  # type: ignore[arg-type]
    with pytest.raises(bad, match="ttl"):
        c.get_or_set("k", lambda: 1, ttl=-2)
    assert c.get("k") is None
    with pytest.raises(bad, match="namespace"):
        client.cache("")
    with pytest.raises(bad, match="namespace"):
        client.cache("a{b}")
    with pytest.raises(bad, match="ttl"):
        client.cache("a", ttl=-1)
    assert issubclass(bad, ValueError)


async def test_get_or_set_single_flight_in_process(aclient: redkeeper.AsyncClient) -> None:
    c = aclient.cache(fresh())
    runs = 0

    async def loader() -> dict:
        nonlocal runs
        runs += 1
        await asyncio.sleep(0.05)
        return {"v": 1}

    results = await asyncio.gather(*(c.get_or_set("hot", loader, ttl=30) for _ in range(50)))
    assert runs == 1
    assert all(r == {"v": 1} for r in results)
    assert await c.get_or_set("hot", loader) == {"v": 1}
    assert runs == 1


async def test_loader_errors_reach_every_waiter_and_are_not_cached(aclient: redkeeper.AsyncClient) -> None:
    c = aclient.cache(fresh())
    boom = RuntimeError("db down")

    async def failing() -> Any:
        await asyncio.sleep(0.05)
        raise boom

    results = await asyncio.gather(*(c.get_or_set("k", failing) for _ in range(10)), return_exceptions=True)
    assert all(r is boom for r in results)  # the loader's exact exception, in process
    assert await c.get("k") is None
    assert await c.get_or_set("k", lambda: "ok") == "ok"


def test_loader_error_in_another_client_is_loader_failed(redis_server: Any) -> None:
    # Two clients of one Redis stand in for two processes (memory:// stores are per client).
    ns = fresh()
    url = redis_server.url
    with redkeeper.Client(url) as a, redkeeper.Client(url) as b:
        started = threading.Event()
        b_listened: List[bool] = []

        def slow_failure() -> Any:
            started.set()
            # Fail only once b waits on the namespace channel (rk:cache:{ns}:ch, see
            # core/src/cache/README.md). A fixed 0.3 s raced it on a busy box: b, subscribing after
            # the failure, found no marker, claimed itself and ran its own loader.
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                reply = admin_command(redis_server, "PUBSUB", "NUMSUB", f"rk:cache:{{{ns}}}:ch")
                if int(reply[1]) >= 1:
                    b_listened.append(True)
                    time.sleep(0.02)  # b files itself as a waiter a few instructions after subscribing
                    break
                time.sleep(0.01)
            raise KeyError("row 7")

        errors: List[BaseException] = []

        def first() -> None:
            try:
                a.cache(ns).get_or_set("k", slow_failure)
            except BaseException as e:  # noqa: B902
                errors.append(e)

        t = threading.Thread(target=first)
        t.start()
        assert started.wait(5)
        with pytest.raises(redkeeper.LoaderFailed, match="row 7"):
            b.cache(ns).get_or_set("k", lambda: "never")
        t.join()
        assert b_listened, "b never subscribed to the namespace channel while a was loading"
        assert isinstance(errors[0], KeyError)
        assert b.cache(ns).get("k") is None


def test_loader_returning_none_caches_nothing(client: redkeeper.Client) -> None:
    c = client.cache(fresh())
    assert c.get_or_set("k", lambda: None) is None
    assert c.get_or_set("k", lambda: 3) == 3


def test_sync_single_flight_across_threads(client: redkeeper.Client) -> None:
    c = client.cache(fresh())
    runs = 0
    lock = threading.Lock()

    def loader() -> str:
        nonlocal runs
        with lock:
            runs += 1
        time.sleep(0.1)
        return "v"

    out: List[Any] = []
    threads = [threading.Thread(target=lambda: out.append(c.get_or_set("k", loader))) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert runs == 1 and out == ["v"] * 20


def test_store_down_falls_through_to_the_loader() -> None:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with redkeeper.Client(f"redis://127.0.0.1:{port}", command_timeout=0.2, connect_timeout=0.2) as dead:
        c = dead.cache("ns")
        assert c.get_or_set("k", lambda: {"fresh": True}) == {"fresh": True}
        with pytest.raises((redkeeper.ConnectionError, redkeeper.TimeoutError)):
            c.get("k")


WORKER = r"""
import sys, time, threading, redkeeper
url, ns, start_at = sys.argv[1], sys.argv[2], float(sys.argv[3])
client = redkeeper.Client(url)
cache = client.cache(ns, lock_timeout=20)
runs = client.cache(ns + "-runs")

def loader():
    runs.incr("loader")
    time.sleep(0.5)
    return {"loaded": True}

out = []
def one():
    out.append(cache.get_or_set("hot", loader, ttl=60))
while time.time() < start_at:
    time.sleep(0.001)
threads = [threading.Thread(target=one) for _ in range(int(sys.argv[4]))]
for t in threads: t.start()
for t in threads: t.join()
assert out == [{"loaded": True}] * len(threads), out
client.close()
print("ok", len(out))
"""


def test_fifty_misses_across_four_processes_run_the_loader_once(redis_server: Any) -> None:
    ns = fresh()
    env = dict(os.environ)
    start_at = time.time() + 1.5  # every process is connected and waiting before the burst
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, redis_server.url, ns, str(start_at), str(n)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for n in (13, 13, 12, 12)
    ]
    outs = [p.communicate(timeout=60) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err
    assert sum(int(o.split()[1]) for o, _ in outs) == 50
    with redkeeper.Client(redis_server.url) as c:
        assert c.cache(ns + "-runs").get("loader") == 1
