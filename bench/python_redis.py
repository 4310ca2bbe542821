#!/usr/bin/env python3
"""Benchmark: redkeeper's limiter hit() on Redis against the `limits` library's Redis storages, same
algorithm, same private redis-server, one process run; plus the pipelined redis-benchmark ceiling.

    python bench/python_redis.py [--seconds 1.5] [--rounds 3] [--keys 1000] [--only fixed_window]
    python bench/python_redis.py --cluster [--seconds 1.5] [--rounds 3] [--keys 10000]

--cluster: redkeeper's limiter (async, concurrency 64, keys spread over --keys ids) on a private
3-primary Redis Cluster (redis+cluster://, no replicas) against the same on a private single
redis-server, interleaved rounds in one run; prints ops/s, latency, client and summed server CPU.

Contenders per algorithm (fixed_window <-> FixedWindowRateLimiter, sliding_window <->
SlidingWindowCounterRateLimiter):
  async, concurrency 1 and 64 (asyncio.gather): redkeeper.AsyncClient vs limits `async+redis://`
      with its default coredis implementation and with implementation="redispy" (best one counts);
  sync, sequential and 8 threads: redkeeper.Client vs limits `redis://` (redis-py).
Ceilings, on the same server: bench/redis_ceiling.sh (redis-benchmark -P 64 -c 1, EVALSHA of a minimal
fixed-window script: the issue's yardstick), and `redis-benchmark -P 64 -c N` running EVALSHA of the
very script redkeeper sends (captured from the server with MONITOR), best N of 1 and 4: the gap
between the two is the script's own cost, the gap to the latter is the client's.
Every contender runs for --seconds per round, rounds interleaved so background load hits all alike;
the median round counts. Limit huge: every hit is admitted. Also printed: client and server CPU per
op, which say where the time goes when the machine is busy.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Awaitable, Callable, Dict, List, Optional, Tuple

import limits
import limits.aio.storage
import limits.aio.strategies
import limits.storage
import limits.strategies

import redkeeper

LIMIT = 10**9  # redkeeper's maximum; no run gets near it
WINDOW_S = 3600
PAIRS = {
    "fixed_window": (limits.strategies.FixedWindowRateLimiter,
                     limits.aio.strategies.FixedWindowRateLimiter),
    "sliding_window": (limits.strategies.SlidingWindowCounterRateLimiter,
                       limits.aio.strategies.SlidingWindowCounterRateLimiter),
}
CLK_TCK = os.sysconf("SC_CLK_TCK")


# ------------------------------------------------------------------ server and raw protocol

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def resp(*args: bytes) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def command(port: int, *args: bytes) -> bytes:
    """One command on a fresh connection; returns the raw reply's first line (enough here)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(resp(*args))
        data = b""
        while not data.endswith(b"\r\n"):
            data += s.recv(65536)
        return data.split(b"\r\n", 1)[0]


class Server:
    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if not binary:
            sys.exit("redis-server not found (apt-get install redis-server)")
        self.port = free_port()
        self.dir = tempfile.TemporaryDirectory(prefix="rk-bench-")
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.dir.name],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                if command(self.port, b"PING") == b"+PONG":
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                sys.exit("redis-server did not start")
            time.sleep(0.02)

    def cpu_s(self) -> float:
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        self.dir.cleanup()


class ClusterServers:
    """A private Redis Cluster of `primaries` primaries (no replicas) made with
    `redis-cli --cluster create`; cpu_s() sums every node's CPU."""

    def __init__(self, primaries: int = 3) -> None:
        binary, cli = shutil.which("redis-server"), shutil.which("redis-cli")
        if not binary or not cli:
            sys.exit("redis-server and redis-cli are needed (apt-get install redis-server)")
        self.dir = tempfile.TemporaryDirectory(prefix="rk-bench-cluster-")
        self.ports = [free_port() for _ in range(primaries)]
        self.procs = []
        for port in self.ports:
            node_dir = os.path.join(self.dir.name, str(port))
            os.mkdir(node_dir)
            # An explicit bus port: the default (port + 10000) overflows for ephemeral ports.
            self.procs.append(subprocess.Popen(
                [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                 "--dir", node_dir, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                 "--cluster-port", str(free_port())],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        deadline = time.monotonic() + 10
        for port in self.ports:
            while True:
                try:
                    if command(port, b"PING") == b"+PONG":
                        break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    self.stop()
                    sys.exit("cluster node did not start")
                time.sleep(0.02)
        made = subprocess.run([cli, "--cluster", "create", *[f"127.0.0.1:{p}" for p in self.ports],
                               "--cluster-replicas", "0", "--cluster-yes"], capture_output=True, timeout=60)
        if made.returncode != 0:
            self.stop()
            sys.exit(f"redis-cli --cluster create failed: {made.stdout.decode()} {made.stderr.decode()}")
        while not all(b"cluster_state:ok" in self._info(p) for p in self.ports):
            if time.monotonic() > deadline + 20:
                self.stop()
                sys.exit("cluster did not reach cluster_state:ok")
            time.sleep(0.05)

    @staticmethod
    def _info(port: int) -> bytes:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(resp(b"CLUSTER", b"INFO"))
            data = b""
            while b"cluster_state" not in data or not data.endswith(b"\r\n"):
                data += s.recv(65536)
            return data

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{p}" for p in self.ports)

    def cpu_s(self) -> float:
        total = 0.0
        for proc in self.procs:
            with open(f"/proc/{proc.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / CLK_TCK
        return total

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            proc.wait(10)
        self.dir.cleanup()


def unescape_monitor(s: str) -> bytes:
    """Inverse of Redis' sdscatrepr, used for MONITOR output."""
    simple = {"n": b"\n", "r": b"\r", "t": b"\t", "a": b"\a", "b": b"\b", '"': b'"', "\\": b"\\"}
    out = bytearray()
    i = 0
    while i < len(s):
        if s[i] == "\\":
            if s[i + 1] == "x":
                out.append(int(s[i + 2:i + 4], 16))
                i += 4
            else:
                out += simple[s[i + 1]]
                i += 2
        else:
            out += s[i].encode()
            i += 1
    return bytes(out)


def capture_script(server: Server, algorithm: str) -> Tuple[bytes, List[bytes]]:
    """The exact script and EVALSHA arguments redkeeper sends for one hit: flush the script cache,
    watch with MONITOR while one hit runs (EVALSHA -> NOSCRIPT -> EVAL <source>)."""
    command(server.port, b"SCRIPT", b"FLUSH")
    mon = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    mon.sendall(resp(b"MONITOR"))
    assert mon.recv(64).startswith(b"+OK")
    with redkeeper.Client(f"redis://127.0.0.1:{server.port}/0") as client:
        client.limiter("ceiling", limit=LIMIT, window=WINDOW_S, algorithm=algorithm).hit("k")
    buf = b""
    while b'"EVAL"' not in buf or not buf.endswith(b"\n"):
        buf += mon.recv(1 << 20)
    mon.close()
    line = next(l for l in buf.decode("latin-1").splitlines() if '"EVAL"' in l)
    tokens = [unescape_monitor(t) for t in re.findall(r'"((?:[^"\\]|\\.)*)"', line)]
    source, args = tokens[1], tokens[2:]  # after "EVAL": source, numkeys, keys..., argv...
    sha = hashlib.sha1(source).hexdigest().encode()
    assert command(server.port, b"SCRIPT", b"LOAD", source) == b"$40", "SCRIPT LOAD failed"
    return sha, args


def shell_ceiling(server: Server, seconds: float) -> Optional[float]:
    """bench/redis_ceiling.sh with its defaults, or None when the script is missing."""
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "redis_ceiling.sh")
    if not os.path.exists(script):
        return None
    n = max(20000, int(40000 * seconds))
    out = subprocess.run(["bash", script, "-p", str(server.port), "-n", str(n)], capture_output=True,
                         text=True, timeout=120)
    m = re.match(r"([\d.]+) ops/s", out.stdout.strip())
    if not m:
        sys.exit(f"redis_ceiling.sh failed: {out.stdout} {out.stderr}")
    return float(m.group(1))


def ceiling(server: Server, algorithm: str, seconds: float) -> Tuple[float, int]:
    """Best ops/s of `redis-benchmark -P 64 -c N` (N in 1, 4) running redkeeper's own script."""
    sha, args = capture_script(server, algorithm)
    best = (0.0, 0)
    for clients in (1, 4):
        n = max(20000, int(40000 * seconds))
        cmd = ["redis-benchmark", "-p", str(server.port), "-c", str(clients), "-P", "64", "-n", str(n),
               "-q", "EVALSHA", sha.decode(), *[a.decode("latin-1") for a in args]]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=120).stdout
        m = re.findall(r"([\d.]+) requests per second", out.replace("\r", "\n"))
        if m and float(m[-1]) > best[0]:
            best = (float(m[-1]), clients)
    return best


# ------------------------------------------------------------------ measurement

@dataclass
class Run:
    ops: int
    seconds: float
    latencies_ns: List[int]
    client_cpu_s: float
    server_cpu_s: float

    @property
    def ops_per_s(self) -> float:
        return self.ops / self.seconds


@dataclass
class Series:
    runs: List[Run] = field(default_factory=list)

    def median(self) -> Run:
        return sorted(self.runs, key=lambda r: r.ops_per_s)[len(self.runs) // 2]


def percentile(sorted_ns: List[int], p: float) -> float:
    if not sorted_ns:
        return float("nan")
    return sorted_ns[min(len(sorted_ns) - 1, int(p * len(sorted_ns)))] / 1e6


async def run_async(hit: Callable[[str], Awaitable[object]], keys: List[str], concurrency: int,
                    seconds: float, server: Server) -> Run:
    lat: List[int] = []
    counts = [0] * concurrency
    stop_at = 0.0

    async def worker(w: int) -> None:
        i = w
        n = 0
        clock = time.perf_counter_ns
        nkeys = len(keys)
        while True:
            t0 = clock()
            await hit(keys[i % nkeys])
            lat.append(clock() - t0)
            i += concurrency
            n += 1
            if n & 15 == 0 and time.perf_counter() >= stop_at:
                break
        counts[w] = n

    for k in keys[:concurrency]:  # warm: connections, script cache
        await hit(k)
    c0, s0 = time.process_time(), server.cpu_s()
    start = time.perf_counter()
    stop_at = start + seconds
    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    elapsed = time.perf_counter() - start
    return Run(sum(counts), elapsed, sorted(lat), time.process_time() - c0, server.cpu_s() - s0)


def run_sync(hit: Callable[[str], object], keys: List[str], threads: int, seconds: float,
             server: Server) -> Run:
    lats: List[List[int]] = [[] for _ in range(threads)]
    counts = [0] * threads
    for k in keys[:threads]:
        hit(k)
    barrier = threading.Barrier(threads + 1)
    stop_at = [0.0]

    def worker(w: int) -> None:
        lat = lats[w]
        clock = time.perf_counter_ns
        i, n, nkeys = w, 0, len(keys)
        barrier.wait()
        while True:
            t0 = clock()
            hit(keys[i % nkeys])
            lat.append(clock() - t0)
            i += threads
            n += 1
            if n & 15 == 0 and time.perf_counter() >= stop_at[0]:
                break
        counts[w] = n

    pool = [threading.Thread(target=worker, args=(w,)) for w in range(threads)]
    for t in pool:
        t.start()
    c0, s0 = time.process_time(), server.cpu_s()
    start = time.perf_counter()
    stop_at[0] = start + seconds
    barrier.wait()
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - start
    lat = sorted(x for l in lats for x in l)
    return Run(sum(counts), elapsed, lat, time.process_time() - c0, server.cpu_s() - s0)


# ------------------------------------------------------------------ contenders

def make_contenders(url: str, algorithm: str, loop: asyncio.AbstractEventLoop):  # noqa: ARG001
    """(mode, name) -> a hit callable; created inside `loop` for the async ones."""
    sync_strategy, async_strategy = PAIRS[algorithm]
    item = limits.RateLimitItemPerHour(LIMIT)
    prefix = f"b{os.getpid()}{algorithm[:2]}"

    rk_async = redkeeper.AsyncClient(url, prefix=prefix + "a")
    rk_async_lim = rk_async.limiter("bench", limit=LIMIT, window=WINDOW_S, algorithm=algorithm)
    rk_sync = redkeeper.Client(url, prefix=prefix + "s")
    rk_sync_lim = rk_sync.limiter("bench", limit=LIMIT, window=WINDOW_S, algorithm=algorithm)

    limits_async: Dict[str, Callable[[str], Awaitable[object]]] = {}
    for impl in ("coredis", "redispy"):
        storage = limits.aio.storage.RedisStorage(
            "async+" + url, implementation=impl, key_prefix=f"{prefix}-{impl}")
        limits_async[impl] = (lambda s: lambda k: s.hit(item, k))(async_strategy(storage))
    sync_limiter = sync_strategy(limits.storage.RedisStorage(url, key_prefix=prefix + "-sync"))

    closers = [rk_sync.close]
    async_closers = [rk_async.aclose]
    return {
        "async": {
            "redkeeper": rk_async_lim.hit,
            "limits[coredis]": limits_async["coredis"],
            "limits[redispy]": limits_async["redispy"],
        },
        "sync": {
            "redkeeper": rk_sync_lim.hit,
            "limits[redis-py]": lambda k: sync_limiter.hit(item, k),
        },
    }, closers, async_closers


def fmt_row(name: str, run: Run, width: int = 18) -> str:
    return (f"    {name:<{width}} {run.ops_per_s:>10,.0f} ops/s   p50 {percentile(run.latencies_ns, .5):7.3f} ms"
            f"   p99 {percentile(run.latencies_ns, .99):7.3f} ms   client {run.client_cpu_s / run.ops * 1e6:6.1f}"
            f" us/op   server {run.server_cpu_s / run.ops * 1e6:5.1f} us/op")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=1.5, help="per contender per round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--keys", type=int, default=None, help="ids hit in turn (default 1000; --cluster: 10000)")
    ap.add_argument("--only", choices=sorted(PAIRS), action="append")
    ap.add_argument("--cluster", action="store_true",
                    help="our limiter on a 3-primary cluster vs a single node (async c=64)")
    opts = ap.parse_args()
    if opts.cluster:
        cluster_main(opts)
        return
    keys = [f"user-{i}" for i in range(opts.keys or 1000)]
    algorithms = opts.only or ["fixed_window", "sliding_window"]

    server = Server()
    url = f"redis://127.0.0.1:{server.port}/0"
    print(f"python {sys.version.split()[0]}, limits {limits.__version__}, redkeeper {redkeeper.__version__},"
          f" {os.cpu_count()} cpus, load avg {os.getloadavg()[0]:.1f}; redis-server on port {server.port};"
          f" {opts.rounds} interleaved rounds x {opts.seconds}s, median shown")
    summary: List[str] = []
    ok = True
    try:
        for algorithm in algorithms:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            contenders, closers, async_closers = loop.run_until_complete(
                _make_in_loop(url, algorithm))
            scenarios = [("async", 1, "async c=1"), ("async", 64, "async c=64 (gather)"),
                         ("sync", 1, "sync sequential"), ("sync", 8, "sync 8 threads")]
            series: Dict[Tuple[str, str], Series] = {}
            ceil_runs: List[Tuple[float, int]] = []
            shell_runs: List[float] = []
            for _ in range(opts.rounds):
                for mode, conc, label in scenarios:
                    for name, hit in contenders[mode].items():
                        if mode == "async":
                            run = loop.run_until_complete(run_async(hit, keys, conc, opts.seconds, server))
                        else:
                            run = run_sync(hit, keys, conc, opts.seconds, server)
                        series.setdefault((label, name), Series()).runs.append(run)
                ceil_runs.append(ceiling(server, algorithm, opts.seconds))
                shell = shell_ceiling(server, opts.seconds)
                if shell is not None:
                    shell_runs.append(shell)
            same_ops, same_clients = sorted(ceil_runs)[len(ceil_runs) // 2]
            # The yardstick: redis_ceiling.sh when present (helper scripts may be missing in a checkout).
            ceil_ops = statistics.median(shell_runs) if shell_runs else same_ops
            print(f"\n{algorithm}")
            if shell_runs:
                print(f"  ceiling: bench/redis_ceiling.sh (minimal fixed-window script, -P 64 -c 1): "
                      f"{ceil_ops:,.0f} ops/s")
            print(f"  ceiling: redis-benchmark -P 64 -c {same_clients} EVALSHA of redkeeper's own "
                  f"{algorithm} script: {same_ops:,.0f} ops/s")
            for _, _, label in scenarios:
                print(f"  {label}")
                rows = {name: s.median() for (lab, name), s in series.items() if lab == label}
                for name, run in rows.items():
                    print(fmt_row(name, run))
                ours = rows["redkeeper"].ops_per_s
                peer_name, peer = max(((n, r) for n, r in rows.items() if n != "redkeeper"),
                                      key=lambda x: x[1].ops_per_s)
                line = (f"    -> redkeeper / best limits ({peer_name}) = {ours / peer.ops_per_s:.1f}x;"
                        f" redkeeper / ceiling = {ours / ceil_ops:.0%}"
                        f" (/ same-script ceiling = {ours / same_ops:.0%})")
                print(line)
                if label == "async c=64 (gather)":
                    target_ok = ours >= 5 * peer.ops_per_s and ours >= 0.7 * ceil_ops
                    ok = ok and target_ok
                    summary.append(f"{algorithm}: async c=64 {ours:,.0f} ops/s = "
                                   f"{ours / peer.ops_per_s:.1f}x limits ({peer_name}), "
                                   f"{ours / ceil_ops:.0%} of ceiling {ceil_ops:,.0f} "
                                   f"[{'met' if target_ok else 'MISSED'}: >=5x and >=70%]")
            for close in closers:
                close()
            loop.run_until_complete(asyncio.gather(*(c() for c in async_closers)))
            loop.close()
    finally:
        server.stop()
    print("\nsummary")
    for line in summary:
        print("  " + line)
    sys.exit(0 if ok else 1)


def cluster_main(opts: argparse.Namespace) -> None:
    """--cluster: redkeeper's limiter on a 3-primary cluster vs one redis-server, same run."""
    keys = [f"user-{i}" for i in range(opts.keys or 10000)]
    algorithms = opts.only or ["fixed_window", "sliding_window"]
    single, cluster = Server(), ClusterServers()
    stores = {"single node": (f"redis://127.0.0.1:{single.port}/0", single), "cluster (3 primaries)":
              (cluster.url, cluster)}
    print(f"python {sys.version.split()[0]}, redkeeper {redkeeper.__version__}, {os.cpu_count()} cpus,"
          f" load avg {os.getloadavg()[0]:.1f}; redis-server on port {single.port}, cluster {cluster.url};"
          f" async c=64 over {len(keys)} ids; {opts.rounds} interleaved rounds x {opts.seconds}s, median shown")
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        for algorithm in algorithms:
            clients = {name: redkeeper.AsyncClient(url, prefix=f"bc{os.getpid()}{algorithm[:2]}")
                       for name, (url, _) in stores.items()}
            series: Dict[str, Series] = {}
            for _ in range(opts.rounds):
                for name, (_, server) in stores.items():
                    lim = clients[name].limiter("bench", limit=LIMIT, window=WINDOW_S, algorithm=algorithm)
                    run = loop.run_until_complete(run_async(lim.hit, keys, 64, opts.seconds, server))
                    series.setdefault(name, Series()).runs.append(run)
            print(f"\n{algorithm}  (server CPU: summed over the cluster's nodes)")
            rows = {name: s.median() for name, s in series.items()}
            for name, run in rows.items():
                print(fmt_row(name, run, 21))
            stats = clients["cluster (3 primaries)"].stats()
            single_ops = rows["single node"].ops_per_s
            cluster_ops = rows["cluster (3 primaries)"].ops_per_s
            print(f"    -> cluster / single node = {cluster_ops / single_ops:.2f}x; cluster client: "
                  f"nodes={stats['nodes']} redirects={stats['redirects']} errors={stats['errors']}")
            for c in clients.values():
                loop.run_until_complete(c.aclose())
    finally:
        loop.close()
        single.stop()
        cluster.stop()


async def _make_in_loop(url: str, algorithm: str):
    # Async storages bind to the running loop when created.
    return make_contenders(url, algorithm, asyncio.get_running_loop())


if __name__ == "__main__":
    main()
