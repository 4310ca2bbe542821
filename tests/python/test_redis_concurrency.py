"""Exact admission under contention on Redis: several processes (spawned, each with its own client
and connection) x many concurrent callers hit ONE key of a limit of 1000; exactly 1000 get in, for
every algorithm, with Redis' own TIME (no ManualClock) and a window far longer than the test."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import queue
import threading
import uuid
from typing import Dict, List, Tuple

import pytest

import redkeeper

ALGORITHMS = ["fixed_window", "sliding_window", "sliding_log", "token_bucket", "gcra"]
LIMIT = 1000
WINDOW_S = 86400  # token_bucket/gcra refill one unit per 86 s: none during the test
PROCESSES = 4
ASYNC_CALLERS = 64
ASYNC_HITS_EACH = 5    # 4 x 64 x 5 = 1280 attempts per algorithm
SYNC_THREADS = 16
SYNC_HITS_EACH = 20    # 4 x 16 x 20 = 1280 attempts per algorithm
KEY = "one-key"

Counts = Dict[str, Tuple[int, int, int]]  # algorithm -> (attempts, admitted, bad rejections)


def _check_rejection(r: redkeeper.RateLimitResult) -> bool:
    """A rejection must say when to come back and that nothing remains; never degraded."""
    return (not r.allowed) and r.retry_after_ms > 0 and r.remaining == 0 and not r.degraded


def _async_worker(url: str, prefix: str, barrier, results) -> None:
    async def main() -> Counts:
        out: Counts = {}
        async with redkeeper.AsyncClient(url, prefix=prefix, command_timeout=20) as rk:
            await rk.ping()  # connected before anyone starts
            for algorithm in ALGORITHMS:
                limiter = rk.limiter(f"c-{algorithm}", limit=LIMIT, window=WINDOW_S,
                                     algorithm=algorithm, on_error="raise")

                async def caller() -> List[redkeeper.RateLimitResult]:
                    return [await limiter.hit(KEY) for _ in range(ASYNC_HITS_EACH)]

                barrier.wait(30)  # all processes release their 64 callers together
                per_caller = await asyncio.gather(*(caller() for _ in range(ASYNC_CALLERS)))
                flat = [r for rs in per_caller for r in rs]
                out[algorithm] = (len(flat), sum(r.allowed for r in flat),
                                  sum(1 for r in flat if not r.allowed and not _check_rejection(r)))
        return out

    try:
        results.put((os.getpid(), asyncio.run(main())))
    except BaseException as e:  # the parent reports it; a silent child would just time out
        results.put((os.getpid(), f"{type(e).__name__}: {e}"))


def _sync_worker(url: str, prefix: str, barrier, results) -> None:
    try:
        out: Counts = {}
        with redkeeper.Client(url, prefix=prefix, command_timeout=20) as rk:
            rk.ping()
            for algorithm in ALGORITHMS:
                limiter = rk.limiter(f"c-{algorithm}", limit=LIMIT, window=WINDOW_S,
                                     algorithm=algorithm, on_error="raise")
                got: List[List[redkeeper.RateLimitResult]] = [[] for _ in range(SYNC_THREADS)]
                errors: List[BaseException] = []
                start = threading.Barrier(SYNC_THREADS + 1)

                def thread_main(i: int) -> None:
                    start.wait()
                    try:
                        for _ in range(SYNC_HITS_EACH):
                            got[i].append(limiter.hit(KEY))
                    except BaseException as e:
                        errors.append(e)

                threads = [threading.Thread(target=thread_main, args=(i,)) for i in range(SYNC_THREADS)]
                for t in threads:
                    t.start()
                barrier.wait(30)
                start.wait()
                for t in threads:
                    t.join(60)
                if errors:
                    raise errors[0]
                flat = [r for rs in got for r in rs]
                out[algorithm] = (len(flat), sum(r.allowed for r in flat),
                                  sum(1 for r in flat if not r.allowed and not _check_rejection(r)))
        results.put((os.getpid(), out))
    except BaseException as e:
        results.put((os.getpid(), f"{type(e).__name__}: {e}"))


def _run_processes(target, url: str, prefix: str) -> List[Counts]:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(PROCESSES)
    results = ctx.Queue()
    procs = [ctx.Process(target=target, args=(url, prefix, barrier, results)) for _ in range(PROCESSES)]
    for p in procs:
        p.start()
    outcomes = []
    try:
        for _ in procs:
            outcomes.append(results.get(timeout=90)[1])
    except queue.Empty:
        pytest.fail(f"only {len(outcomes)} of {PROCESSES} worker processes reported within 90 s")
    finally:
        for p in procs:
            p.join(10)
            if p.is_alive():
                p.kill()
                p.join()
    failures = [o for o in outcomes if isinstance(o, str)]
    assert not failures, failures
    assert all(p.exitcode == 0 for p in procs), [p.exitcode for p in procs]
    return outcomes


def _assert_exactly_limit(outcomes: List[Counts], url: str, prefix: str) -> None:
    for algorithm in ALGORITHMS:
        attempts = sum(o[algorithm][0] for o in outcomes)
        admitted = sum(o[algorithm][1] for o in outcomes)
        bad = sum(o[algorithm][2] for o in outcomes)
        assert attempts > LIMIT, (algorithm, attempts)
        assert admitted == LIMIT, f"{algorithm}: {admitted} admitted of {attempts} attempts"
        assert bad == 0, f"{algorithm}: {bad} rejections without retry_after/remaining=0"
        # Every process contributed: the contention really was across processes.
        assert all(o[algorithm][0] > 0 for o in outcomes)
    # The store agrees: nothing left for anyone.
    with redkeeper.Client(url, prefix=prefix) as rk:
        for algorithm in ALGORITHMS:
            state = rk.limiter(f"c-{algorithm}", limit=LIMIT, window=WINDOW_S, algorithm=algorithm,
                               on_error="raise").peek(KEY)
            assert (state.allowed, state.remaining) == (False, 0), (algorithm, state)


def test_async_callers_in_four_processes_admit_exactly_the_limit(redis_server) -> None:
    prefix = "conc-a-" + uuid.uuid4().hex[:8]
    outcomes = _run_processes(_async_worker, redis_server.url, prefix)
    _assert_exactly_limit(outcomes, redis_server.url, prefix)


def test_sync_threads_in_four_processes_admit_exactly_the_limit(redis_server) -> None:
    prefix = "conc-s-" + uuid.uuid4().hex[:8]
    outcomes = _run_processes(_sync_worker, redis_server.url, prefix)
    _assert_exactly_limit(outcomes, redis_server.url, prefix)
