"""examples/fastapi_app.py: each preset (login, password reset, API, uploads, search) admits its
documented number of requests, then answers 429 with the JSON body and headers."""

from __future__ import annotations

import functools
import importlib.util
import pathlib
from typing import Any

import pytest
from fastapi.testclient import TestClient

import redkeeper

ROOT = pathlib.Path(__file__).resolve().parents[2]


def load_example(monkeypatch: pytest.MonkeyPatch) -> Any:
    # A manual clock: windows must not roll over while the test counts admissions.
    clock = redkeeper.ManualClock()
    monkeypatch.setattr(redkeeper, "AsyncClient", functools.partial(redkeeper.AsyncClient, clock=clock))
    spec = importlib.util.spec_from_file_location("fastapi_app_presets", ROOT / "examples" / "fastapi_app.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def admitted(client: TestClient, method: str, path: str, tries: int, **kwargs: Any) -> int:
    codes = [client.request(method, path, **kwargs).status_code for _ in range(tries)]
    ok = codes.count(200)
    assert codes == [200] * ok + [429] * (tries - ok), codes
    return ok


def test_presets(monkeypatch: pytest.MonkeyPatch) -> None:
    module = load_example(monkeypatch)
    with TestClient(module.app) as client:
        assert admitted(client, "POST", "/login", 7) == 5
        assert admitted(client, "POST", "/password-reset", 5) == 3
        # API: 100 per 15 minutes shared by every route of the router.
        assert admitted(client, "GET", "/items", 60) == 60
        assert admitted(client, "GET", "/items/7", 45) == 40
        # Uploads: 20 per minute per user; another user still has its own 20.
        assert admitted(client, "POST", "/uploads", 22, headers={"x-user": "ann"}) == 20
        assert admitted(client, "POST", "/uploads", 3, headers={"x-user": "bob"}) == 3
        assert admitted(client, "GET", "/search?q=a", 31) == 30
        rejected = client.post("/login")
        body = rejected.json()
        assert body["error"] == "rate_limited" and body["retry_after"] == int(rejected.headers["Retry-After"])
        assert rejected.headers["X-RateLimit-Limit"] == "5"
        assert client.get("/items").headers["RateLimit-Policy"] == "100;w=900"
    assert module.rk.closed
