"""HTTP benchmark: one small FastAPI app under uvicorn (a child process) with no limiter, with slowapi
on Redis, and with redkeeper (dependency and middleware) on the same Redis; load from a separate
process (wrk, or a small httpx load generator when wrk is missing). Prints req/s, p99 and ratios.

    python bench/fastapi_http.py [--duration 5] [--rounds 3] [--connections 32]

Every limiter gets the same huge limit, so each request pays for a limiter check and none is
rejected; the script starts its own redis-server on a free loopback port and stops it at the end.
"""

import argparse
import multiprocessing
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional, Tuple

HUGE = "1000000000/minute"
VARIANTS = ("none", "slowapi", "redkeeper", "redkeeper-mw")


# --- the app, one variant per server process --------------------------------------------------


def build_app(variant: str, redis_url: str):  # type: ignore[no-untyped-def]
    from fastapi import Depends, FastAPI, Request

    app = FastAPI()
    if variant == "none":
        @app.get("/")
        async def root() -> Dict[str, bool]:
            return {"ok": True}

    elif variant == "slowapi":
        from slowapi import Limiter, _rate_limit_exceeded_handler
        from slowapi.errors import RateLimitExceeded
        from slowapi.util import get_remote_address

        # slowapi's documented set-up; fixed-window is its default strategy.
        limiter = Limiter(key_func=get_remote_address, storage_uri=redis_url, strategy="fixed-window")
        app.state.limiter = limiter
        app.add_exception_handler(RateLimitExceeded, _rate_limit_exceeded_handler)

        @app.get("/")
        @limiter.limit(HUGE)
        async def root(request: Request) -> Dict[str, bool]:
            return {"ok": True}

    elif variant in ("redkeeper", "redkeeper-mw"):
        import redkeeper
        from redkeeper.fastapi import RateLimitMiddleware, rate_limit

        rk = redkeeper.AsyncClient(redis_url, prefix="bench")
        if variant == "redkeeper":
            dep = rate_limit(rk, HUGE, name="bench", algorithm="fixed_window")

            @app.get("/", dependencies=[Depends(dep)])
            async def root() -> Dict[str, bool]:
                return {"ok": True}
        else:
            @app.get("/")
            async def root() -> Dict[str, bool]:
                return {"ok": True}

            app.add_middleware(RateLimitMiddleware, client=rk, rate=HUGE, name="bench",
                               algorithm="fixed_window")
    else:
        raise SystemExit(f"unknown variant {variant}")
    return app


def serve(variant: str, port: int, redis_url: str) -> None:
    import uvicorn

    uvicorn.run(build_app(variant, redis_url), host="127.0.0.1", port=port, log_level="warning",
                access_log=False)


# --- processes -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                if s.recv(32).startswith(b"HTTP/1.1 200"):
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise SystemExit(f"server on port {port} did not answer 200 in {timeout}s")


class RedisServer:
    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise SystemExit("redis-server not found (apt-get install redis-server)")
        self.port = free_port()
        self.dir = tempfile.TemporaryDirectory(prefix="rk-bench-")
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.dir.name],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("redis-server did not start")
            time.sleep(0.02)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def flush(self) -> None:
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
            s.sendall(b"FLUSHALL\r\n")
            s.recv(16)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.dir.cleanup()


# --- load ------------------------------------------------------------------------------------


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def run_wrk(port: int, seconds: float, connections: int) -> Tuple[float, float, int]:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency", f"http://127.0.0.1:{port}/"],
        check=True, capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    value, unit = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*timeout (\d+)", out)
    failed = (int(bad.group(1)) if bad else 0) + (int(errors.group(1)) if errors else 0)
    return rps, float(value) * _UNITS[unit], failed


def _httpx_worker(port: int, seconds: float, connections: int, queue: "multiprocessing.Queue") -> None:
    import asyncio

    import httpx

    async def main() -> None:
        latencies: List[float] = []
        bad = 0
        end = time.perf_counter() + seconds
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits) as client:
            async def one() -> None:
                nonlocal bad
                while time.perf_counter() < end:
                    t0 = time.perf_counter()
                    answer = await client.get("/")
                    latencies.append((time.perf_counter() - t0) * 1000)
                    bad += answer.status_code != 200
            await asyncio.gather(*(one() for _ in range(connections)))
        queue.put((latencies, bad))

    asyncio.run(main())


def run_httpx(port: int, seconds: float, connections: int) -> Tuple[float, float, int]:
    queue: "multiprocessing.Queue" = multiprocessing.Queue()
    proc = multiprocessing.Process(target=_httpx_worker, args=(port, seconds, connections, queue))
    proc.start()
    latencies, bad = queue.get()
    proc.join()
    latencies.sort()
    return len(latencies) / seconds, latencies[int(len(latencies) * 0.99) - 1], bad


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process, every thread included (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(variant: str, redis: RedisServer, seconds: float, connections: int,
            load: str) -> Tuple[float, float, int, float]:
    redis.flush()
    port = free_port()
    server = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--serve", variant,
                               "--port", str(port), "--redis", redis.url])
    try:
        wait_http(port)
        runner = run_wrk if load == "wrk" else run_httpx
        runner(port, 1, connections)  # warm-up: connections, scripts, caches
        cpu0 = cpu_seconds(server.pid)
        rps, p99, bad = runner(port, seconds, connections)
        # CPU per request is far less sensitive than req/s to other load on the machine.
        cpu_us = (cpu_seconds(server.pid) - cpu0) / max(1.0, rps * seconds) * 1e6
        return rps, p99, bad, cpu_us
    finally:
        server.terminate()
        server.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--serve", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--redis", help=argparse.SUPPRESS)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds of load per run")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the median is kept")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--load", choices=("auto", "wrk", "httpx"), default="auto")
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port, args.redis)
        return
    load = args.load
    if load == "auto":
        load = "wrk" if shutil.which("wrk") else "httpx"
    redis = RedisServer()
    results: Dict[str, List[Tuple[float, float, int, float]]] = {v: [] for v in VARIANTS}
    try:
        for round_no in range(args.rounds):
            # Interleaved, so background noise on the machine hits every variant alike.
            for variant in VARIANTS:
                rps, p99, bad, cpu_us = measure(variant, redis, args.duration, args.connections, load)
                results[variant].append((rps, p99, bad, cpu_us))
                print(f"round {round_no + 1} {variant:13s} {rps:9.0f} req/s  p99 {p99:7.2f} ms"
                      f"  server CPU {cpu_us:6.0f} us/req"
                      + (f"  non-200: {bad}" if bad else ""), flush=True)
    finally:
        redis.stop()

    med: Dict[str, Tuple[float, float, float]] = {
        v: (statistics.median(r[0] for r in rs), statistics.median(r[1] for r in rs),
            statistics.median(r[3] for r in rs))
        for v, rs in results.items()}
    print(f"\nFastAPI under uvicorn (1 worker), {load} -c{args.connections}, {args.duration:g}s x "
          f"{args.rounds} rounds, median; limit {HUGE} on one key, redis-server on loopback")
    print(f"{'variant':28s} {'req/s':>9s} {'p99 ms':>8s} {'CPU us/req':>11s}")
    labels = {"none": "no limiter", "slowapi": "slowapi (Redis storage)",
              "redkeeper": "redkeeper rate_limit dep", "redkeeper-mw": "redkeeper middleware"}
    for v in VARIANTS:
        print(f"{labels[v]:28s} {med[v][0]:9.0f} {med[v][1]:8.2f} {med[v][2]:11.0f}")
    base_rps, base_p99, base_cpu = med["none"]
    peer_rps, peer_p99, peer_cpu = med["slowapi"]
    for v in ("redkeeper", "redkeeper-mw"):
        rps, p99, cpu = med[v]
        print(f"{labels[v]}: {rps / peer_rps:.2f}x slowapi req/s, p99 {p99 / peer_p99:.2f}x, "
              f"CPU/req {cpu / peer_cpu:.2f}x slowapi; over no limiter: "
              f"{100 * (1 - rps / base_rps):.1f}% fewer req/s, p99 {p99 / base_p99:.2f}x, "
              f"+{cpu - base_cpu:.0f} us CPU/req")
    if any(r[2] for rs in results.values() for r in rs):
        print("warning: some requests did not answer 200 (see the rounds above)")


if __name__ == "__main__":
    main()
