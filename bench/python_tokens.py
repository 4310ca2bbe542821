#!/usr/bin/env python3
"""Benchmark: redkeeper's async tokens.is_revoked against the straightforward redis-py asyncio
implementation apps write (decode the JWT payload, EXISTS the denylist key, GET the user's
revoke-all instant: two awaits), on one private redis-server, in one process run.

    python bench/python_tokens.py [--seconds 2] [--rounds 3] [--tokens 1000]

Concurrency 1 (one coroutine in a loop) and 64 (asyncio.gather of 64 loops). Both sides answer the
same question for the same tokens (a tenth of them denylisted, one user revoked) and agree on every
answer (checked before timing). Rounds are interleaved so background load hits both alike; the
median round counts. Prints ops/s and the ratio (ours / redis-py).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Awaitable, Callable, Dict, List

import redis.asyncio as aioredis

import redkeeper

SECRET = b"bench-secret"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_jwt(claims: Dict[str, object]) -> str:
    signing_input = b64(b'{"alg":"HS256","typ":"JWT"}') + "." + b64(json.dumps(claims).encode())
    return signing_input + "." + b64(hmac.new(SECRET, signing_input.encode(), hashlib.sha256).digest())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_redis(directory: str) -> "tuple[subprocess.Popen[bytes], int]":
    port = free_port()
    proc = subprocess.Popen(
        [shutil.which("redis-server") or "/usr/bin/redis-server", "--port", str(port), "--bind", "127.0.0.1",
         "--save", "", "--appendonly", "no", "--dir", directory],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port
        except OSError:
            time.sleep(0.02)
    proc.kill()
    raise RuntimeError("redis-server did not start")


class RedisPyDenylist:
    """What an app writes with redis-py: decode, then EXISTS + GET (fail closed on errors)."""

    def __init__(self, r: "aioredis.Redis[bytes]") -> None:
        self.r = r

    async def revoke(self, token: str) -> None:
        claims = self._claims(token)
        ttl = max(1, int(claims["exp"] - time.time()))
        await self.r.set(f"bl:{claims['jti']}", 1, ex=ttl)

    async def revoke_user(self, sub: str) -> None:
        await self.r.set(f"revoked_before:{sub}", int(time.time() * 1000))

    @staticmethod
    def _claims(token: str) -> Dict[str, object]:
        parts = token.split(".")
        if len(parts) != 3:
            raise ValueError("malformed")
        payload = parts[1] + "=" * (-len(parts[1]) % 4)
        return json.loads(base64.urlsafe_b64decode(payload))  # type: ignore[no-any-return]

    async def is_revoked(self, token: str) -> bool:
        claims = self._claims(token)
        try:
            if await self.r.exists(f"bl:{claims['jti']}"):
                return True
            before = await self.r.get(f"revoked_before:{claims['sub']}")
        except Exception:  # noqa: BLE001 - fail closed, as ours does
            return True
        return before is not None and float(claims["iat"]) * 1000 < int(before)


async def measure(fn: Callable[[str], Awaitable[bool]], tokens: List[str], concurrency: int, seconds: float) -> float:
    stop = time.perf_counter() + seconds
    count = 0

    async def worker(offset: int) -> None:
        nonlocal count
        i = offset
        n = len(tokens)
        while time.perf_counter() < stop:
            for _ in range(50):
                await fn(tokens[i % n])
                i += 1
            count += 50

    start = time.perf_counter()
    await asyncio.gather(*(worker(k * 7919) for k in range(concurrency)))
    return count / (time.perf_counter() - start)


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--tokens", type=int, default=1000)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as d:
        proc, port = start_redis(d)
        try:
            url = f"redis://127.0.0.1:{port}"
            rk = redkeeper.AsyncClient(url, prefix="bench")
            r = aioredis.Redis.from_url(url)
            peer = RedisPyDenylist(r)
            now = int(time.time())
            tokens = [make_jwt({"sub": f"user{i % 100}", "jti": f"jti-{i}", "iat": now - 60, "exp": now + 3600})
                      for i in range(args.tokens)]
            for t in tokens[::10]:
                await rk.tokens.revoke(t)
                await peer.revoke(t)
            await rk.tokens.revoke_user("user7")
            await peer.revoke_user("user7")
            ours = [await rk.tokens.is_revoked(t) for t in tokens]
            theirs = [await peer.is_revoked(t) for t in tokens]
            assert ours == theirs, "the two implementations disagree"
            print(f"{sum(ours)} of {len(tokens)} tokens revoked on both sides; "
                  f"python {sys.version.split()[0]}, {os.cpu_count()} cpus")
            for concurrency in (1, 64):
                results: Dict[str, List[float]] = {"redkeeper": [], "redis-py": []}
                for _ in range(args.rounds):
                    results["redkeeper"].append(await measure(rk.tokens.is_revoked, tokens, concurrency, args.seconds))
                    results["redis-py"].append(await measure(peer.is_revoked, tokens, concurrency, args.seconds))
                a = statistics.median(results["redkeeper"])
                b = statistics.median(results["redis-py"])
                print(f"concurrency {concurrency:>2}: redkeeper is_revoked {a:>9.0f} ops/s   "
                      f"redis-py EXISTS+GET {b:>9.0f} ops/s   ratio {a / b:.2f}x")
            await r.aclose()
            await rk.aclose()
        finally:
            proc.terminate()
            proc.wait()


if __name__ == "__main__":
    asyncio.run(main())
