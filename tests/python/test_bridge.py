"""The completion path for backends that finish ops on an I/O thread (Redis): the per-loop bridge
(pipe wake-up, batched drain, cancellation) and the sync wait with the GIL released. Driven here by
native self-test ops that complete from a foreign C++ thread, exactly like the Redis engine does."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import List

import pytest

import redkeeper
from redkeeper import _native
from redkeeper._bridge import bridge_for


async def test_result_arrives_from_foreign_thread() -> None:
    loop = asyncio.get_running_loop()
    bridge = bridge_for(loop)
    assert bridge_for(loop) is bridge  # one bridge per loop
    future = loop.create_future()
    _native._selftest_async(bridge, future, 20)
    result = await asyncio.wait_for(future, 5)
    assert isinstance(result, redkeeper.RateLimitResult)
    assert (result.allowed, result.limit, result.remaining, result.reset_after) == (True, 10, 9, 1.0)
    assert result.headers("draft-8", legacy=False)["RateLimit-Policy"] == '"selftest"; q=10; w=1'
    assert bridge.pending == 0


async def test_error_arrives_as_typed_exception() -> None:
    loop = asyncio.get_running_loop()
    future = loop.create_future()
    _native._selftest_async(bridge_for(loop), future, 5, "error")
    with pytest.raises(redkeeper.TimeoutError) as info:
        await asyncio.wait_for(future, 5)
    assert info.value.code == "ERR_RK_TIMEOUT"
    assert "deadline" in str(info.value)


async def test_many_completions_in_batches() -> None:
    loop = asyncio.get_running_loop()
    bridge = bridge_for(loop)
    futures = [loop.create_future() for _ in range(300)]
    for i, future in enumerate(futures):
        _native._selftest_async(bridge, future, i % 7)
    results = await asyncio.wait_for(asyncio.gather(*futures), 10)
    assert len(results) == 300 and all(r.allowed for r in results)
    assert bridge.pending == 0


async def test_cancelled_waiter_is_skipped_and_forgotten() -> None:
    loop = asyncio.get_running_loop()
    bridge = bridge_for(loop)
    future = loop.create_future()
    # 500 ms: the op is surely still running when the pending count is read just below (50 ms
    # raced a stalled box); the bounded wait after it ends as soon as the op completes.
    _native._selftest_async(bridge, future, 500)

    async def waiter() -> object:
        return await future

    task = asyncio.ensure_future(waiter())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert future.cancelled()
    assert bridge.pending == 1
    # The op still completes on its thread; the drain must skip the cancelled future, not crash.
    deadline = time.monotonic() + 5
    while bridge.pending and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    assert bridge.pending == 0
    # And the bridge keeps working afterwards.
    again = loop.create_future()
    _native._selftest_async(bridge, again, 1)
    assert (await asyncio.wait_for(again, 5)).allowed


async def test_wait_for_timeout_on_slow_op() -> None:
    loop = asyncio.get_running_loop()
    future = loop.create_future()
    _native._selftest_async(bridge_for(loop), future, 1000)  # far past the 10 ms wait, even stalled
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(future, 0.01)


def test_loops_get_their_own_bridges() -> None:
    async def fetch() -> tuple:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        bridge = bridge_for(loop)
        _native._selftest_async(bridge, future, 1)
        return id(bridge), (await future).remaining

    first = asyncio.run(fetch())
    second = asyncio.run(fetch())
    assert first[1] == second[1] == 9


def test_a_closed_loop_and_its_bridge_are_freed(redis_server) -> None:
    # The bridge's uncork scheduler refers to its loop and to itself weakly only: a strong reference
    # would keep every loop (and its wake-up pipe) alive for the life of the process.
    import gc
    import weakref

    import redkeeper

    refs = []

    async def use() -> None:
        loop = asyncio.get_running_loop()
        async with redkeeper.AsyncClient(redis_server.url) as client:
            limiter = client.limiter("gc", limit=100, window=60)
            await asyncio.gather(*(limiter.hit("k") for _ in range(40)))
        refs.append(weakref.ref(loop))
        refs.append(weakref.ref(bridge_for(loop)))

    asyncio.run(use())
    gc.collect()
    assert [r() for r in refs] == [None, None]


def test_sync_wait_releases_the_gil() -> None:
    ticks: List[float] = []
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            ticks.append(time.monotonic())
            time.sleep(0.001)

    spinner = threading.Thread(target=spin)
    spinner.start()
    try:
        started = time.monotonic()
        assert _native._selftest_sync(200) == 1
        ended = time.monotonic()
        assert ended - started >= 0.19
    finally:
        stop.set()
        spinner.join()
    # The spinner ran while we waited: the wait did not hold the GIL. Ticks inside the wait only:
    # a held GIL allows none there; a free one ~200, and still well over 5 for a spinner starved
    # on a busy box (20 was too many for that).
    assert sum(1 for t in ticks if started < t < ended) >= 5, (ended - started, len(ticks))


def test_sync_wait_raises_typed_error() -> None:
    with pytest.raises(redkeeper.ConnectionError) as info:
        _native._selftest_sync(5, True)
    assert info.value.code == "ERR_RK_CONNECTION"
