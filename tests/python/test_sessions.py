"""client.sessions from Python on memory:// (ManualClock) and Redis (short real TTLs): every op,
idle/absolute expiry, the per-user index under concurrency, bad input, the sync twin."""

from __future__ import annotations

import asyncio
import datetime
import itertools
import re
import time
from typing import Any, AsyncIterator, Callable, Iterator

import pytest

import redkeeper
from redkeeper.sessions import AsyncSessions, SessionInfo, SessionListing, Sessions

from conftest import BACKENDS, admin_command, backend_url

_prefixes = itertools.count()


class Env:
    """One backend: an AsyncClient plus a way to let time pass (fake clock or real sleep)."""

    def __init__(self, kind: str, client: Any, clock: Any) -> None:
        self.kind = kind
        self.client = client
        self.clock = clock
        # The time unit of the expiry tests: exact on memory:// (ManualClock); x3 on Redis, where
        # TTLs are real and each "still alive" check's slack (timeout less the time advanced, 100-150
        # ms at x1) must also absorb round trips and a busy box's stalls. "Expired" checks advance
        # past the deadline, so a late wake-up never breaks them.
        self.u = 1 if clock is not None else 3

    async def advance(self, seconds: float) -> None:
        if self.clock is not None:
            self.clock.advance(int(seconds * 1000))
        else:
            await asyncio.sleep(seconds)


@pytest.fixture(params=BACKENDS)
async def env(request: pytest.FixtureRequest) -> AsyncIterator[Env]:
    prefix = f"rkpy{next(_prefixes)}"
    if request.param == "memory":
        clock = redkeeper.ManualClock()
        client = redkeeper.AsyncClient("memory://", prefix=prefix, clock=clock)
    else:
        clock = None
        client = redkeeper.AsyncClient(backend_url(request, request.param), prefix=prefix)
    yield Env(request.param, client, clock)
    await client.aclose()


ID_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")


async def test_create_get_update_destroy(env: Env) -> None:
    s = env.client.sessions
    assert isinstance(s, AsyncSessions)
    sid = await s.create({"cart": [1, 2], "name": "ann", "n": 1.5, "ok": True}, user_id=7, device={"ua": "x"})
    assert ID_RE.match(sid)
    assert await s.get(sid) == {"cart": [1, 2], "name": "ann", "n": 1.5, "ok": True}
    assert await s.update(sid, {"cart": [3], "name": None, "new": {"a": 1}})
    assert await s.get(sid) == {"cart": [3], "n": 1.5, "ok": True, "new": {"a": 1}}
    data, info = await s.get(sid, with_meta=True)
    assert data["cart"] == [3]
    assert isinstance(info, SessionInfo)
    assert info.user_id == "7" and info.device == {"ua": "x"}
    assert info.created <= info.last_seen < info.expires
    assert len(info.handle) == 43
    assert await s.count() == 1
    assert await s.destroy(sid)
    assert not await s.destroy(sid)
    assert await s.get(sid) is None
    assert await s.info(sid) is None
    assert not await s.update(sid, {"a": 1})
    assert await s.count() == 0


async def test_ids_are_unique_and_random(env: Env) -> None:
    s = env.client.sessions
    ids = {await s.create() for _ in range(100)}
    assert len(ids) == 100
    assert all(ID_RE.match(i) for i in ids)


async def test_idle_timeout_slides_and_expires(env: Env) -> None:
    u = env.u
    s = env.client.sessions.with_options(idle_timeout=0.4 * u)
    sid = await s.create({"k": 1})
    await env.advance(0.25 * u)
    assert await s.get(sid) == {"k": 1}
    await env.advance(0.25 * u)
    assert await s.touch(sid)  # past the first idle deadline: the get slid it
    await env.advance(0.25 * u)
    assert await s.get(sid, touch=False) == {"k": 1}  # past the get's: the touch slid it
    await env.advance(0.25 * u)  # 0.5 u since the last slide
    assert await s.get(sid) is None
    assert not await s.touch(sid)


async def test_absolute_timeout_caps_sliding(env: Env) -> None:
    u = env.u
    s = env.client.sessions.with_options(idle_timeout=0.4 * u, absolute_timeout=0.7 * u)
    sid = await s.create({"k": 1}, user_id="abs")
    info = await s.info(sid)
    assert info is not None and info.absolute_deadline is not None
    for _ in range(2):
        await env.advance(0.3 * u)
        assert await s.touch(sid)
    info2 = await s.info(sid)
    assert info2 is not None and info2.expires == info.absolute_deadline  # 0.6 + 0.4 capped at 0.7 (x u)
    await env.advance(0.15 * u)
    assert await s.get(sid) is None
    assert await s.list_user("abs") == []


async def test_per_session_ttl_and_touch_ttl(env: Env) -> None:
    s = env.client.sessions
    short = await s.create({}, ttl=0.2)
    longer = await s.create({}, ttl=datetime.timedelta(minutes=1))
    await env.advance(0.3)
    assert await s.get(short) is None
    assert await s.get(longer) == {}
    assert await s.touch(longer, ttl=0.2)
    await env.advance(0.3)
    assert await s.get(longer) is None


async def test_list_user_destroy_user_and_handles(env: Env) -> None:
    s = env.client.sessions
    a = await s.create({}, user_id="u1", device="phone")
    b = await s.create({}, user_id="u1", device="laptop")
    c = await s.create({}, user_id="u1")
    other = await s.create({}, user_id="u2")
    listing = await s.list_user("u1", current_id=b)
    assert len(listing) == 3 and all(isinstance(e, SessionListing) for e in listing)
    assert {e.device for e in listing} == {"phone", "laptop", None}
    assert [e.current for e in listing].count(True) == 1
    current = next(e for e in listing if e.current)
    assert current.device == "laptop"
    phone = next(e for e in listing if e.device == "phone")
    assert not await s.destroy_handle("u2", phone.handle)  # not that user's session
    assert await s.destroy_handle("u1", phone.handle)
    assert await s.get(a) is None
    assert await s.destroy_user("u1", except_id=b) == 1
    assert await s.get(c) is None
    assert await s.get(b) == {}
    assert await s.get(other) == {}
    assert [e.current for e in await s.list_user("u1", current_id=b)] == [True]
    assert await s.destroy_user("u1") == 1
    assert await s.list_user("u1") == []
    assert await s.count() == 1


async def test_int_and_str_user_ids_are_the_same_user(env: Env) -> None:
    s = env.client.sessions
    await s.create({}, user_id=42)
    await s.create({}, user_id="42")
    assert len(await s.list_user(42)) == 2
    assert await s.destroy_user("42") == 2


async def test_rotate(env: Env) -> None:
    s = env.client.sessions
    old = await s.create({"cart": [9]}, user_id="r", device="tab")
    new = await s.rotate(old)
    assert new is not None and new != old and ID_RE.match(new)
    assert await s.get(old) is None
    assert await s.get(new) == {"cart": [9]}
    listing = await s.list_user("r", current_id=new)
    assert [(e.device, e.current) for e in listing] == [("tab", True)]
    assert await s.rotate(old) is None


async def test_set_with_external_id(env: Env) -> None:
    s = env.client.sessions
    assert await s.set("external-sid", {"a": 1, "b": 2}, ttl=60)
    created = (await s.info("external-sid")).created  # type: ignore[union-attr]
    await env.advance(0.02)
    assert await s.set("external-sid", {"a": 3}, ttl=30)
    data, info = await s.get("external-sid", with_meta=True)  # type: ignore[misc]
    assert data == {"a": 3}
    assert info.created == created and info.idle_timeout == 30


async def test_namespaces_do_not_share_sessions(env: Env) -> None:
    a = env.client.sessions.with_options(name="a")
    b = env.client.sessions.with_options(name="b")
    sid = await a.create({"k": 1})
    assert await b.get(sid) is None
    assert (await a.count(), await b.count()) == (1, 0)


async def test_parallel_create_and_destroy_user_leave_no_orphans(env: Env) -> None:
    s = env.client.sessions

    async def worker(w: int) -> None:
        for i in range(30):
            user = f"cu{i % 3}"
            if w % 3 == 2:
                await s.destroy_user(user)
            else:
                await s.create({"i": i}, user_id=user)

    await asyncio.gather(*(worker(w) for w in range(9)))
    listed = sum([len(await s.list_user(f"cu{u}")) for u in range(3)])
    assert await s.count() == listed
    destroyed = sum([await s.destroy_user(f"cu{u}") for u in range(3)])
    assert destroyed == listed
    assert await s.count() == 0


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.create("not a dict"),
        lambda s: s.create([1, 2]),
        lambda s: s.create({}, ttl=-1),
        lambda s: s.create({}, ttl="soon"),
        lambda s: s.create({}, user_id=""),
        lambda s: s.create({}, user_id=True),
        lambda s: s.create({}, user_id=1.5),
        lambda s: s.get(12),
        lambda s: s.get(""),
        lambda s: s.get("x" * 5000),
        lambda s: s.get(None),
        lambda s: s.update("x", "patch"),
        lambda s: s.destroy_user(None),
        lambda s: s.list_user(["u"]),
        lambda s: s.create({"k": float("nan")}),
    ],
)
async def test_bad_input_is_invalid_argument(env: Env, call: Callable[[Any], Any]) -> None:
    with pytest.raises(redkeeper.InvalidArgument):
        await call(env.client.sessions)


async def test_bad_options_are_invalid_argument(env: Env) -> None:
    with pytest.raises(redkeeper.InvalidArgument):
        env.client.sessions.with_options(idle_timeout=0)
    with pytest.raises(redkeeper.InvalidArgument):
        env.client.sessions.with_options(name="a{b}")
    with pytest.raises(TypeError):
        env.client.sessions.with_options(bogus=1)


def test_sync_twin_on_memory() -> None:
    clock = redkeeper.ManualClock()
    with redkeeper.Client("memory://", clock=clock) as client:
        s = client.sessions
        assert isinstance(s, Sessions)
        sid = s.create({"a": 1}, user_id="sync")
        assert s.get(sid) == {"a": 1}
        assert s.update(sid, {"b": 2})
        assert [e.current for e in s.list_user("sync", current_id=sid)] == [True]
        new = s.rotate(sid)
        assert new is not None and s.get(sid) is None
        clock.advance(25 * 3600 * 1000)  # past the default one-day idle timeout
        assert s.get(new) is None
        assert s.count() == 0


def test_sync_twin_on_redis(redis_server: Any) -> None:
    with redkeeper.Client(redis_server.url, prefix="rksync") as client:
        s = client.sessions
        # A TTL with room for the two round trips that must see the session on a busy box (0.3 s
        # was too little); the sleep then runs past it, counted from after the create.
        sid = s.create({"a": 1}, user_id="sync", ttl=1.0)
        assert s.get(sid, touch=False) == {"a": 1}
        assert s.destroy_user("sync", except_id=sid) == 0
        time.sleep(1.1)
        assert s.get(sid) is None


def test_redis_holds_no_raw_ids(redis_server: Any) -> None:
    with redkeeper.Client(redis_server.url, prefix="rkraw") as client:
        sid = client.sessions.create({"k": 1}, user_id="u")
        keys = [k.decode() if isinstance(k, bytes) else k for k in admin_command(redis_server, "KEYS", "rkraw:*")]
        assert len(keys) == 3
        assert not any(sid in k for k in keys)
        session_key = next(k for k in keys if ":s:" in k)
        fields = admin_command(redis_server, "HGETALL", session_key)
        assert not any(sid in (f.decode() if isinstance(f, bytes) else f) for f in fields)
