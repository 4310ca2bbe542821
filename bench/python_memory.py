#!/usr/bin/env python3
"""Benchmark: redkeeper's memory:// limiter hit() against the `limits` library's MemoryStorage with
the same algorithm, sync and asyncio, in one process run. Prints ops/s and the ratio.

    python bench/python_memory.py [--ops 200000] [--keys 1000] [--repeats 5]

Algorithm pairs: fixed_window <-> FixedWindowRateLimiter, sliding_log (exact) <->
MovingWindowRateLimiter, sliding_window (two-counter weighted) <-> SlidingWindowCounterRateLimiter.
Workload: `--keys` client ids hit round-robin, a limit no run exhausts (every hit is admitted, the
costlier path for both), best of `--repeats` interleaved runs to damp noise from other processes.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import platform
import sys
import time
from typing import Awaitable, Callable, Dict, List, Tuple

import limits
import limits.aio.strategies
import limits.storage
import limits.strategies

import redkeeper

PAIRS = [
    ("fixed_window", limits.strategies.FixedWindowRateLimiter,
     limits.aio.strategies.FixedWindowRateLimiter),
    ("sliding_log", limits.strategies.MovingWindowRateLimiter,
     limits.aio.strategies.MovingWindowRateLimiter),
    ("sliding_window", limits.strategies.SlidingWindowCounterRateLimiter,
     limits.aio.strategies.SlidingWindowCounterRateLimiter),
]
WINDOW_S = 3600


def time_sync(hit: Callable[[str], object], keys: List[str], ops: int) -> float:
    rounds, rest = divmod(ops, len(keys))
    schedule = keys * rounds + keys[:rest]
    start = time.perf_counter()
    for key in schedule:
        hit(key)
    return ops / (time.perf_counter() - start)


async def time_async(hit: Callable[[str], Awaitable[object]], keys: List[str], ops: int) -> float:
    rounds, rest = divmod(ops, len(keys))
    schedule = keys * rounds + keys[:rest]
    start = time.perf_counter()
    for key in schedule:
        await hit(key)
    return ops / (time.perf_counter() - start)


def bench(ops: int, n_keys: int, repeats: int) -> List[Tuple[str, str, float, float]]:
    keys = [f"10.{i // 65536}.{i // 256 % 256}.{i % 256}" for i in range(n_keys)]
    # Every hit is admitted: the limit covers all the runs' hits on a key.
    limit = (ops // n_keys + 1) * (repeats + 1) + 10
    item = limits.RateLimitItemPerHour(limit)
    rows = []

    for algorithm, sync_cls, async_cls in PAIRS:
        # --- sync
        rk_client = redkeeper.Client("memory://")
        rk = rk_client.limiter("bench", limit=limit, window=WINDOW_S, algorithm=algorithm)
        peer = sync_cls(limits.storage.MemoryStorage())
        peer_hit = functools.partial(peer.hit, item)  # a C-level partial: no extra Python frame
        assert rk.hit("warm").allowed and peer_hit("warm")
        ours: List[float] = []
        theirs: List[float] = []
        for _ in range(repeats):
            ours.append(time_sync(rk.hit, keys, ops))
            theirs.append(time_sync(peer_hit, keys, ops))
        # Allowance left at the end means no hit was rejected (a rejection consumes nothing, and
        # the limit is never reached): both sides did the same admitted-hit work.
        assert rk.peek(keys[0]).remaining > 0
        assert peer.get_window_stats(item, keys[0]).remaining > 0
        rk_client.close()
        rows.append((algorithm, "sync", max(ours), max(theirs)))

        # --- asyncio
        async def run_async() -> Tuple[float, float]:
            async with redkeeper.AsyncClient("memory://") as client:
                rk_async = client.limiter("bench", limit=limit, window=WINDOW_S, algorithm=algorithm)
                peer_async = async_cls(limits.storage.storage_from_string("async+memory://"))
                await rk_async.hit("warm")
                await peer_async.hit(item, "warm")
                a: List[float] = []
                b: List[float] = []
                for _ in range(repeats):
                    a.append(await time_async(rk_async.hit, keys, ops))
                    b.append(await time_async(functools.partial(peer_async.hit, item), keys, ops))
                assert (await rk_async.peek(keys[-1])).remaining > 0
                assert (await peer_async.get_window_stats(item, keys[-1])).remaining > 0
                return max(a), max(b)

        ours_async, theirs_async = asyncio.run(run_async())
        rows.append((algorithm, "async", ours_async, theirs_async))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=200_000, help="hits per timed run")
    parser.add_argument("--keys", type=int, default=1000, help="distinct client ids")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved runs; best is kept")
    args = parser.parse_args()

    print(f"redkeeper {redkeeper.__version__} vs limits {limits.__version__} "
          f"(MemoryStorage), Python {platform.python_version()}, {args.ops} hits/run over "
          f"{args.keys} keys, best of {args.repeats}")
    print(f"{'algorithm':<16}{'mode':<7}{'redkeeper ops/s':>17}{'limits ops/s':>15}{'ratio':>8}")
    worst: Dict[str, float] = {}
    for algorithm, mode, ours, theirs in bench(args.ops, args.keys, args.repeats):
        ratio = ours / theirs
        worst[mode] = min(worst.get(mode, ratio), ratio)
        print(f"{algorithm:<16}{mode:<7}{ours:>17,.0f}{theirs:>15,.0f}{ratio:>7.1f}x")
    print("lowest ratio: " + ", ".join(f"{mode} {r:.1f}x" for mode, r in worst.items())
          + " (target >= 5x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
