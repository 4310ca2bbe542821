#!/usr/bin/env python3
"""Benchmark: lock acquire + release round trips, redkeeper against redis-py's Lock, same private
redis-server, one process run.

    python bench/python_locks.py [--seconds 1.5] [--rounds 3]

Every iteration takes an uncontended lock and releases it, the way apps write it: a new lock
object per critical section, used as a context manager. Each worker has its own lock name, so
concurrency measures throughput, not contention.
  asyncio, 1 task and 64 tasks:
    async with rk.lock(name, ttl=30):                    redkeeper.AsyncClient (fencing token, auto-renew on)
    async with r.lock(name, timeout=30, blocking_timeout=10):   redis.asyncio.Redis (pool of 128)
  sync, 1 thread and 64 threads:
    with client.lock(name, ttl=30):                      redkeeper.Client
    with r.lock(name, timeout=30, blocking_timeout=10):  redis.Redis (pool of 128)
Both sides do two round trips per iteration (acquire, release). Rounds interleave the contenders so
background load hits all alike; the median round counts.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import socket
import statistics
import subprocess
import tempfile
import threading
import time
from typing import Awaitable, Callable, Dict, List

import redis
import redis.asyncio as aredis

import redkeeper


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    def __init__(self) -> None:
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="rk-bench-")
        exe = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.proc = subprocess.Popen(
            [exe, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no",
             "--dir", self.dir],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


async def run_async(seconds: float, concurrency: int, op: Callable[[str], Awaitable[None]], tag: str) -> float:
    """ops/s of `concurrency` tasks, each taking and releasing its own lock in a loop."""
    stop_at = time.perf_counter() + seconds
    counts = [0] * concurrency

    async def worker(w: int) -> None:
        name = f"bench:{tag}:{w}"
        n = 0
        while True:
            await op(name)
            n += 1
            if n % 16 == 0 and time.perf_counter() >= stop_at:
                break
        counts[w] = n

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    return sum(counts) / (time.perf_counter() - t0)


def run_threads(seconds: float, concurrency: int, op: Callable[[str], None], tag: str) -> float:
    stop_at = time.perf_counter() + seconds
    counts = [0] * concurrency

    def worker(w: int) -> None:
        name = f"bench:{tag}:{w}"
        n = 0
        while True:
            op(name)
            n += 1
            if n % 16 == 0 and time.perf_counter() >= stop_at:
                break
        counts[w] = n

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(concurrency)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts) / (time.perf_counter() - t0)


def report(label: str, conc: int, results: Dict[str, List[float]]) -> None:
    a = statistics.median(results["redkeeper"])
    b = statistics.median(results["redis-py"])
    print(f"  {label} concurrency {conc:>2}: redkeeper {a:>8.0f}  redis-py Lock {b:>8.0f}  ratio {a / b:5.2f}x")


async def bench_async(server: RedisServer, args: argparse.Namespace) -> None:
    rk = redkeeper.AsyncClient(server.url)
    r = aredis.Redis.from_url(server.url, max_connections=128)

    async def ours(name: str) -> None:
        async with rk.lock(name, ttl=30):
            pass

    async def theirs(name: str) -> None:
        async with r.lock(name, timeout=30, blocking_timeout=10):
            pass

    # Both really lock: a second holder is refused while the first holds.
    async with rk.lock("check", ttl=30) as lk:
        assert lk.fencing_token is not None
        try:
            await rk.lock("check", wait=0).acquire()
            raise AssertionError("redkeeper: two holders")
        except redkeeper.LockNotAcquired:
            pass
    async with r.lock("check-py", timeout=30):
        assert not await r.lock("check-py", timeout=30).acquire(blocking=False)

    for conc in (1, 64):
        results: Dict[str, List[float]] = {"redkeeper": [], "redis-py": []}
        for _ in range(args.rounds):
            results["redkeeper"].append(await run_async(args.seconds, conc, ours, "rk"))
            results["redis-py"].append(await run_async(args.seconds, conc, theirs, "py"))
        report("asyncio", conc, results)
    await r.aclose()
    await rk.aclose()


def bench_sync(server: RedisServer, args: argparse.Namespace) -> None:
    client = redkeeper.Client(server.url)
    r = redis.Redis.from_url(server.url, max_connections=128)

    def ours(name: str) -> None:
        with client.lock(name, ttl=30):
            pass

    def theirs(name: str) -> None:
        with r.lock(name, timeout=30, blocking_timeout=10):
            pass

    for conc in (1, 64):
        results: Dict[str, List[float]] = {"redkeeper": [], "redis-py": []}
        for _ in range(args.rounds):
            results["redkeeper"].append(run_threads(args.seconds, conc, ours, "rks"))
            results["redis-py"].append(run_threads(args.seconds, conc, theirs, "pys"))
        report("sync   ", conc, results)
    r.close()
    client.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=1.5)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    server = RedisServer()
    try:
        print(f"lock acquire+release, Redis {server.url}, {args.rounds} rounds x {args.seconds}s, median ops/s "
              f"(redis-py {redis.__version__})")
        asyncio.run(bench_async(server, args))
        bench_sync(server, args)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
