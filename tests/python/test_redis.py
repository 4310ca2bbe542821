"""Against a real redis-server (started by the redis_server fixture): the I/O-thread path end to
end — async ops settle through the loop bridge, sync ops wait with the GIL released."""

from __future__ import annotations

import asyncio

import pytest

import redkeeper


def test_sync_ping_and_health(redis_server) -> None:
    with redkeeper.Client(redis_server.url) as client:
        latency = client.ping()
        assert isinstance(latency, float) and latency >= 0
        health = client.health()
        assert (health.backend, health.connected) == ("redis", True)
        assert client.stats()["ops"] >= 1
    assert client.closed
    with pytest.raises(redkeeper.ClientClosed):
        client.ping()


async def test_async_ping_through_the_bridge(redis_server) -> None:
    async with redkeeper.AsyncClient(redis_server.url) as client:
        latencies = await asyncio.gather(*(client.ping() for _ in range(200)))
        assert all(isinstance(v, float) and v >= 0 for v in latencies)
        health = await client.health()
        assert (health.backend, health.connected) == ("redis", True)
    with pytest.raises(redkeeper.ClientClosed):
        await client.ping()


async def test_cancelled_ping_does_not_break_the_client(redis_server) -> None:
    async with redkeeper.AsyncClient(redis_server.url) as client:
        tasks = [asyncio.ensure_future(client.ping()) for _ in range(50)]
        await asyncio.sleep(0)
        for task in tasks[::2]:
            task.cancel()
        done = await asyncio.gather(*tasks, return_exceptions=True)
        assert any(isinstance(r, asyncio.CancelledError) for r in done)
        assert all(isinstance(r, (float, asyncio.CancelledError)) for r in done)
        assert isinstance(await client.ping(), float)


async def test_unreachable_server_fails_with_typed_error() -> None:
    # Nothing listens on port 1: the op must settle with a connection or timeout error in time.
    async with redkeeper.AsyncClient("redis://127.0.0.1:1/0", command_timeout=0.3,
                                     connect_timeout=0.2) as client:
        with pytest.raises((redkeeper.ConnectionError, redkeeper.TimeoutError)):
            await asyncio.wait_for(client.ping(), 5)


def test_sync_unreachable_server_fails_with_typed_error() -> None:
    with redkeeper.Client("redis://127.0.0.1:1/0", command_timeout=0.3,
                          connect_timeout=0.2) as client:
        with pytest.raises((redkeeper.ConnectionError, redkeeper.TimeoutError)):
            client.ping()


def test_bad_redis_urls() -> None:
    for url in ("redis://host:notaport", "redis://h:6379/abc", "unix://"):
        with pytest.raises(redkeeper.InvalidArgument) as info:
            redkeeper.Client(url)
        assert "url" in str(info.value)
