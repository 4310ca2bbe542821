"""IdempotencyMiddleware through a real FastAPI app (httpx over ASGI) on memory:// and Redis: replay
with status, headers and body; 409 for a concurrent duplicate; 422 for another payload; exceptions and
5xx release the key; scope per user; methods and header bounds."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any, AsyncIterator, Dict, List

import httpx
import pytest
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

import redkeeper
from redkeeper.fastapi import IdempotencyMiddleware as ReExported
from redkeeper.fastapi_idempotency import IdempotencyMiddleware


@pytest.fixture(params=["memory", "redis"])
async def rk(request: pytest.FixtureRequest) -> AsyncIterator[redkeeper.AsyncClient]:
    if request.param == "memory":
        c = redkeeper.AsyncClient("memory://")
    else:
        server = request.getfixturevalue("redis_server")
        c = redkeeper.AsyncClient(server.url, prefix="fa" + uuid.uuid4().hex[:10])
    yield c
    await c.aclose()


class App:
    """A small API whose handlers count their runs."""

    def __init__(self, rk: redkeeper.AsyncClient, **options: Any) -> None:
        self.runs: List[str] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail_next = 0
        app = FastAPI()
        app.add_middleware(IdempotencyMiddleware, client=rk, **options)

        @app.post("/orders")
        async def create_order(request: Request) -> Response:
            payload = await request.json()
            self.runs.append("orders")
            await self.gate.wait()
            if self.fail_next:
                self.fail_next -= 1
                raise RuntimeError("database went away")
            return JSONResponse({"id": len(self.runs), "item": payload["item"]}, status_code=201,
                                headers={"x-order": str(len(self.runs))})

        @app.post("/flaky")
        async def flaky() -> Response:
            self.runs.append("flaky")
            status = 503 if len(self.runs) == 1 else 200
            return Response(b"try again" if status == 503 else b"fine", status_code=status)

        @app.post("/bad")
        async def bad() -> Response:
            self.runs.append("bad")
            return JSONResponse({"error": "invalid card"}, status_code=402)

        @app.post("/blob")
        async def blob() -> Response:
            self.runs.append("blob")
            return Response(bytes(range(256)), media_type="application/octet-stream",
                            headers={"x-multi": "a"})

        @app.put("/orders/1")
        async def put_order() -> Dict[str, int]:
            self.runs.append("put")
            return {"n": len(self.runs)}

        self.app = app

    def client(self) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=False)
        return httpx.AsyncClient(transport=transport, base_url="http://test")


async def test_reexported_from_redkeeper_fastapi() -> None:
    assert ReExported is IdempotencyMiddleware


async def test_retry_replays_status_headers_and_body(rk: redkeeper.AsyncClient) -> None:
    api = App(rk)
    async with api.client() as http:
        first = await http.post("/orders", json={"item": "book"}, headers={"Idempotency-Key": "k1"})
        assert first.status_code == 201
        assert first.json() == {"id": 1, "item": "book"}
        assert "idempotent-replayed" not in first.headers
        retry = await http.post("/orders", json={"item": "book"}, headers={"Idempotency-Key": "k1"})
        assert retry.status_code == 201
        assert retry.content == first.content
        assert retry.headers["x-order"] == "1"
        assert retry.headers["content-type"] == first.headers["content-type"]
        assert retry.headers["idempotent-replayed"] == "true"
        assert api.runs == ["orders"]
        other = await http.post("/orders", json={"item": "book"}, headers={"Idempotency-Key": "k2"})
        assert other.json()["id"] == 2


async def test_same_key_other_payload_is_422(rk: redkeeper.AsyncClient) -> None:
    api = App(rk)
    async with api.client() as http:
        assert (await http.post("/orders", json={"item": "a"}, headers={"Idempotency-Key": "k"})).status_code == 201
        again = await http.post("/orders", json={"item": "b"}, headers={"Idempotency-Key": "k"})
        assert again.status_code == 422
        query = await http.post("/orders?x=1", json={"item": "a"}, headers={"Idempotency-Key": "k"})
        assert query.status_code == 422
        assert api.runs == ["orders"]


async def test_concurrent_duplicate_is_409_then_replays(rk: redkeeper.AsyncClient) -> None:
    api = App(rk)
    api.gate.clear()
    async with api.client() as http:
        first = asyncio.ensure_future(
            http.post("/orders", json={"item": "x"}, headers={"Idempotency-Key": "slow"}))
        # The first request is inside the handler (holding the key) before the duplicate is sent;
        # bounded, and a first request that never got there fails here rather than later.
        deadline = time.monotonic() + 5
        while not api.runs and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert api.runs == ["orders"]
        dup = await http.post("/orders", json={"item": "x"}, headers={"Idempotency-Key": "slow"})
        assert dup.status_code == 409
        assert int(dup.headers["retry-after"]) >= 1
        api.gate.set()
        assert (await first).status_code == 201
        replay = await http.post("/orders", json={"item": "x"}, headers={"Idempotency-Key": "slow"})
        assert replay.status_code == 201 and replay.headers["idempotent-replayed"] == "true"
        assert api.runs == ["orders"]


async def test_exception_releases_the_key_so_a_retry_runs(rk: redkeeper.AsyncClient) -> None:
    api = App(rk)
    api.fail_next = 1
    async with api.client() as http:
        failed = await http.post("/orders", json={"item": "y"}, headers={"Idempotency-Key": "k"})
        assert failed.status_code == 500
        ok = await http.post("/orders", json={"item": "y"}, headers={"Idempotency-Key": "k"})
        assert ok.status_code == 201 and "idempotent-replayed" not in ok.headers
        assert api.runs == ["orders", "orders"]


async def test_5xx_is_not_stored_4xx_is(rk: redkeeper.AsyncClient) -> None:
    api = App(rk)
    async with api.client() as http:
        first = await http.post("/flaky", headers={"Idempotency-Key": "f"})
        assert first.status_code == 503
        second = await http.post("/flaky", headers={"Idempotency-Key": "f"})
        assert second.status_code == 200 and second.content == b"fine"
        third = await http.post("/flaky", headers={"Idempotency-Key": "f"})
        assert third.content == b"fine" and third.headers["idempotent-replayed"] == "true"
        assert api.runs == ["flaky", "flaky"]
        declined = await http.post("/bad", headers={"Idempotency-Key": "b"})
        replayed = await http.post("/bad", headers={"Idempotency-Key": "b"})
        assert declined.status_code == replayed.status_code == 402
        assert replayed.json() == {"error": "invalid card"}
        assert api.runs.count("bad") == 1


async def test_binary_bodies_replay_byte_for_byte(rk: redkeeper.AsyncClient) -> None:
    api = App(rk)
    async with api.client() as http:
        a = await http.post("/blob", headers={"Idempotency-Key": "bin"})
        b = await http.post("/blob", headers={"Idempotency-Key": "bin"})
        assert a.content == b.content == bytes(range(256))
        assert b.headers["x-multi"] == "a"
        assert b.headers["content-length"] == "256"
        assert api.runs == ["blob"]


async def test_only_configured_methods_and_requests_with_the_header(rk: redkeeper.AsyncClient) -> None:
    api = App(rk)
    async with api.client() as http:
        await http.put("/orders/1", headers={"Idempotency-Key": "p"})
        await http.put("/orders/1", headers={"Idempotency-Key": "p"})
        await http.post("/orders", json={"item": "z"})
        await http.post("/orders", json={"item": "z"})
        assert api.runs == ["put", "put", "orders", "orders"]
    api2 = App(rk, methods=["PUT"], name="puts")
    async with api2.client() as http:
        a = await http.put("/orders/1", headers={"Idempotency-Key": "p"})
        b = await http.put("/orders/1", headers={"Idempotency-Key": "p"})
        assert a.json() == b.json() and api2.runs == ["put"]


async def test_bad_keys_are_400(rk: redkeeper.AsyncClient) -> None:
    api = App(rk)
    async with api.client() as http:
        long = await http.post("/orders", json={"item": "z"}, headers={"Idempotency-Key": "k" * 256})
        assert long.status_code == 400
        blank = await http.post("/orders", json={"item": "z"}, headers={"Idempotency-Key": "  "})
        assert blank.status_code == 400
        assert api.runs == []


async def test_scope_keeps_users_apart(rk: redkeeper.AsyncClient) -> None:
    api = App(rk, scope=lambda scope: dict(scope["headers"]).get(b"x-user", b"").decode())
    async with api.client() as http:
        a = await http.post("/orders", json={"item": "q"}, headers={"Idempotency-Key": "k", "x-user": "alice"})
        b = await http.post("/orders", json={"item": "q"}, headers={"Idempotency-Key": "k", "x-user": "bob"})
        assert a.json()["id"] == 1 and b.json()["id"] == 2
        assert api.runs == ["orders", "orders"]


async def test_options_are_checked() -> None:
    with pytest.raises(redkeeper.InvalidArgument, match="client"):
        IdempotencyMiddleware(FastAPI())
    async with redkeeper.AsyncClient("memory://") as c:
        with pytest.raises(redkeeper.InvalidArgument, match="lock_ttl"):
            IdempotencyMiddleware(FastAPI(), client=c, lock_ttl=-1)
        with pytest.raises(redkeeper.InvalidArgument, match="max_key_length"):
            IdempotencyMiddleware(FastAPI(), client=c, max_key_length=0)


async def test_no_response_releases_the_key(rk: redkeeper.AsyncClient) -> None:
    """A raw ASGI app that sends nothing the first time (the client went away): the key is free again."""
    calls: List[int] = []

    async def raw_app(scope: Any, receive: Any, send: Any) -> None:
        calls.append(1)
        if len(calls) == 1:
            return
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"second run"})

    mw = IdempotencyMiddleware(raw_app, client=rk)
    sent: List[Dict[str, Any]] = []

    async def receive() -> Dict[str, Any]:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: Dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/x", "raw_path": b"/x", "query_string": b"",
             "headers": [(b"idempotency-key", b"gone")]}
    await mw(scope, receive, send)
    assert sent == []
    await mw(scope, receive, send)
    assert sent[0]["status"] == 200 and sent[1]["body"] == b"second run"
    sent.clear()
    await mw(scope, receive, send)
    assert dict(sent[0]["headers"])[b"idempotent-replayed"] == b"true"
    assert len(calls) == 2
