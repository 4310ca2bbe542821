"""The public Python API on memory://: clients and their life cycle, limiter options, results and
their headers, the ManualClock, and the inline (no-Future) async path."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import threading
from typing import Any, List

import pytest

import redkeeper

T0 = 1_700_000_000_000


# --- life cycle ------------------------------------------------------------------------------------


def test_sync_context_manager_closes() -> None:
    with redkeeper.Client("memory://") as client:
        limiter = client.limiter("api", limit=2, window=60)
        assert limiter.hit("k").allowed
        assert not client.closed
    assert client.closed
    with pytest.raises(redkeeper.ClientClosed) as info:
        limiter.hit("k")
    assert info.value.code == "ERR_RK_CLOSED"


async def test_async_context_manager_closes() -> None:
    async with redkeeper.AsyncClient("memory://") as client:
        limiter = client.limiter("api", limit=2, window=60)
        assert (await limiter.hit("k")).allowed
    assert client.closed
    with pytest.raises(redkeeper.ClientClosed):
        await limiter.hit("k")


def test_every_op_after_close_raises_client_closed() -> None:
    client = redkeeper.Client("memory://")
    limiter = client.limiter("api", limit=2, window=60)
    client.close()
    client.close()  # idempotent
    calls = [
        lambda: limiter.hit("k"),
        lambda: limiter.peek("k"),
        lambda: limiter.reset("k"),
        lambda: limiter.refund("k", 1),
        lambda: limiter.block("k", 5),
        lambda: client.limiter("other", limit=1, window=1),
        client.ping,
    ]
    for call in calls:
        with pytest.raises(redkeeper.ClientClosed):
            call()


async def test_every_async_op_after_aclose_raises_client_closed() -> None:
    client = redkeeper.AsyncClient("memory://")
    limiter = client.limiter("api", limit=2, window=60)
    await client.aclose()
    await client.aclose()
    for make in [
        lambda: limiter.hit("k"),
        lambda: limiter.peek("k"),
        lambda: limiter.reset("k"),
        lambda: limiter.refund("k", 1),
        lambda: limiter.block("k", 5),
        client.ping,
    ]:
        with pytest.raises(redkeeper.ClientClosed):
            await make()
    with pytest.raises(redkeeper.ClientClosed):
        client.limiter("other", limit=1, window=1)


def test_health_stats_ping() -> None:
    with redkeeper.Client("memory://") as client:
        limiter = client.limiter("api", limit=5, window=60)
        for _ in range(3):
            limiter.hit("k")
        health = client.health()
        assert dataclasses.asdict(health) == {"backend": "memory", "connected": True,
                                              "latency_ms": health.latency_ms}
        assert health.latency_ms >= 0
        stats = client.stats()
        assert set(stats) == {"ops", "errors", "timeouts", "reconnects", "in_flight", "keys", "redirects",
                              "topology_refreshes", "nodes"}
        assert stats["ops"] >= 3 and stats["keys"] >= 1 and stats["in_flight"] == 0
        assert isinstance(client.ping(), float)


async def test_async_health_stats_ping() -> None:
    async with redkeeper.AsyncClient("memory://") as client:
        assert (await client.health()).backend == "memory"
        assert isinstance(await client.ping(), float)
        assert client.stats()["errors"] == 0


# --- limiter options -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "window", [900, 900.0, "900", "15m", "0.25h", datetime.timedelta(minutes=15)], ids=repr
)
def test_window_forms_are_equivalent(window: Any) -> None:
    with redkeeper.Client("memory://") as client:
        limiter = client.limiter("api", limit=5, window=window)
        assert limiter.window_ms == 900_000
        assert limiter.window == 900.0


@pytest.mark.parametrize(
    "rate,limit,window_ms",
    [("5/15minutes", 5, 900_000), ("100 per 15 minutes", 100, 900_000), ("10/minute", 10, 60_000),
     ("1000/day", 1000, 86_400_000), ("10/s", 10, 1000)],
)
def test_rate_strings(rate: str, limit: int, window_ms: int) -> None:
    with redkeeper.Client("memory://") as client:
        limiter = client.limiter("api", rate=rate)
        assert (limiter.limit, limiter.window_ms) == (limit, window_ms)


def test_limiter_defaults_and_properties() -> None:
    with redkeeper.Client("memory://") as client:
        limiter = client.limiter("login")
        assert (limiter.name, limiter.limit, limiter.window_ms) == ("login", 5, 900_000)
        assert limiter.algorithm == "sliding_window"
        assert limiter.on_error == "open"
        assert limiter.block_duration_ms == 0
        for none in (None, 0, 0.0):
            assert client.limiter("n", limit=1, window=1, block_duration=none).block_duration_ms == 0
        assert limiter.completes_inline
        assert isinstance(limiter, redkeeper.Limiter)
        blocking = client.limiter("b", limit=1, window=1, block_duration="1m", on_error="raise")
        assert (blocking.block_duration_ms, blocking.on_error) == (60_000, "raise")
        assert "login" in repr(limiter)


@pytest.mark.parametrize(
    "algorithm", ["fixed_window", "sliding_window", "sliding_log", "token_bucket", "gcra"]
)
def test_each_algorithm_admits_exactly_limit(algorithm: str) -> None:
    clock = redkeeper.ManualClock(start_ms=T0)
    with redkeeper.Client("memory://", clock=clock) as client:
        limiter = client.limiter("api", limit=3, window=60, algorithm=algorithm)
        results = [limiter.hit("k") for _ in range(5)]
        assert [r.allowed for r in results] == [True, True, True, False, False]
        assert [r.remaining for r in results[:3]] == [2, 1, 0]
        assert results[3].retry_after > 0
        clock.advance(60_000)
        assert limiter.hit("k").allowed


def test_block_reset_refund_round_trip() -> None:
    clock = redkeeper.ManualClock(start_ms=T0)
    with redkeeper.Client("memory://", clock=clock) as client:
        limiter = client.limiter("api", limit=3, window=60, algorithm="fixed_window")
        assert limiter.hit("k", cost=3).remaining == 0
        assert limiter.refund("k", 2).remaining == 2
        blocked = limiter.block("k", datetime.timedelta(seconds=30))
        assert not blocked.allowed and blocked.retry_after_ms == 30_000
        assert not limiter.hit("k").allowed
        limiter.reset("k")
        assert limiter.peek("k").remaining == 3


def test_keys_are_per_limiter_and_per_id() -> None:
    with redkeeper.Client("memory://") as client:
        a = client.limiter("a", limit=1, window=60)
        b = client.limiter("b", limit=1, window=60)
        assert a.hit("k").allowed and b.hit("k").allowed and a.hit("other").allowed
        assert not a.hit("k").allowed
        # str and its UTF-8 bytes are the same id.
        assert not a.hit(b"k").allowed


def test_sync_client_is_thread_safe() -> None:
    with redkeeper.Client("memory://") as client:
        limiter = client.limiter("api", limit=1000, window=3600, algorithm="fixed_window")
        admitted: List[int] = []

        def worker() -> None:
            admitted.append(sum(limiter.hit("shared").allowed for _ in range(500)))

        threads = [threading.Thread(target=worker) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sum(admitted) == 1000


# --- results ---------------------------------------------------------------------------------------


def test_result_fields_and_immutability() -> None:
    clock = redkeeper.ManualClock(start_ms=T0)
    with redkeeper.Client("memory://", clock=clock) as client:
        limiter = client.limiter("api", limit=2, window=60, algorithm="fixed_window")
        first = limiter.hit("k")
        assert isinstance(first, redkeeper.RateLimitResult)
        assert (first.allowed, first.limit, first.remaining) == (True, 2, 1)
        assert (first.reset_after_ms, first.reset_after) == (60_000, 60.0)
        assert (first.retry_after_ms, first.retry_after) == (0, 0.0)
        assert first.degraded is False
        assert bool(first) is True
        assert repr(first) == (
            "RateLimitResult(allowed=True, limit=2, remaining=1, reset_after=60.000, retry_after=0.000)"
        )
        with pytest.raises(AttributeError):
            first.allowed = False  # type: ignore[misc]
        with pytest.raises(AttributeError):
            first.extra = 1  # type: ignore[attr-defined]
        limiter.hit("k")
        clock.advance(15_000)
        rejected = limiter.hit("k")
        assert not rejected and rejected.retry_after == 45.0
        assert hash(rejected) == hash(redkeeper.RateLimitResult(
            allowed=False, limit=2, remaining=0, reset_after_ms=45_000, retry_after_ms=45_000))


def test_result_equality() -> None:
    a = redkeeper.RateLimitResult(allowed=True, limit=5, remaining=4, reset_after_ms=1000)
    b = redkeeper.RateLimitResult(allowed=True, limit=5, remaining=4, reset_after_ms=1000)
    c = redkeeper.RateLimitResult(allowed=True, limit=5, remaining=3, reset_after_ms=1000)
    assert a == b and a != c and a != "x"
    with pytest.raises(redkeeper.InvalidArgument):
        redkeeper.RateLimitResult(allowed=True, limit=5)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        redkeeper.RateLimitResult(True, 5, 4, 1000)  # type: ignore[misc]


def _hit_twice(algorithm: str = "fixed_window") -> "tuple[redkeeper.RateLimitResult, redkeeper.RateLimitResult]":
    clock = redkeeper.ManualClock(start_ms=T0)
    client = redkeeper.Client("memory://", clock=clock)
    limiter = client.limiter("api", limit=1, window=60, algorithm=algorithm)
    ok = limiter.hit("k")
    clock.advance(20_000)
    return ok, limiter.hit("k")


def test_headers_each_standard() -> None:
    ok, rejected = _hit_twice()
    assert ok.headers("draft-6", legacy=False) == {
        "RateLimit-Limit": "1", "RateLimit-Remaining": "0", "RateLimit-Reset": "60",
        "RateLimit-Policy": "1;w=60",
    }
    assert ok.headers("draft-7", legacy=False) == {
        "RateLimit": "limit=1, remaining=0, reset=60", "RateLimit-Policy": "1;w=60",
    }
    assert ok.headers("draft-8", legacy=False) == {
        "RateLimit": '"api"; r=0; t=60', "RateLimit-Policy": '"api"; q=1; w=60',
    }
    assert ok.headers("none", legacy=False) == {}
    # Defaults: draft-7 plus legacy, the legacy reset as epoch seconds on the client's clock.
    assert ok.headers() == {
        "RateLimit": "limit=1, remaining=0, reset=60", "RateLimit-Policy": "1;w=60",
        "X-RateLimit-Limit": "1", "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": str(T0 // 1000 + 60),
    }
    # A rejection adds Retry-After, whatever the standard.
    for standard in ("draft-6", "draft-7", "draft-8", "none"):
        headers = rejected.headers(standard)
        assert headers["Retry-After"] == "40"
        assert list(headers)[-1] == "Retry-After"
        assert headers["X-RateLimit-Reset"] == str((T0 + 20_000) // 1000 + 40)
    assert "Retry-After" not in ok.headers("draft-8")
    assert rejected.headers(now_ms=0 + 5_000_000)["X-RateLimit-Reset"] == str(5_000 + 40)


# --- clock and async -------------------------------------------------------------------------------


def test_manual_clock() -> None:
    clock = redkeeper.ManualClock(start_ms=T0)
    assert clock.now_ms == T0
    clock.advance(1500)
    assert clock.now_ms == T0 + 1500
    clock.set(42)
    assert clock.now_ms == 42
    assert repr(clock) == "ManualClock(now_ms=42)"
    assert redkeeper.ManualClock().now_ms == T0


async def test_memory_async_ops_complete_without_suspending() -> None:
    """On memory:// the coroutine finishes on its first step: no Future, no loop round trip."""
    async with redkeeper.AsyncClient("memory://") as client:
        limiter = client.limiter("api", limit=2, window=60)
        assert type(limiter) is redkeeper.AsyncLimiter
        for make in (lambda: limiter.hit("k"), lambda: limiter.peek("k"),
                     lambda: limiter.refund("k", 1), lambda: limiter.block("k", 1),
                     lambda: limiter.reset("k")):
            coro = make()
            with pytest.raises(StopIteration):
                coro.send(None)


async def test_async_limiter_mirrors_sync_limiter() -> None:
    clock = redkeeper.ManualClock(start_ms=T0)
    async with redkeeper.AsyncClient("memory://", clock=clock) as client:
        limiter = client.limiter("api", limit=2, window="1m", algorithm="gcra", block_duration=30)
        assert (limiter.name, limiter.algorithm, limiter.limit, limiter.window_ms,
                limiter.window, limiter.block_duration_ms, limiter.on_error) == (
            "api", "gcra", 2, 60_000, 60.0, 30_000, "open")
        assert [(await limiter.hit("k")).allowed for _ in range(3)] == [True, True, False]
        # block_duration: the rejected hit blocked the key for 30 s.
        assert (await limiter.peek("k")).retry_after == pytest.approx(30.0)
        await limiter.reset("k")
        assert (await limiter.hit("k", cost=2)).remaining == 0
        assert (await limiter.refund("k", 1)).remaining == 1
        assert repr(limiter).startswith("AsyncLimiter(")


async def test_async_clients_on_two_loops() -> None:
    """One AsyncClient per thread/loop works; results never cross loops."""
    def other_thread() -> bool:
        async def main() -> bool:
            async with redkeeper.AsyncClient("memory://") as client:
                return (await client.limiter("x", limit=1, window=1).hit("k")).allowed
        return asyncio.run(main())

    assert await asyncio.get_running_loop().run_in_executor(None, other_thread)
