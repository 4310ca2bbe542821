"""redkeeper.fastapi against a real redis-server: several limits in one round trip, fail-open /
closed / raise on a dead Redis, the local block cache, and an event loop that never blocks."""

from __future__ import annotations

import asyncio
import re
import socket
import uuid
from typing import Any, Dict

import httpx
import pytest
from fastapi import Depends, FastAPI

import redkeeper
from redkeeper.fastapi import RateLimitMiddleware, rate_limit


def http(app: Any) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 1), raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://app")


def app_with(dep: Any) -> FastAPI:
    app = FastAPI()

    @app.get("/", dependencies=[Depends(dep)])
    async def root() -> Dict[str, bool]:
        return {"ok": True}

    return app


def scripts_run(admin: Any) -> int:
    """EVALSHA + EVAL calls the server has run so far."""
    info = admin.command("INFO", "commandstats")
    text = info.decode() if isinstance(info, bytes) else str(info)
    return sum(int(n) for n in re.findall(r"^cmdstat_eval(?:sha)?:calls=(\d+)", text, re.M))


def commands_run(admin: Any) -> int:
    """Every command the server has run so far (those run inside scripts too), INFO itself (the
    test's own probe) left out."""
    info = admin.command("INFO", "commandstats")
    text = info.decode() if isinstance(info, bytes) else str(info)
    return sum(int(n) for name, n in re.findall(r"^cmdstat_([^:]+):calls=(\d+)", text, re.M)
               if name != "info")


def dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"redis://127.0.0.1:{port}/0"  # nothing listens there once the socket is closed


@pytest.fixture
def admin(redis_server: Any) -> Any:
    return redis_server


async def test_several_limits_cost_one_script_call_per_request(redis_server: Any, admin: Any) -> None:
    async with redkeeper.AsyncClient(redis_server.url, prefix="m" + uuid.uuid4().hex[:8]) as rk:
        dep = rate_limit(rk, "2/minute", "10/hour", "100/day", name="three", algorithm="fixed_window")
        async with http(app_with(dep)) as c:
            await c.get("/")  # loads the script
            before = scripts_run(admin)
            codes = [(await c.get("/")).status_code for _ in range(3)]
            after = scripts_run(admin)
        minute, hour, day = dep.limiters
        remaining = [(await l.peek("203.0.113.7")).remaining for l in (minute, hour, day)]
    assert codes == [200, 429, 429]
    assert after - before == 3  # one script per request for all three limits
    # The second request consumed from all three; the rejected ones from none.
    assert remaining == [0, 8, 98]


@pytest.mark.parametrize("use_middleware", [False, True])
async def test_fail_open_on_a_dead_redis(use_middleware: bool) -> None:
    async with redkeeper.AsyncClient(dead_url(), command_timeout=0.2, connect_timeout=0.2) as rk:
        if use_middleware:
            app = FastAPI()
            app.add_api_route("/", lambda: {"ok": True})
            app.add_middleware(RateLimitMiddleware, client=rk, rate="1/minute", on_error="open")
        else:
            app = app_with(rate_limit(rk, "1/minute", "5/hour", name="open", on_error="open"))
        async with http(app) as c:
            answers = [await c.get("/") for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    # A degraded answer has no real numbers behind it: no rate-limit headers are invented.
    assert all("RateLimit" not in a.headers and "Retry-After" not in a.headers for a in answers)


async def test_fail_closed_answers_503_and_raise_propagates() -> None:
    async with redkeeper.AsyncClient(dead_url(), command_timeout=0.2, connect_timeout=0.2) as rk:
        closed = app_with(rate_limit(rk, "1/minute", name="closed", on_error="closed"))
        async with http(closed) as c:
            answer = await c.get("/")
        assert answer.status_code == 503
        assert answer.json()["error"] == "rate_limit_unavailable"
        assert answer.headers["Retry-After"] == "1"

        raising = app_with(rate_limit(rk, "1/minute", name="raise", on_error="raise"))
        transport = httpx.ASGITransport(app=raising)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as c:
            with pytest.raises((redkeeper.ConnectionError, redkeeper.TimeoutError)):
                await c.get("/")



async def test_event_loop_keeps_running_while_redis_is_paused(redis_server: Any, admin: Any) -> None:
    async with redkeeper.AsyncClient(redis_server.url, prefix="p" + uuid.uuid4().hex[:8],
                                     command_timeout=5.0) as rk:
        dep = rate_limit(rk, "5/minute", name="paused", on_error="raise")
        async with http(app_with(dep)) as c:
            await c.get("/")  # connected, script loaded
            ticks = 0

            async def ticker() -> None:
                nonlocal ticks
                while True:
                    await asyncio.sleep(0.01)
                    ticks += 1

            task = asyncio.create_task(ticker())
            # Timed from before the pause: a request held by the pause answers no sooner than its
            # end, however late it was sent (timing from after the admin command lost that when the
            # box stalled between the two); one never held answers in a few ms.
            started = asyncio.get_running_loop().time()
            admin.command("CLIENT", "PAUSE", "1000", "WRITE")
            answer = await c.get("/")
            elapsed = asyncio.get_running_loop().time() - started
            task.cancel()
    assert answer.status_code == 200
    assert elapsed >= 0.95  # the request really waited for Redis...
    assert ticks >= 15  # ...while the loop kept serving other work


async def test_local_block_cache_spares_redis_under_attack(redis_server: Any, admin: Any) -> None:
    async with redkeeper.AsyncClient(redis_server.url, prefix="b" + uuid.uuid4().hex[:8]) as rk:
        dep = rate_limit(rk, "2/minute", name="attacked", local_block_cache=True,
                         algorithm="fixed_window")
        async with http(app_with(dep)) as c:
            assert [(await c.get("/")).status_code for _ in range(3)] == [200, 200, 429]
            before = commands_run(admin)
            attack = [await c.get("/") for _ in range(50)]
            after = commands_run(admin)
    assert all(a.status_code == 429 for a in attack)
    assert all(int(a.headers["Retry-After"]) >= 1 for a in attack)
    assert after - before == 0  # not one command: the blocked key is answered in-process


async def test_several_limits_with_the_block_cache_stop_reaching_redis(redis_server: Any,
                                                                       admin: Any) -> None:
    async with redkeeper.AsyncClient(redis_server.url, prefix="c" + uuid.uuid4().hex[:8]) as rk:
        dep = rate_limit(rk, "2/minute", "50/hour", name="both", local_block_cache=True,
                         algorithm="fixed_window")
        async with http(app_with(dep)) as c:
            assert [(await c.get("/")).status_code for _ in range(3)] == [200, 200, 429]
            before = commands_run(admin)
            attack = [(await c.get("/")).status_code for _ in range(20)]
            after = commands_run(admin)
        minute, hour = dep.limiters
        remaining = [(await l.peek("203.0.113.7")).remaining for l in (minute, hour)]
    assert attack == [429] * 20
    assert after - before == 0
    assert remaining == [0, 48]  # the rejected requests consumed nothing from the hourly limit
