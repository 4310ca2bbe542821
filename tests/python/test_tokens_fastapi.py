"""redkeeper.fastapi.require_valid_token through a real FastAPI app (httpx ASGI transport) on
memory:// and Redis: 401 JSON for missing / malformed / invalid / revoked tokens, claims otherwise."""

from __future__ import annotations

import itertools
import time
from typing import Any, AsyncIterator, Dict

import httpx
import pytest
from fastapi import Depends, FastAPI, Request

import redkeeper
from redkeeper.fastapi import require_valid_token

from test_tokens import SECRET, make_jwt

_prefixes = itertools.count()


@pytest.fixture(params=["memory", "redis"])
async def rk(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    prefix = f"rkfa{next(_prefixes)}"
    if request.param == "memory":
        client = redkeeper.AsyncClient("memory://", prefix=prefix)
    else:
        client = redkeeper.AsyncClient(request.getfixturevalue("redis_server").url, prefix=prefix)
    yield client
    await client.aclose()


def make_app(rk: Any, **kwargs: Any) -> FastAPI:
    app = FastAPI()
    valid = require_valid_token(rk.tokens.with_options(verify_key=SECRET), **kwargs)

    @app.get("/me")
    async def me(request: Request, claims: Dict[str, Any] = Depends(valid)) -> Dict[str, Any]:
        assert request.state.token_claims is claims
        return {"sub": claims["sub"]}

    @app.post("/logout")
    async def logout(request: Request, claims: Dict[str, Any] = Depends(valid)) -> Dict[str, Any]:
        await rk.tokens.revoke(request.headers["authorization"].split(" ", 1)[1])
        return {"ok": True}

    return app


async def test_dependency_flow(rk: Any) -> None:
    app = make_app(rk)
    now = int(time.time())
    token = make_jwt({"sub": "ann", "jti": "fa1", "iat": now, "exp": now + 60})
    auth = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        r = await http.get("/me", headers=auth)
        assert r.status_code == 200 and r.json() == {"sub": "ann"}
        r = await http.get("/me")
        assert r.status_code == 401
        assert r.json()["detail"]["error"] == "token_missing"
        assert r.headers["www-authenticate"] == "Bearer"
        r = await http.get("/me", headers={"Authorization": "Bearer not.a.jwt!"})
        assert r.json()["detail"]["error"] == "token_malformed"
        r = await http.get("/me", headers={"Authorization": "Bearer " + make_jwt({"sub": "ann"}, secret="other")})
        assert r.json()["detail"]["error"] == "token_invalid"
        assert (await http.post("/logout", headers=auth)).status_code == 200
        r = await http.get("/me", headers=auth)
        assert r.status_code == 401
        assert r.json()["detail"] == {"error": "token_revoked", "message": "token: revoked"}
        # revoke_user cuts every older token of the user.
        other = make_jwt({"sub": "bob", "jti": "fa2", "iat": now - 10, "exp": now + 60})
        assert (await http.get("/me", headers={"Authorization": f"Bearer {other}"})).status_code == 200
        await rk.tokens.revoke_user("bob", reason="suspended")
        r = await http.get("/me", headers={"Authorization": f"Bearer {other}"})
        assert r.json()["detail"]["error"] == "token_revoked"


async def test_custom_getter(rk: Any) -> None:
    async def from_cookie(request: Request) -> Any:
        return request.cookies.get("jwt")

    app = make_app(rk, get_token=from_cookie)
    token = make_jwt({"sub": "cat", "exp": int(time.time()) + 60})
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        assert (await http.get("/me", headers={"Authorization": f"Bearer {token}"})).status_code == 401
        http.cookies.set("jwt", token)
        assert (await http.get("/me")).json() == {"sub": "cat"}
