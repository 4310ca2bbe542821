#!/usr/bin/env python3
"""Benchmark: the get_or_set HIT path of redkeeper's cache against cashews (Redis backend), same
private redis-server, one process run.

    python bench/python_cache.py [--seconds 1.5] [--rounds 3] [--keys 1000]

Both caches hold the same 1000 small JSON-able dicts; every call is a hit (the loader never runs).
Contenders, asyncio, concurrency 1 (one task in a loop) and 64 (64 tasks in loops):
  redkeeper.AsyncClient(...).cache("bench").get_or_set(key, loader)   (one EVALSHA per call)
  cashews Cache().setup(redis://...).get_or_set(key, loader)         (one GET per call, redis-py)
Rounds interleave the contenders so background load hits all alike; the median round counts.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from typing import Any, Awaitable, Callable, Dict, List, Tuple

from cashews import Cache as CashewsCache

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


def value_for(i: int) -> Dict[str, Any]:
    return {"id": i, "name": f"user-{i}", "roles": ["reader", "writer"], "score": i * 1.5}


CLK_TCK = os.sysconf("SC_CLK_TCK")


def server_cpu_s(pid: int) -> float:
    """CPU seconds redis-server has used (Linux /proc): steadier than ops/s on a busy machine."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


async def run_for(
    seconds: float, concurrency: int, op: Callable[[str], Awaitable[Any]], keys: List[str], server_pid: int
) -> Tuple[float, float, float]:
    """(ops/s, client CPU us/op, server CPU us/op) of `concurrency` tasks each calling op in a loop
    for `seconds`. Client CPU is this whole process (redkeeper's I/O thread included)."""
    stop_at = time.perf_counter() + seconds
    counts = [0] * concurrency

    async def worker(w: int) -> None:
        n = 0
        i = w
        nkeys = len(keys)
        while True:
            await op(keys[i % nkeys])
            n += 1
            i += 7
            if n % 32 == 0 and time.perf_counter() >= stop_at:
                break
        counts[w] = n

    t0 = time.perf_counter()
    c0 = time.process_time()
    s0 = server_cpu_s(server_pid)
    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    ops = sum(counts)
    return (
        ops / (time.perf_counter() - t0),
        (time.process_time() - c0) * 1e6 / ops,
        (server_cpu_s(server_pid) - s0) * 1e6 / ops,
    )


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=1.5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--keys", type=int, default=1000)
    args = ap.parse_args()

    server = RedisServer()
    try:
        keys = [f"k{i}" for i in range(args.keys)]
        rk = redkeeper.AsyncClient(server.url)
        ours = rk.cache("bench", ttl=3600)
        theirs = CashewsCache()
        # A connection per concurrent task (cashews' default pool of 10 runs dry at 64 and then
        # answers misses), so the comparison is the libraries, not a pool size.
        theirs.setup(server.url, max_connections=128)
        for i, k in enumerate(keys):
            await ours.set(k, value_for(i))
            await theirs.set(f"cashews:{k}", value_for(i), expire=3600)

        # Every key is a hit; a loader run means the library missed (cashews answers a miss when
        # redis-py fails, e.g. its pool is exhausted): counted and printed, never silent.
        loader_runs = {"redkeeper": 0, "cashews": 0}

        def loader_for(who: str, k: str) -> Callable[[], Any]:
            def loader() -> Any:
                loader_runs[who] += 1
                return value_for(int(k[1:]))
            return loader

        async def ours_op(k: str) -> Any:
            return await ours.get_or_set(k, loader_for("redkeeper", k))

        async def theirs_op(k: str) -> Any:
            return await theirs.get_or_set(f"cashews:{k}", loader_for("cashews", k), expire=3600)

        # Both answer the same values.
        assert await ours_op("k3") == value_for(3)
        assert await theirs_op("k3") == value_for(3)

        print(f"get_or_set hit path, Redis {server.url}, {args.rounds} rounds x {args.seconds}s, median ops/s")
        for conc in (1, 64):
            results: Dict[str, List[Tuple[float, float, float]]] = {"redkeeper": [], "cashews": []}
            pid = server.proc.pid
            for _ in range(args.rounds):
                results["redkeeper"].append(await run_for(args.seconds, conc, ours_op, keys, pid))
                results["cashews"].append(await run_for(args.seconds, conc, theirs_op, keys, pid))
            med = {k: [statistics.median(x[i] for x in v) for i in range(3)] for k, v in results.items()}
            a, b = med["redkeeper"], med["cashews"]
            print(f"  concurrency {conc:>2}: redkeeper {a[0]:>9.0f}  cashews {b[0]:>9.0f}  ratio {a[0] / b[0]:5.2f}x"
                  f"   client CPU us/op {a[1]:.1f} vs {b[1]:.1f} ({b[1] / a[1]:.2f}x less)"
                  f"   server CPU us/op {a[2]:.1f} vs {b[2]:.1f}")
        print(f"  loader runs (misses on keys that are all cached): {loader_runs}")
        s = await ours.stats()
        print(f"  redkeeper stats: hits={s.hits} misses={s.misses} (every call a hit)")
        await theirs.close()
        await rk.aclose()
    finally:
        server.stop()


if __name__ == "__main__":
    asyncio.run(main(), debug=False)
