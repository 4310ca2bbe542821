"""client.lock(name): acquire/release/extend, with/async with, not-owner, waits woken without
polling, timeouts, auto-renewal, loss (lk.lost, on_lost, LockLost at exit), fencing under
contention (tasks, threads, 4 processes) and after a pause longer than the TTL, cancellation, bad
input, store down; on memory:// and on a private redis-server, sync and asyncio."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from typing import Any, Iterator, List, Tuple

import pytest

import redkeeper
from redkeeper.locks import AsyncLock, Lock
from conftest import BACKENDS, RedisServer, admin_command, backend_url


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def url(backend: str, request: pytest.FixtureRequest) -> str:
    return backend_url(request, backend)


@pytest.fixture
def client(url: str) -> Iterator[redkeeper.Client]:
    c = redkeeper.Client(url)
    yield c
    c.close()


@pytest.fixture
async def aclient(url: str) -> Any:
    c = redkeeper.AsyncClient(url)
    yield c
    await c.aclose()


def fresh() -> str:
    return "lk-" + uuid.uuid4().hex[:12]


def script_calls(servers: List[RedisServer]) -> int:
    """Scripts the servers ran so far (INFO commandstats): how many attempts waiters made. A
    cluster's lock lives on one primary, so the sum over its primaries counts the same calls."""
    total = 0
    for server in servers:
        info = admin_command(server, "INFO", "commandstats")
        text = info.decode() if isinstance(info, bytes) else str(info)
        for line in text.splitlines():
            if line.startswith(("cmdstat_evalsha:", "cmdstat_eval:")):
                total += int(line.split("calls=")[1].split(",")[0])
    return total


def test_flavours_and_with_options(client: redkeeper.Client, aclient: redkeeper.AsyncClient) -> None:
    lk = client.lock(fresh(), ttl=5)
    assert isinstance(lk, Lock)
    alk = aclient.lock(fresh())
    assert isinstance(alk, AsyncLock)
    other = lk.with_options(wait=0)
    assert isinstance(other, Lock) and other.name == lk.name and other is not lk
    assert isinstance(alk.with_options(ttl=1), AsyncLock)


def test_acquire_release_extend_sync(client: redkeeper.Client) -> None:
    name = fresh()
    lk = client.lock(name, ttl=5)
    assert lk.fencing_token is None and not lk.held and not lk.lost
    fence = lk.acquire()
    assert isinstance(fence, int) and fence == lk.fencing_token > 0
    assert isinstance(lk.owner, str) and len(lk.owner) == 32 and lk.token == lk.owner
    assert lk.held and not lk.lost
    assert 4.0 < (lk.valid_for or 0) <= 5.0
    assert lk.locked()
    lk.extend(60)
    assert (lk.valid_for or 0) > 50
    lk.extend()
    lk.release()
    assert not lk.held and not lk.locked()
    # Fences grow per name, across lock objects.
    other = client.lock(name)
    assert other.acquire() == fence + 1
    other.release()


async def test_acquire_release_extend_async(aclient: redkeeper.AsyncClient) -> None:
    name = fresh()
    lk = aclient.lock(name, ttl="5s")
    fence = await lk.acquire()
    assert fence == lk.fencing_token and lk.held
    assert await lk.locked()
    await lk.extend("1m")
    assert (lk.valid_for or 0) > 50
    await lk.release()
    assert not await lk.locked()
    assert await aclient.lock(name).acquire() == fence + 1


def test_with_block_releases_even_on_error(client: redkeeper.Client) -> None:
    name = fresh()
    with client.lock(name) as lk:
        assert lk.held
        with pytest.raises(redkeeper.LockNotAcquired):
            client.lock(name, wait=0).acquire()
    assert not lk.held
    with pytest.raises(ZeroDivisionError):
        with client.lock(name) as lk2:
            1 / 0
    assert not lk2.held and not client.lock(name).locked()
    # Released inside the block by hand: the exit does not complain.
    with client.lock(name) as lk3:
        lk3.release()


async def test_async_with_releases_even_on_error(aclient: redkeeper.AsyncClient) -> None:
    name = fresh()
    async with aclient.lock(name) as lk:
        assert lk.held
        with pytest.raises(redkeeper.LockNotAcquired):
            await aclient.lock(name, wait=0).acquire()
    assert not lk.held
    with pytest.raises(KeyError):
        async with aclient.lock(name):
            raise KeyError("x")
    assert not await aclient.lock(name).locked()


def test_release_and_extend_only_by_owner(client: redkeeper.Client) -> None:
    name = fresh()
    a = client.lock(name)
    b = client.lock(name, wait=0)
    with pytest.raises(redkeeper.LockNotOwner):
        a.release()
    with pytest.raises(redkeeper.LockNotOwner):
        a.extend(10)
    a.acquire()
    with pytest.raises(redkeeper.LockNotOwner):
        b.release()
    with pytest.raises(redkeeper.LockNotOwner):
        b.release(owner="0" * 32)
    with pytest.raises(redkeeper.LockNotOwner):
        b.extend()
    assert isinstance(redkeeper.LockNotOwner("x"), redkeeper.LockError)
    assert a.held
    # By owner token (handed over to another holder object): allowed.
    assert a.owner is not None
    b.release(owner=a.owner)
    b.acquire()
    b.release()


async def test_waiter_is_woken_by_release_without_polling(
    aclient: redkeeper.AsyncClient, backend: str, request: pytest.FixtureRequest
) -> None:
    name = fresh()
    holder = aclient.lock(name, ttl=20)
    await holder.acquire()
    servers: List[RedisServer] = []
    if backend == "redis":
        servers = [request.getfixturevalue("redis_server")]
    elif backend == "cluster":
        servers = list(request.getfixturevalue("redis_cluster").primaries())
    before = script_calls(servers) if servers else 0
    t0 = time.monotonic()
    waiter = asyncio.ensure_future(aclient.lock(name, wait=10).acquire())
    await asyncio.sleep(1.5)
    assert not waiter.done()
    if servers:
        # A poller would have run dozens of scripts; a listener: first look, the look after
        # subscribing, one more when the subscription is confirmed.
        assert script_calls(servers) - before <= 4
    released = time.monotonic()
    await holder.release()
    fence = await asyncio.wait_for(waiter, 5)
    took = time.monotonic() - t0
    assert fence == holder.fencing_token + 1
    assert took >= 1.5
    # Woken by the release, not by the 20 s lease or a poll timer: timed from the release itself,
    # so the admin round trips above (slow on a busy box) do not eat into the bound.
    assert time.monotonic() - released < 1.0


def test_wait_times_out(client: redkeeper.Client) -> None:
    name = fresh()
    holder = client.lock(name, ttl=20)
    holder.acquire()
    t0 = time.monotonic()
    with pytest.raises(redkeeper.LockNotAcquired, match="held by another owner"):
        client.lock(name, wait=0.4).acquire()
    assert 0.39 <= time.monotonic() - t0 < 1.5
    t1 = time.monotonic()
    with pytest.raises(redkeeper.LockNotAcquired):
        client.lock(name).acquire(wait=0.1)
    assert time.monotonic() - t1 < 1.0
    holder.release()


def test_sync_waiters_in_threads_all_get_it_in_turn(client: redkeeper.Client) -> None:
    name = fresh()
    order: List[int] = []
    mu = threading.Lock()

    def worker() -> None:
        with client.lock(name, wait=10) as lk:
            with mu:
                order.append(lk.fencing_token or 0)
            time.sleep(0.02)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(order) == 6 and order == sorted(order) and len(set(order)) == 6


def test_auto_renew_keeps_the_lock_past_its_ttl(client: redkeeper.Client) -> None:
    name = fresh()
    # ttl 1.2 s (renewed every 0.4 s): a renewal stalled by up to ~0.8 s is absorbed on a busy box
    # (ttl 0.3 lost the lock to a 200 ms stall). The hold spans more than two ttls, so without
    # renewal the lease would have run out and lk.lost / a second acquire would show it.
    with client.lock(name, ttl=1.2) as lk:
        time.sleep(2.5)
        assert lk.held and not lk.lost
        with pytest.raises(redkeeper.LockNotAcquired):
            client.lock(name, wait=0).acquire()
    assert not client.lock(name).locked()


def test_loss_without_renewal_is_reported(client: redkeeper.Client) -> None:
    name = fresh()
    lost_calls: List[Any] = []
    got = threading.Event()

    def on_lost(lk: Any) -> None:
        lost_calls.append(lk)
        got.set()

    with pytest.raises(redkeeper.LockLost):
        with client.lock(name, ttl=0.3, auto_renew=False, on_lost=on_lost) as lk:
            assert got.wait(3)
            assert lk.lost and not lk.held
    assert lost_calls == [lk]
    with pytest.raises(redkeeper.LockLost):
        lk.extend()
    # The object can take the lock again afterwards (a long lease this time: with 0.3 s and no
    # renewal, a stall before the check below lost it again).
    lk.acquire(ttl=20)
    assert lk.held and not lk.lost
    lk.release()


async def test_async_loss_callback_and_lock_lost_at_exit(aclient: redkeeper.AsyncClient) -> None:
    name = fresh()
    lost = asyncio.Event()

    async def on_lost(lk: Any) -> None:
        lost.set()

    with pytest.raises(redkeeper.LockLost):
        async with aclient.lock(name, ttl=0.3, auto_renew=False, on_lost=on_lost) as lk:
            await asyncio.wait_for(lost.wait(), 3)
            assert lk.lost
    assert isinstance(redkeeper.LockLost("x"), redkeeper.LockError)


def test_renewal_detects_a_takeover(client: redkeeper.Client, backend: str, request: pytest.FixtureRequest) -> None:
    name = fresh()
    got = threading.Event()
    lk = client.lock(name, ttl=0.6, on_lost=lambda _: got.set())
    lk.acquire()
    # The key vanishes (operator, flush, failover) and someone else takes the lock.
    assert lk.owner is not None
    client.lock(name).release(owner=lk.owner)
    thief = client.lock(name, wait=0)
    thief.acquire()
    assert got.wait(3)  # the next renewal (~0.2 s) finds another owner
    assert lk.lost
    with pytest.raises(redkeeper.LockLost):
        lk.release()
    assert thief.held  # the loser's late release did not free the thief's lock
    thief.release()


async def test_tasks_contending_never_overlap_and_fences_grow(aclient: redkeeper.AsyncClient) -> None:
    name = fresh()
    inside = 0
    max_inside = 0
    sections: List[Tuple[int, float, float]] = []

    async def worker() -> None:
        nonlocal inside, max_inside
        for _ in range(10):
            async with aclient.lock(name, ttl=2, wait=20) as lk:
                inside += 1
                max_inside = max(max_inside, inside)
                start = time.monotonic()
                await asyncio.sleep(0.001)
                held = lk.held
                end = time.monotonic()
                inside -= 1
                if held:
                    sections.append((lk.fencing_token or 0, start, end))

    await asyncio.gather(*(worker() for _ in range(8)))
    assert max_inside == 1
    assert len(sections) == 80
    sections.sort(key=lambda s: s[1])
    for prev, cur in zip(sections, sections[1:]):
        assert prev[2] <= cur[1]
        assert cur[0] > prev[0]


CONTENDER = r"""
import json, sys, time
import redkeeper
url, name, rounds, start_at = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
client = redkeeper.Client(url)
time.sleep(max(0.0, start_at - time.time()))
out = []
for _ in range(rounds):
    with client.lock(name, ttl=2, wait=30) as lk:
        start = time.time()
        time.sleep(0.003)
        held = lk.held
        end = time.time()
        out.append({"fence": lk.fencing_token, "start": start, "end": end, "held": held})
client.close()
print(json.dumps(out))
"""


def test_four_processes_contending_never_overlap(redis_server: RedisServer) -> None:
    name = fresh()
    start_at = time.time() + 1.5
    procs = [
        subprocess.Popen([sys.executable, "-c", CONTENDER, redis_server.url, name, "15", str(start_at)],
                         env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    sections: List[Any] = []
    for p in procs:
        out, err = p.communicate(timeout=90)
        assert p.returncode == 0, err
        sections.extend(json.loads(out))
    assert len(sections) == 60 and all(s["held"] for s in sections)
    sections.sort(key=lambda s: s["start"])
    for prev, cur in zip(sections, sections[1:]):
        assert prev["end"] <= cur["start"], (prev, cur)  # one host: one clock for every process
        assert cur["fence"] > prev["fence"]


def test_holder_paused_past_its_lease_is_fenced_off(client: redkeeper.Client) -> None:
    name = fresh()
    resource = {"fence": 0}

    def write(fence: int) -> bool:  # a fenced resource: refuses anything not newer than it has seen
        if fence <= resource["fence"]:
            return False
        resource["fence"] = fence
        return True

    a = client.lock(name, ttl=0.3, auto_renew=False)
    fa = a.acquire()
    time.sleep(0.6)  # "paused" (GC, stopped VM) past the lease
    b = client.lock(name, wait=5)
    fb = b.acquire()
    assert fb > fa and write(fb)
    assert a.lost and not a.held  # a no longer believes it holds the lock...
    assert not write(fa)  # ...and its stale fence is refused anyway
    with pytest.raises(redkeeper.LockLost):
        a.release()
    assert b.held
    b.release()


async def test_cancelled_acquire_leaves_no_lock_behind(aclient: redkeeper.AsyncClient) -> None:
    name = fresh()
    holder = aclient.lock(name, ttl=20)
    await holder.acquire()
    waiter = aclient.lock(name, wait=10)
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(waiter.acquire(), 0.2)
    await holder.release()
    await asyncio.sleep(0.2)
    assert not waiter.held
    assert not await holder.locked()


def test_bad_input_is_invalid_argument(client: redkeeper.Client) -> None:
    bad: List[Any] = [
        lambda: client.lock(""),
        lambda: client.lock(123),
        lambda: client.lock("x" * 2000),
        lambda: client.lock("x", ttl=-1),
        lambda: client.lock("x", ttl=0),
        lambda: client.lock("x", ttl=float("nan")),
        lambda: client.lock("x", ttl=True),
        lambda: client.lock("x", ttl="soon"),
        lambda: client.lock("x", wait=-1),
        lambda: client.lock("x", auto_renew="yes"),
        lambda: client.lock("x", ttl=1, renew_interval=2),
        lambda: client.lock("x", on_lost=5),
        lambda: client.lock("x").acquire(ttl=-3),
        lambda: client.lock("x").release(owner=5),
    ]
    for make in bad:
        with pytest.raises(redkeeper.InvalidArgument):
            make()
    with pytest.raises(redkeeper.InvalidArgument, match="^ttl:"):
        client.lock("x", ttl=-1)
    with pytest.raises(TypeError):
        client.lock("x", tll=3)
    lk = client.lock(fresh())
    lk.acquire()
    with pytest.raises(redkeeper.InvalidArgument):
        lk.acquire()  # one holding per lock object
    with pytest.raises(redkeeper.InvalidArgument):
        lk.extend(-1)
    lk.release()


def test_store_down_is_not_acquired() -> None:
    server = RedisServer()
    try:
        client = redkeeper.Client(server.url, command_timeout=0.3, connect_timeout=0.3)
        lk = client.lock(fresh(), wait=0)
        lk.acquire()
        lk.release()
        server.kill()
        with pytest.raises(redkeeper.LockNotAcquired, match="store unavailable"):
            lk.acquire()
        client.close()
    finally:
        server.stop()


def test_wait_none_means_no_limit_and_durations_accept_timedelta(client: redkeeper.Client) -> None:
    import datetime

    name = fresh()
    holder = client.lock(name, ttl=datetime.timedelta(seconds=20))
    holder.acquire()
    got: List[int] = []
    t = threading.Thread(target=lambda: got.append(client.lock(name, wait=None).acquire()))
    t.start()
    time.sleep(0.3)
    assert not got
    holder.release()
    t.join(5)
    assert got == [(holder.fencing_token or 0) + 1]
