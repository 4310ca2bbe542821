"""Against a real redis-server (started by the redis_server fixture): the I/O-thread path end to
end — async ops settle through the loop bridge, sync ops wait with the GIL released."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any, Dict

import pytest

import redkeeper
from conftest import backend_url, evalsha_calls
from test_vectors import LIMITER, run_case_async, run_case_sync


def test_sync_ping_and_health(redis_server) -> None:
    with redkeeper.Client(redis_server.url) as client:
        latency = client.ping()
        assert isinstance(latency, float) and latency >= 0
        health = client.health()
        assert (health.backend, health.connected) == ("redis", True)
        assert client.stats()["ops"] >= 1
    assert client.closed
    with pytest.raises(redkeeper.ClientClosed):
        client.ping()


async def test_async_ping_through_the_bridge(redis_server) -> None:
    async with redkeeper.AsyncClient(redis_server.url) as client:
        latencies = await asyncio.gather(*(client.ping() for _ in range(200)))
        assert all(isinstance(v, float) and v >= 0 for v in latencies)
        health = await client.health()
        assert (health.backend, health.connected) == ("redis", True)
    with pytest.raises(redkeeper.ClientClosed):
        await client.ping()


async def test_cancelled_ping_does_not_break_the_client(redis_server) -> None:
    async with redkeeper.AsyncClient(redis_server.url) as client:
        tasks = [asyncio.ensure_future(client.ping()) for _ in range(50)]
        await asyncio.sleep(0)
        for task in tasks[::2]:
            task.cancel()
        done = await asyncio.gather(*tasks, return_exceptions=True)
        assert any(isinstance(r, asyncio.CancelledError) for r in done)
        assert all(isinstance(r, (float, asyncio.CancelledError)) for r in done)
        assert isinstance(await client.ping(), float)


async def test_unreachable_server_fails_with_typed_error() -> None:
    # Nothing listens on port 1: the op must settle with a connection or timeout error in time.
    async with redkeeper.AsyncClient("redis://127.0.0.1:1/0", command_timeout=0.3,
                                     connect_timeout=0.2) as client:
        with pytest.raises((redkeeper.ConnectionError, redkeeper.TimeoutError)):
            await asyncio.wait_for(client.ping(), 5)


def test_sync_unreachable_server_fails_with_typed_error() -> None:
    with redkeeper.Client("redis://127.0.0.1:1/0", command_timeout=0.3,
                          connect_timeout=0.2) as client:
        with pytest.raises((redkeeper.ConnectionError, redkeeper.TimeoutError)):
            client.ping()


def test_bad_redis_urls() -> None:
    for url in ("redis://host:notaport", "redis://h:6379/abc", "unix://"):
        with pytest.raises(redkeeper.InvalidArgument) as info:
            redkeeper.Client(url)
        assert "url" in str(info.value)


# --- the limiter on Redis: every shared vector, through the bridge (async) and the GIL-free wait --

LIMITER_CASES = [c for c in LIMITER if "steps" in c]


def _fresh_prefix() -> str:
    return "v" + uuid.uuid4().hex[:16]  # each case starts from empty keys


# "cluster": the same vectors on the shared 3-primary cluster (redis+cluster:// URL).
@pytest.mark.parametrize("store", ["redis", "cluster"])
@pytest.mark.parametrize("case", LIMITER_CASES, ids=lambda c: c["name"])
def test_limiter_vector_on_redis_sync(request, store: str, case: Dict[str, Any]) -> None:
    clock = redkeeper.ManualClock(start_ms=case["start_ms"])
    with redkeeper.Client(backend_url(request, store), prefix=_fresh_prefix(), clock=clock) as client:
        run_case_sync(client, clock, case)


@pytest.mark.parametrize("store", ["redis", "cluster"])
@pytest.mark.parametrize("case", LIMITER_CASES, ids=lambda c: c["name"])
async def test_limiter_vector_on_redis_async(request, store: str, case: Dict[str, Any]) -> None:
    clock = redkeeper.ManualClock(start_ms=case["start_ms"])
    async with redkeeper.AsyncClient(backend_url(request, store), prefix=_fresh_prefix(),
                                     clock=clock) as client:
        await run_case_async(client, clock, case)


async def test_redis_limiter_concurrent_hits_admit_exactly_limit(redis_server) -> None:
    async with redkeeper.AsyncClient(redis_server.url, prefix=_fresh_prefix()) as client:
        limiter = client.limiter("burst", limit=50, window=60, algorithm="sliding_log")
        assert type(limiter).__name__ == "_BridgedAsyncLimiter"
        results = await asyncio.gather(*(limiter.hit("ip") for _ in range(200)))
        assert sum(r.allowed for r in results) == 50
        rejected = [r for r in results if not r]
        assert all(r.retry_after > 0 and "Retry-After" in r.headers() for r in rejected)


def test_redis_limiter_shared_between_sync_and_async_clients(redis_server) -> None:
    prefix = _fresh_prefix()
    with redkeeper.Client(redis_server.url, prefix=prefix) as client:
        assert client.limiter("shared", limit=3, window=60).hit("k", cost=2).remaining == 1

    async def other_service() -> int:
        async with redkeeper.AsyncClient(redis_server.url, prefix=prefix) as rk:
            return (await rk.limiter("shared", limit=3, window=60).peek("k")).remaining

    assert asyncio.run(other_service()) == 1


async def test_redis_limiter_cancelled_hits_settle_and_client_closes(redis_server) -> None:
    client = redkeeper.AsyncClient(redis_server.url, prefix=_fresh_prefix())
    limiter = client.limiter("c", limit=1000, window=60)
    tasks = [asyncio.ensure_future(limiter.hit(f"k{i}")) for i in range(100)]
    await asyncio.sleep(0)
    for task in tasks[1::3]:
        task.cancel()
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(o, (redkeeper.RateLimitResult, asyncio.CancelledError)) for o in outcomes)
    await client.aclose()
    with pytest.raises(redkeeper.ClientClosed):
        await limiter.hit("k")


async def test_redis_limiter_fails_open_or_raises_when_redis_is_unreachable() -> None:
    async with redkeeper.AsyncClient("redis://127.0.0.1:1/0", command_timeout=0.2,
                                     connect_timeout=0.1) as client:
        open_limiter = client.limiter("o", limit=1, window=60)
        result = await asyncio.wait_for(open_limiter.hit("k"), 5)
        assert result.allowed and result.degraded
        raising = client.limiter("r", limit=1, window=60, on_error="raise")
        with pytest.raises((redkeeper.ConnectionError, redkeeper.TimeoutError)):
            await asyncio.wait_for(raising.hit("k"), 5)


async def _started_in_one_turn(redis_server, limiter, hits: int, wait_for: int) -> int:
    """Starts `hits` hits in one loop turn, then, still in that turn (the loop blocked on purpose),
    waits up to a few seconds for Redis to have run `wait_for` of them; returns how many it ran."""
    loop = asyncio.get_running_loop()
    before = evalsha_calls(redis_server)
    mid_turn = []

    def probe() -> None:  # runs right after the tasks' first steps, in the same turn
        deadline = time.monotonic() + (3.0 if wait_for else 0.3)
        ran = evalsha_calls(redis_server) - before
        while time.monotonic() < deadline and (ran < wait_for or not wait_for):
            time.sleep(0.01)
            ran = evalsha_calls(redis_server) - before
        mid_turn.append(ran)

    tasks = [asyncio.ensure_future(limiter.hit("k")) for _ in range(hits)]
    loop.call_soon(probe)
    results = await asyncio.gather(*tasks)
    assert all(r.allowed and not r.degraded for r in results)
    assert evalsha_calls(redis_server) - before == hits
    return mid_turn[0]


async def test_async_ops_of_one_loop_turn_are_sent_together_and_in_chunks(redis_server) -> None:
    # A long timeout: the test blocks the loop for a while on purpose, and no hit may time out.
    async with redkeeper.AsyncClient(redis_server.url, command_timeout=20.0) as client:
        limiter = client.limiter(f"turn-{uuid.uuid4().hex}", limit=1000, window=60, algorithm="fixed_window")
        await limiter.hit("warm")  # connected, script loaded
        # 20 hits: all wait for the turn to end (corked), none reaches Redis while it runs.
        assert await _started_in_one_turn(redis_server, limiter, 20, 0) == 0
        # 40 hits: the first 32 go out when the 33rd is made, while the turn still runs.
        assert await _started_in_one_turn(redis_server, limiter, 40, 32) >= 32


def test_the_server_helper_never_mistakes_another_server_on_its_port_for_its_own(redis_server, monkeypatch) -> None:
    # A port found free can be bound by another test's server first; that one answers too. The
    # helper must fail (the cluster fixture then retries on new ports), not hand the stranger out.
    import conftest

    monkeypatch.setattr(conftest, "_free_port", lambda: redis_server.port)
    with pytest.raises(pytest.fail.Exception):
        conftest.RedisServer()
    assert redis_server.running
    assert redis_server.command("PING") in ("PONG", b"PONG")
