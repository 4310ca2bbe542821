"""redkeeper.fastapi SessionMiddleware through a real FastAPI app and httpx: the cookie holds only the
signed id, request.session persists across requests, logout clears it, rotation, expiry, tampering;
on memory:// and on Redis."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any, AsyncIterator, Tuple

import httpx
import pytest
from fastapi import FastAPI, Request

import redkeeper
from redkeeper.fastapi import SessionMiddleware
from redkeeper.fastapi_sessions import regenerate_session, session_id

_prefixes = itertools.count()


def make_app(client: Any, **options: Any) -> FastAPI:
    app = FastAPI()
    app.add_middleware(SessionMiddleware, client=client, secret_key="test-secret", **options)

    @app.post("/login/{user}")
    async def login(user: str, request: Request) -> dict:
        request.session["user_id"] = user
        request.session["visits"] = 0
        regenerate_session(request)
        return {"ok": True}

    @app.get("/visit")
    async def visit(request: Request) -> dict:
        if "user_id" not in request.session:
            return {"user": None}
        request.session["visits"] = request.session.get("visits", 0) + 1
        return {"user": request.session["user_id"], "visits": request.session["visits"], "sid": session_id(request)}

    @app.get("/peek")
    async def peek(request: Request) -> dict:
        return {"session": dict(request.session)}

    @app.post("/logout")
    async def logout(request: Request) -> dict:
        request.session.clear()
        return {"ok": True}

    return app


@pytest.fixture(params=["memory", "redis"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Tuple[Any, Any]]:
    prefix = f"rkfa{next(_prefixes)}"
    if request.param == "memory":
        clock = redkeeper.ManualClock()
        client = redkeeper.AsyncClient("memory://", prefix=prefix, clock=clock)
    else:
        clock = None
        client = redkeeper.AsyncClient(request.getfixturevalue("redis_server").url, prefix=prefix)
    yield client, clock
    await client.aclose()


def http(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def test_login_visit_logout(backend: Tuple[Any, Any]) -> None:
    client, _ = backend
    async with http(make_app(client)) as h:
        assert (await h.get("/visit")).json() == {"user": None}
        assert "set-cookie" not in (await h.get("/peek")).headers  # empty session: no cookie
        r = await h.post("/login/ann")
        cookie = r.cookies["session"]
        sid = cookie.split(".")[0]
        assert len(sid) == 43  # the cookie carries the id (signed), never the data
        assert "ann" not in cookie
        assert (await h.get("/visit")).json()["visits"] == 1
        r = await h.get("/visit")
        assert r.json()["visits"] == 2 and r.json()["sid"] == sid
        assert await client.sessions.get(sid) == {"user_id": "ann", "visits": 2}
        listing = await client.sessions.list_user("ann", current_id=sid)
        assert [e.current for e in listing] == [True]
        r = await h.post("/logout")
        assert 'session=null' in r.headers["set-cookie"] and "1970" in r.headers["set-cookie"]
        assert await client.sessions.get(sid) is None
        assert (await h.get("/visit")).json() == {"user": None}


async def test_login_rotates_the_id(backend: Tuple[Any, Any]) -> None:
    client, _ = backend
    async with http(make_app(client)) as h:
        await h.post("/login/bob")
        first = h.cookies["session"].split(".")[0]
        await h.post("/login/bob")  # logging in again on the same browser: new id, old one dead
        second = h.cookies["session"].split(".")[0]
        assert first != second
        assert await client.sessions.get(first) is None
        assert (await client.sessions.get(second))["user_id"] == "bob"  # type: ignore[index]
        assert len(await client.sessions.list_user("bob")) == 1


async def test_tampered_or_foreign_cookie_starts_a_new_session(backend: Tuple[Any, Any]) -> None:
    client, _ = backend
    async with http(make_app(client)) as h:
        await h.post("/login/eve")
        signed = h.cookies["session"]
        sid, rest = signed.split(".", 1)
        h.cookies.clear()
        h.cookies.set("session", sid[:-1] + ("A" if sid[-1] != "A" else "B") + "." + rest)
        assert (await h.get("/visit")).json() == {"user": None}
    # A cookie signed with another secret is not accepted either.
    other = make_app(client)
    other.user_middleware.clear()
    other.add_middleware(SessionMiddleware, client=client, secret_key="other-secret")
    async with http(other) as h2:
        h2.cookies.set("session", signed)
        assert (await h2.get("/visit")).json() == {"user": None}


async def test_session_expires_after_idle_max_age(backend: Tuple[Any, Any]) -> None:
    client, clock = backend
    # memory:// keeps its exact fake-clock values; on Redis the idle timeout is real, and the visit
    # after the login must land inside it on a busy box: x4 there. max_age (the cookie signature's
    # age limit, real time on both) stays well above the wait, so only the store's idle expiry can
    # end the session here.
    u = 1 if clock is not None else 4
    async with http(make_app(client, max_age=60, idle_timeout=0.3 * u)) as h:
        await h.post("/login/zed")
        assert (await h.get("/visit")).json()["visits"] == 1
        if clock is not None:
            clock.advance(400)
        else:
            await asyncio.sleep(0.4 * u)
        assert (await h.get("/visit")).json() == {"user": None}


async def test_destroy_user_logs_out_every_browser(backend: Tuple[Any, Any]) -> None:
    client, _ = backend
    app = make_app(client)
    async with http(app) as a, http(app) as b:
        await a.post("/login/multi")
        await b.post("/login/multi")
        assert len(await client.sessions.list_user("multi")) == 2
        assert await client.sessions.destroy_user("multi") == 2
        assert (await a.get("/visit")).json() == {"user": None}
        assert (await b.get("/visit")).json() == {"user": None}


async def test_cookie_flags(backend: Tuple[Any, Any]) -> None:
    client, _ = backend
    async with http(make_app(client, https_only=True, same_site="strict", cookie_name="sid")) as h:
        r = await h.post("/login/f")
        header = r.headers["set-cookie"]
        assert header.startswith("sid=") and "httponly" in header and "samesite=strict" in header
        assert "secure" in header and "Max-Age=1209600" in header


def test_middleware_requires_async_client_and_secret() -> None:
    with redkeeper.Client("memory://") as sync_client:
        with pytest.raises(TypeError):
            SessionMiddleware(FastAPI(), client=sync_client, secret_key="x")
    async_client = redkeeper.AsyncClient("memory://")
    with pytest.raises(ValueError):
        SessionMiddleware(FastAPI(), client=async_client, secret_key="")
