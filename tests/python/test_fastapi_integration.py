"""redkeeper.fastapi driving real FastAPI/Starlette apps over httpx on memory:// and on Redis: the
dependency, the decorator and the middleware, 429 bodies, header drafts, several limits per route."""

from __future__ import annotations

import re
import subprocess
import sys
import uuid
from typing import Any, AsyncIterator, Dict, Optional, Tuple

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.routing import Route

import redkeeper
from redkeeper import fastapi as rkf
from redkeeper.fastapi import Limit, RateLimitMiddleware, by_ip, by_user

START_MS = 1700000000000
# Real-clock tests count admissions over a few hundred ms; sliding windows are aligned to the epoch
# and may admit one more right after a boundary, a fixed window starts at the first hit: pinned.
FIXED = {"algorithm": "fixed_window"}


def rate_limit(*args: Any, **kwargs: Any) -> rkf.RateLimit:
    return rkf.rate_limit(*args, **{**FIXED, **kwargs})


def limit(*args: Any, **kwargs: Any) -> Any:
    return rkf.limit(*args, **{**FIXED, **kwargs})


@pytest.fixture(params=["memory", "redis"])
async def rk(request: pytest.FixtureRequest) -> AsyncIterator[redkeeper.AsyncClient]:
    # A fresh prefix per test keeps Redis state of one test away from the next.
    prefix = "t" + uuid.uuid4().hex[:12]
    if request.param == "memory":
        client = redkeeper.AsyncClient("memory://", prefix=prefix)
    else:
        client = redkeeper.AsyncClient(request.getfixturevalue("redis_server").url, prefix=prefix)
    try:
        yield client
    finally:
        await client.aclose()


def http(app: Any, peer: Tuple[str, int] = ("203.0.113.7", 40000)) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=peer), base_url="http://app")


def assert_rejected(response: httpx.Response, detail: Optional[str] = None) -> int:
    assert response.status_code == 429
    body = response.json()
    assert set(body) == {"error", "detail", "retry_after"}
    assert body["error"] == "rate_limited"
    if detail is not None:
        assert body["detail"] == detail
    assert isinstance(body["retry_after"], int) and body["retry_after"] >= 1
    assert response.headers["Retry-After"] == str(body["retry_after"])
    return body["retry_after"]


# --- dependency ------------------------------------------------------------------------------


async def test_dependency_limits_and_answers_429_with_json_body(rk: redkeeper.AsyncClient) -> None:
    login = rate_limit(rk, "3/minute", name="login", algorithm="fixed_window")
    app = FastAPI()

    @app.post("/login", dependencies=[Depends(login)])
    async def do_login() -> Dict[str, bool]:
        return {"ok": True}

    async with http(app) as c:
        answers = [await c.post("/login") for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a.json() for a in answers[:3]] == [{"ok": True}] * 3
    assert [a.headers["RateLimit"].split(", reset=")[0] for a in answers] == [
        "limit=3, remaining=2", "limit=3, remaining=1", "limit=3, remaining=0", "limit=3, remaining=0"]
    assert all(a.headers["RateLimit-Policy"] == "3;w=60" for a in answers)
    assert "Retry-After" not in answers[0].headers
    retry = assert_rejected(answers[3], "Too many requests, please try again later.")
    assert 1 <= retry <= 60


async def test_dependency_in_signature_returns_result_and_sets_request_state(
        rk: redkeeper.AsyncClient) -> None:
    api = rate_limit(rk, "5/minute", name="api")
    app = FastAPI()

    @app.get("/items")
    async def items(request: Request,
                    result: Optional[redkeeper.RateLimitResult] = Depends(api)) -> Dict[str, int]:
        assert result is request.state.rate_limit
        return {"remaining": result.remaining, "limit": result.limit}

    async with http(app) as c:
        assert (await c.get("/items")).json() == {"remaining": 4, "limit": 5}
        assert (await c.get("/items")).json() == {"remaining": 3, "limit": 5}


async def test_router_level_dependency_shares_one_limit_across_routes(
        rk: redkeeper.AsyncClient) -> None:
    api = rate_limit(rk, "3/minute", name="api")
    router = APIRouter(dependencies=[Depends(api)])

    @router.get("/a")
    async def a() -> str:
        return "a"

    @router.get("/b")
    async def b() -> str:
        return "b"

    app = FastAPI()
    app.include_router(router)
    async with http(app) as c:
        codes = [(await c.get(p)).status_code for p in ("/a", "/b", "/a", "/b")]
    assert codes == [200, 200, 200, 429]


async def test_each_ip_has_its_own_bucket(rk: redkeeper.AsyncClient) -> None:
    dep = rate_limit(rk, "1/minute", name="per-ip")
    app = FastAPI(dependencies=[Depends(dep)])

    @app.get("/")
    async def root() -> str:
        return "ok"

    async with http(app, ("198.51.100.1", 1)) as one, http(app, ("198.51.100.2", 1)) as two:
        assert (await one.get("/")).status_code == 200
        assert (await two.get("/")).status_code == 200
        assert (await one.get("/")).status_code == 429


async def test_cost_function_and_custom_message_and_status(rk: redkeeper.AsyncClient) -> None:
    def upload_cost(request: Request) -> int:
        return int(request.query_params.get("files", "1"))

    uploads = rate_limit(rk, "5/minute", name="uploads", cost=upload_cost,
                         message="Slow down", status_code=429)
    app = FastAPI()

    @app.post("/upload", dependencies=[Depends(uploads)])
    async def upload() -> str:
        return "stored"

    async with http(app) as c:
        first = await c.post("/upload?files=4")
        assert first.status_code == 200 and first.headers["RateLimit"].startswith("limit=5, remaining=1")
        # 2 more would exceed: rejected, and nothing consumed, so 1 still fits.
        assert_rejected(await c.post("/upload?files=2"), "Slow down")
        assert (await c.post("/upload?files=1")).status_code == 200


async def test_app_handler_for_rate_limit_exceeded_wins(rk: redkeeper.AsyncClient) -> None:
    app = FastAPI()

    @app.exception_handler(rkf.RateLimitExceeded)
    async def mine(request: Request, exc: rkf.RateLimitExceeded) -> PlainTextResponse:
        return PlainTextResponse(f"wait {exc.retry_after}s", status_code=429, headers=exc.headers)

    dep = rate_limit(rk, "1/minute", name="custom")

    @app.get("/", dependencies=[Depends(dep)])
    async def root() -> str:
        return "ok"

    async with http(app) as c:
        await c.get("/")
        rejected = await c.get("/")
    assert rejected.status_code == 429
    assert rejected.text == f"wait {rejected.headers['Retry-After']}s"


# --- headers ---------------------------------------------------------------------------------


def _header_app(client: redkeeper.AsyncClient, **options: Any) -> FastAPI:
    dep = rate_limit(client, "2/minute", name="api", algorithm="fixed_window", **options)
    app = FastAPI()

    @app.get("/", dependencies=[Depends(dep)])
    async def root() -> str:
        return "ok"

    return app


RL_NAMES = {"ratelimit", "ratelimit-policy", "ratelimit-limit", "ratelimit-remaining",
            "ratelimit-reset", "x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset",
            "retry-after"}


def _rl_headers(response: httpx.Response) -> Dict[str, str]:
    return {k: v for k, v in response.headers.items() if k in RL_NAMES}


# With a manual clock at START_MS, a fixed 60 s window opened by the first hit resets in 60 s; the
# expected fields are those each draft defines (draft-6: three RateLimit-* fields; draft-7: one
# RateLimit field "limit=, remaining=, reset="; draft-8: a named policy with r= and t=; legacy:
# X-RateLimit-* with the reset as an epoch second).
EXACT = {
    "draft-6": [
        {"ratelimit-limit": "2", "ratelimit-remaining": "1", "ratelimit-reset": "60",
         "ratelimit-policy": "2;w=60"},
        {"ratelimit-limit": "2", "ratelimit-remaining": "0", "ratelimit-reset": "50",
         "ratelimit-policy": "2;w=60"},
        {"ratelimit-limit": "2", "ratelimit-remaining": "0", "ratelimit-reset": "40",
         "ratelimit-policy": "2;w=60", "retry-after": "40"},
    ],
    "draft-7": [
        {"ratelimit": "limit=2, remaining=1, reset=60", "ratelimit-policy": "2;w=60"},
        {"ratelimit": "limit=2, remaining=0, reset=50", "ratelimit-policy": "2;w=60"},
        {"ratelimit": "limit=2, remaining=0, reset=40", "ratelimit-policy": "2;w=60",
         "retry-after": "40"},
    ],
    "draft-8": [
        {"ratelimit": '"api"; r=1; t=60', "ratelimit-policy": '"api"; q=2; w=60'},
        {"ratelimit": '"api"; r=0; t=50', "ratelimit-policy": '"api"; q=2; w=60'},
        {"ratelimit": '"api"; r=0; t=40', "ratelimit-policy": '"api"; q=2; w=60',
         "retry-after": "40"},
    ],
    None: [{}, {}, {"retry-after": "40"}],
}


@pytest.mark.parametrize("draft", ["draft-6", "draft-7", "draft-8", None])
@pytest.mark.parametrize("legacy", [False, True])
async def test_headers_of_each_draft_exactly(draft: Optional[str], legacy: bool) -> None:
    clock = redkeeper.ManualClock(START_MS)
    async with redkeeper.AsyncClient("memory://", clock=clock) as client:
        app = _header_app(client, headers=draft, legacy_headers=legacy)
        seen = []
        async with http(app) as c:
            for _ in range(3):
                seen.append(_rl_headers(await c.get("/")))
                clock.advance(10_000)
    expected = [dict(e) for e in EXACT[draft]]
    if legacy:
        for e, remaining in zip(expected, ("1", "0", "0")):
            e.update({"x-ratelimit-limit": "2", "x-ratelimit-remaining": remaining,
                      "x-ratelimit-reset": str(START_MS // 1000 + 60)})
    assert seen == expected


@pytest.mark.parametrize("draft", ["draft-6", "draft-7", "draft-8"])
async def test_headers_of_each_draft_on_redis(redis_server: Any, draft: str) -> None:
    async with redkeeper.AsyncClient(redis_server.url, prefix="h" + uuid.uuid4().hex[:8]) as client:
        app = _header_app(client, headers=draft, legacy_headers=True)
        async with http(app) as c:
            answers = [await c.get("/") for _ in range(3)]
    got = [_rl_headers(a) for a in answers]
    reset = r"(60|59)"
    patterns = {
        "draft-6": {"ratelimit-limit": "2", "ratelimit-remaining": "{rem}", "ratelimit-reset": reset,
                    "ratelimit-policy": "2;w=60"},
        "draft-7": {"ratelimit": "limit=2, remaining={rem}, reset=" + reset, "ratelimit-policy": "2;w=60"},
        "draft-8": {"ratelimit": '"api"; r={rem}; t=' + reset, "ratelimit-policy": '"api"; q=2; w=60'},
    }[draft]
    for answer, headers, rem in zip(answers, got, ("1", "0", "0")):
        wanted = {k: v.replace("{rem}", rem) for k, v in patterns.items()}
        wanted.update({"x-ratelimit-limit": "2", "x-ratelimit-remaining": rem,
                       "x-ratelimit-reset": r"\d{10}"})
        if answer.status_code == 429:
            wanted["retry-after"] = reset
        assert set(headers) == set(wanted)
        for name, pattern in wanted.items():
            assert re.fullmatch(pattern, headers[name]), (name, headers[name])
    assert [a.status_code for a in answers] == [200, 200, 429]


# --- several limits --------------------------------------------------------------------------


async def test_several_rates_rejected_request_consumes_from_none(rk: redkeeper.AsyncClient) -> None:
    dep = rate_limit(rk, "2/minute", "3/day", name="multi", headers="draft-8")
    app = FastAPI()

    @app.get("/", dependencies=[Depends(dep)])
    async def root() -> str:
        return "ok"

    async with http(app) as c:
        answers = [await c.get("/") for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 429, 429]
    # Draft 8 lists both policies, in order.
    assert re.fullmatch(r'"multi\.2-60s"; r=1; t=\d+, "multi\.3-86400s"; r=2; t=\d+',
                        answers[0].headers["RateLimit"])
    assert answers[0].headers["RateLimit-Policy"] == (
        '"multi.2-60s"; q=2; w=60, "multi.3-86400s"; q=3; w=86400')
    assert_rejected(answers[2])
    minute, day = dep.limiters
    # Two rejected requests consumed nothing from the daily limit.
    assert (await day.peek("203.0.113.7")).remaining == 1
    assert (await minute.peek("203.0.113.7")).remaining == 0


async def test_limits_with_different_keys_on_one_route(rk: redkeeper.AsyncClient) -> None:
    def user(request: Request) -> Optional[str]:
        return request.headers.get("x-user")

    dep = rate_limit(rk, Limit("2/minute"), Limit("3/minute", key=by_user(user)), name="mixed")
    app = FastAPI()

    @app.get("/", dependencies=[Depends(dep)])
    async def root() -> str:
        return "ok"

    alice = {"x-user": "alice"}
    async with http(app, ("192.0.2.1", 1)) as ip1, http(app, ("192.0.2.2", 1)) as ip2:
        assert (await ip1.get("/", headers=alice)).status_code == 200
        assert (await ip1.get("/", headers=alice)).status_code == 200
        # ip1 is out (2/minute per IP); the rejection must not spend alice's per-user allowance.
        assert_rejected(await ip1.get("/", headers=alice))
        assert (await ip2.get("/", headers=alice)).status_code == 200
        assert_rejected(await ip2.get("/", headers=alice))  # alice is out (3/minute per user)
        # Anonymous: only the per-IP limit applies.
        assert (await ip2.get("/")).status_code == 200
    per_ip, per_user = dep.limiters
    assert (await per_user.peek("user:alice")).remaining == 0
    assert (await per_ip.peek("192.0.2.2")).remaining == 0


# --- decorator -------------------------------------------------------------------------------


async def test_decorator_without_request_parameter(rk: redkeeper.AsyncClient) -> None:
    app = FastAPI()

    @app.get("/search")
    @limit("2/minute", client=rk, name="search")
    async def search(q: str = "") -> Dict[str, str]:
        return {"q": q}

    async with http(app) as c:
        first = await c.get("/search?q=x")
        second = await c.get("/search?q=y")
        third = await c.get("/search?q=z")
    assert first.json() == {"q": "x"} and second.json() == {"q": "y"}
    assert first.headers["RateLimit"].startswith("limit=2, remaining=1")
    assert_rejected(third)
    # The injected parameters are not part of the public API schema.
    params = app.openapi()["paths"]["/search"]["get"]["parameters"]
    assert [p["name"] for p in params] == ["q"]


async def test_decorator_with_request_sync_handler_and_returned_response(
        rk: redkeeper.AsyncClient) -> None:
    app = FastAPI()

    @app.get("/sync")
    @limit("1/minute", client=rk, name="sync")
    def sync_handler(request: Request) -> Dict[str, str]:
        return {"path": request.url.path}

    @app.get("/raw")
    @limit("1/minute", client=rk, name="raw", headers="draft-6")
    async def raw(request: Request) -> Response:
        return JSONResponse({"raw": True})

    async with http(app) as c:
        assert (await c.get("/sync")).json() == {"path": "/sync"}
        assert_rejected(await c.get("/sync"))
        first = await c.get("/raw")
        assert first.json() == {"raw": True} and first.headers["RateLimit-Remaining"] == "0"
        assert_rejected(await c.get("/raw"))


async def test_decorator_on_a_starlette_endpoint_with_configured_default_client(
        rk: redkeeper.AsyncClient) -> None:
    rkf.configure(rk)
    try:
        @limit("1/minute", name="star")
        async def endpoint(request: Request) -> PlainTextResponse:
            return PlainTextResponse("hi")
    finally:
        rkf.configure(None)
    app = Starlette(routes=[Route("/", endpoint)])
    async with http(app) as c:
        first = await c.get("/")
        assert first.text == "hi" and first.headers["RateLimit-Policy"] == "1;w=60"
        assert_rejected(await c.get("/"))


async def test_rate_limit_uses_configured_default_client(rk: redkeeper.AsyncClient) -> None:
    rkf.configure(rk)
    try:
        dep = rate_limit("1/minute", name="default-client")
    finally:
        rkf.configure(None)
    assert dep.client is rk


# --- middleware ------------------------------------------------------------------------------


def _middleware_app(client: redkeeper.AsyncClient, **options: Any) -> FastAPI:
    app = FastAPI()
    for path in ("/login", "/api/items", "/api", "/apix", "/health", "/other", "/uploads/a"):
        app.add_api_route(path, lambda: {"ok": True}, methods=["GET", "POST"])
    app.add_middleware(RateLimitMiddleware, client=client, **{**FIXED, **options})
    return app


async def test_middleware_rules_exact_prefix_method_and_exempt(rk: redkeeper.AsyncClient) -> None:
    app = _middleware_app(rk, rate="3/minute", rules={
        "POST /login": "1/minute",      # method + exact
        "/api/*": "2/minute",           # prefix: /api and /api/...
        "/health": None,                # exempt
    })
    async with http(app) as c:
        login = [(await c.post("/login")).status_code for _ in range(2)]
        assert login == [200, 429]
        # GET /login is not the POST rule: the default rate applies, counted apart from POST.
        assert (await c.get("/login")).headers["RateLimit-Policy"] == "3;w=60"
        api = [await c.get(p) for p in ("/api/items", "/api", "/api/items")]
        assert [a.status_code for a in api] == [200, 200, 429]
        assert api[0].headers["RateLimit-Policy"] == "2;w=60"
        assert_rejected(api[2])
        # "/apix" is not under "/api/": default rate; the default's own counter.
        assert (await c.get("/apix")).headers["RateLimit-Policy"] == "3;w=60"
        health = [await c.get("/health") for _ in range(10)]
        assert all(h.status_code == 200 and "RateLimit" not in h.headers for h in health)
        other = [(await c.get("/other")).status_code for _ in range(2)]
        # GET /login and /apix took 2 of the default 3.
        assert other == [200, 429]


async def test_middleware_longer_prefix_wins_and_rule_values(rk: redkeeper.AsyncClient) -> None:
    uploads = rate_limit(rk, "1/minute", name="uploads", headers="draft-8")
    app = _middleware_app(rk, rules={
        "/*": "100/minute",
        "/uploads/*": uploads,
        "/api/*": ["5/minute", Limit("10/hour")],
    })
    mw = RateLimitMiddleware(app, client=rk, **FIXED, rules={"/*": "9/minute", "/uploads/*": uploads})
    assert mw.policy_for("GET", "/uploads/a") is uploads
    assert mw.policy_for("GET", "/x").limiters[0].limit == 9
    async with http(app) as c:
        up = await c.post("/uploads/a")
        assert up.headers["RateLimit"].startswith('"uploads"; r=0;')
        assert_rejected(await c.post("/uploads/a"))
        api = await c.get("/api/items")
        assert api.headers["RateLimit-Policy"] == "5;w=60"
        assert (await c.get("/other")).headers["RateLimit-Policy"] == "100;w=60"


async def test_middleware_on_plain_starlette_passes_websocket_and_lifespan(
        rk: redkeeper.AsyncClient) -> None:
    from starlette.routing import WebSocketRoute
    from starlette.websockets import WebSocket

    async def home(request: Request) -> PlainTextResponse:
        return PlainTextResponse("home")

    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("hello")
        await websocket.close()

    app = Starlette(routes=[Route("/", home), WebSocketRoute("/ws", ws)])
    app.add_middleware(RateLimitMiddleware, client=rk, rate="1/minute", **FIXED)
    with TestClient(app) as c:
        assert c.get("/").text == "home"
        assert c.get("/").status_code == 429
        for _ in range(3):
            with c.websocket_connect("/ws") as socket:
                assert socket.receive_text() == "hello"


# --- configuration errors at start-up --------------------------------------------------------


def test_bad_configuration_is_rejected_when_built() -> None:
    rk = redkeeper.AsyncClient("memory://")
    cases = [
        (lambda: rate_limit(rk, "5/minute", headers="draft-9"), "headers"),
        (lambda: rate_limit(rk, limit=5, window=-1), "window"),
        (lambda: rate_limit(rk, "5/-1minute"), "rate"),
        (lambda: rate_limit("5/minute"), "client"),
        (lambda: rate_limit(None, "5/minute"), "client"),
        (lambda: rate_limit(redkeeper.Client("memory://"), "5/minute"), "AsyncClient"),
        (lambda: rate_limit(rk, "5/minute", on_error="maybe"), "on_error"),
        (lambda: rate_limit(rk, "5/minute", cost=6), "cost"),
        (lambda: rate_limit(rk, "5/minute", cost=0), "cost"),
        (lambda: rate_limit(rk), "rate"),
        (lambda: rate_limit(rk, "5/minute", key="ip"), "key"),
        (lambda: limit("5/minute"), "client"),
        (lambda: limit("5/minute", client=rk, headers="draft7"), "headers"),
        (lambda: by_ip(trusted="*"), "trusted"),
        (lambda: by_ip(trusted=["not-an-ip"]), "trusted"),
    ]
    for build, word in cases:
        with pytest.raises(redkeeper.InvalidArgument, match=word):
            build()


def test_bad_middleware_configuration_fails_at_startup() -> None:
    rk = redkeeper.AsyncClient("memory://")
    for options, word in [({"client": rk, "rate": "5/minute", "headers": "draft-5"}, "headers"),
                          ({"rate": "5/minute"}, "client"),
                          ({"client": rk, "rate": "5/minute", "rules": {"login": "1/minute"}}, "rules"),
                          ({"client": rk, "rules": {"/x": "1/minute", "/y": {"rate": 1}}}, "rules"),
                          ({"client": rk}, "rate")]:
        app = FastAPI()
        app.add_middleware(RateLimitMiddleware, **options)
        with pytest.raises(redkeeper.InvalidArgument, match=word):
            with TestClient(app):
                pass


def test_importing_redkeeper_does_not_import_starlette() -> None:
    code = "import sys, redkeeper; assert 'starlette' not in sys.modules and 'fastapi' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
