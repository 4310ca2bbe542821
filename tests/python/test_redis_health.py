"""ping(), health() and stats() on Redis from Client and AsyncClient: latency measured, connection
state reported (also when the server goes away), ops and in-flight counted exactly."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

import redkeeper
from conftest import RedisServer

STAT_KEYS = {"ops", "errors", "timeouts", "reconnects", "in_flight", "keys", "redirects",
             "topology_refreshes", "nodes"}


def test_sync_ping_health_and_exact_stats(redis_server) -> None:
    with redkeeper.Client(redis_server.url, prefix="h" + uuid.uuid4().hex[:8]) as client:
        latency = client.ping()
        assert isinstance(latency, float) and 0 <= latency < 1000
        health = client.health()
        assert (health.backend, health.connected) == ("redis", True)
        assert isinstance(health.latency_ms, float) and health.latency_ms >= 0
        before = client.stats()
        assert set(before) == STAT_KEYS
        limiter = client.limiter("h", limit=3, window=60)
        results = [limiter.hit("k") for _ in range(5)]
        assert [r.allowed for r in results] == [True, True, True, False, False]
        client.ping()
        after = client.stats()
        # Every hit and ping is one op (rejected hits included); the handshake is not counted.
        assert after["ops"] - before["ops"] == 6, (before, after)
        assert (after["errors"], after["timeouts"], after["in_flight"]) == (0, 0, 0), after
        assert after["reconnects"] == 0 and after["keys"] == 0


async def test_async_ping_health_and_in_flight_while_the_server_is_paused(redis_server) -> None:
    async with redkeeper.AsyncClient(redis_server.url, prefix="h" + uuid.uuid4().hex[:8],
                                     command_timeout=3.0) as client:
        assert 0 <= await client.ping() < 1000
        health = await client.health()
        assert (health.backend, health.connected) == ("redis", True)
        limiter = client.limiter("h", limit=1000, window=60, algorithm="token_bucket")
        before = client.stats()
        # While the server is paused no reply can come back: all 100 hits are in flight at once.
        # A long pause (under command_timeout), ended by CLIENT UNPAUSE once counted: a 300 ms
        # pause could end before a stalled box read the stats 50 ms later. WRITE holds every hit
        # (a limiter script writes) and, unlike ALL, lets the UNPAUSE itself through.
        assert redis_server.command("CLIENT", "PAUSE", "2000", "WRITE") == "OK"
        try:
            tasks = [asyncio.ensure_future(limiter.hit(f"k{i % 7}")) for i in range(100)]
            await asyncio.sleep(0.05)
            during = client.stats()
        finally:
            assert redis_server.command("CLIENT", "UNPAUSE") == "OK"
        assert during["in_flight"] == 100, during
        assert during["ops"] - before["ops"] == 100
        results = await asyncio.wait_for(asyncio.gather(*tasks), 5)
        assert all(r.allowed and not r.degraded for r in results)
        after = client.stats()
        assert after["in_flight"] == 0 and after["ops"] - before["ops"] == 100, after
        assert (after["errors"], after["timeouts"]) == (before["errors"], before["timeouts"])


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_health_reports_a_lost_server_and_recovery(kind: str) -> None:
    server = RedisServer()
    try:
        if kind == "sync":
            client = redkeeper.Client(server.url, command_timeout=0.5, connect_timeout=0.5)
            ping = client.ping
            health = client.health
        else:
            client = redkeeper.AsyncClient(server.url, command_timeout=0.5, connect_timeout=0.5)
            loop = asyncio.new_event_loop()
            ping = lambda: loop.run_until_complete(asyncio.wait_for(client.ping(), 5))  # noqa: E731
            health = lambda: loop.run_until_complete(client.health())  # noqa: E731
        try:
            ping()
            assert health().connected
            server.kill()
            with pytest.raises((redkeeper.ConnectionError, redkeeper.TimeoutError)):
                ping()
            assert (health().backend, health().connected) == ("redis", False)
            server.start()  # same port
            deadline = time.monotonic() + 10
            while True:
                try:
                    ping()
                    break
                except (redkeeper.ConnectionError, redkeeper.TimeoutError):
                    assert time.monotonic() < deadline, "no reconnect within 10 s"
                    time.sleep(0.05)
            assert health().connected
            stats = client.stats()
            assert stats["reconnects"] >= 1 and stats["errors"] + stats["timeouts"] >= 1, stats
        finally:
            if kind == "sync":
                client.close()
            else:
                loop.run_until_complete(client.aclose())
                loop.close()
    finally:
        server.stop()
