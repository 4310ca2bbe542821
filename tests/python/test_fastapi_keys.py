"""Key helpers of redkeeper.fastapi in real apps: by_ip (peer only unless proxies are trusted, IPv6
grouped to /56), by_user, by_route and combine."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

import httpx
import pytest
from fastapi import Depends, FastAPI, Request

import redkeeper
from redkeeper.fastapi import by_ip, by_route, by_user, combine


def echo_app(key: Any) -> FastAPI:
    """Answers with the key the helper computes for the request."""
    app = FastAPI()

    async def compute(request: Request) -> Any:
        value = key(request)
        if hasattr(value, "__await__"):
            value = await value
        return value

    @app.get("/items/{item_id}")
    async def item(item_id: int, value: Any = Depends(compute)) -> Dict[str, Any]:
        return {"key": value}

    return app


async def key_for(key: Any, peer: Tuple[str, int], headers: Optional[Dict[str, str]] = None,
                  path: str = "/items/1") -> Any:
    transport = httpx.ASGITransport(app=echo_app(key), client=peer)
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as c:
        return (await c.get(path, headers=headers or {})).json()["key"]


async def test_by_ip_ignores_forwarded_for_without_trusted_proxies() -> None:
    spoof = {"X-Forwarded-For": "1.2.3.4"}
    assert await key_for(by_ip, ("203.0.113.9", 1), spoof) == "203.0.113.9"
    assert await key_for(by_ip(), ("203.0.113.9", 1), spoof) == "203.0.113.9"


async def test_by_ip_with_trusted_proxies_walks_forwarded_for_from_the_right() -> None:
    key = by_ip(trusted=["10.0.0.0/8", "192.0.2.1"])
    # Peer is a trusted proxy: the hop before it is the client.
    assert await key_for(key, ("10.1.1.1", 1), {"X-Forwarded-For": "198.51.100.4"}) == "198.51.100.4"
    # Two trusted proxies; the client-supplied leftmost entry is ignored.
    chain = {"X-Forwarded-For": "6.6.6.6, 198.51.100.4, 192.0.2.1"}
    assert await key_for(key, ("10.1.1.1", 1), chain) == "198.51.100.4"
    # Peer not trusted: its own address, whatever the header claims.
    assert await key_for(key, ("203.0.113.9", 1), {"X-Forwarded-For": "198.51.100.4"}) == "203.0.113.9"
    # Trusted peer without the header: the peer.
    assert await key_for(key, ("10.1.1.1", 1)) == "10.1.1.1"


async def test_a_spoofing_client_cannot_escape_its_limit_behind_a_trusted_proxy() -> None:
    from redkeeper.fastapi import rate_limit

    async with redkeeper.AsyncClient("memory://") as rk:
        dep = rate_limit(rk, "2/minute", name="login", key=by_ip(trusted="10.0.0.1"),
                         algorithm="fixed_window")
        app = FastAPI()

        @app.post("/login", dependencies=[Depends(dep)])
        async def login() -> str:
            return "ok"

        transport = httpx.ASGITransport(app=app, client=("10.0.0.1", 1))
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as c:
            codes: List[int] = []
            for i in range(4):
                # The proxy appends the real client (198.51.100.4); the client made up the rest.
                xff = f"9.9.9.{i}, 198.51.100.4"
                codes.append((await c.post("/login", headers={"X-Forwarded-For": xff})).status_code)
    assert codes == [200, 200, 429, 429]


async def test_by_ip_matches_the_core_helpers_and_takes_their_keywords() -> None:
    # The README's `trusted=["10.0.0.0/8", "loopback"]`: keywords come from redkeeper.client_ip.
    key = by_ip(trusted=["10.0.0.0/8", "loopback"])
    xff = {"X-Forwarded-For": "2001:db8:1:2345::9, 10.2.2.2"}
    got = await key_for(key, ("127.0.0.1", 1), xff)
    core = redkeeper.ip_key(redkeeper.client_ip("127.0.0.1", xff["X-Forwarded-For"],
                                                ["10.0.0.0/8", "loopback"]))
    assert got == core == "2001:db8:1:2300::/56"
    # A peer that is not an IP (Starlette's TestClient says "testclient") is keyed as it is.
    assert await key_for(key, ("testclient", 1), xff) == "testclient"
    assert await key_for(by_ip, ("testclient", 1)) == "testclient"


async def test_ipv6_is_grouped_to_a_56_and_mapped_ipv4_is_ipv4() -> None:
    a = await key_for(by_ip, ("2001:db8:1:2300::1", 1))
    b = await key_for(by_ip, ("2001:db8:1:23ff:ffff::9", 1))
    c = await key_for(by_ip, ("2001:db8:1:2400::1", 1))
    assert a == b != c
    assert await key_for(by_ip, ("::ffff:198.51.100.4", 1)) == "198.51.100.4"
    assert await key_for(by_ip(subnet=128), ("2001:db8::1", 1)) != await key_for(
        by_ip(subnet=128), ("2001:db8::2", 1))


async def test_by_user_sync_async_and_fallback() -> None:
    def sync_user(request: Request) -> Optional[str]:
        return request.headers.get("x-user")

    async def async_user(request: Request) -> Optional[int]:
        return 42 if request.headers.get("authorization") else None

    assert await key_for(by_user(sync_user), ("192.0.2.5", 1), {"x-user": "bob"}) == "user:bob"
    assert await key_for(by_user(sync_user), ("192.0.2.5", 1)) is None
    assert await key_for(by_user(async_user), ("192.0.2.5", 1), {"authorization": "t"}) == "user:42"
    assert await key_for(by_user(async_user, fallback=by_ip), ("192.0.2.5", 1)) == "192.0.2.5"


async def test_by_route_uses_the_route_template_and_combine_escapes() -> None:
    assert await key_for(by_route, ("192.0.2.5", 1), path="/items/7") == "GET /items/{item_id}"
    both = combine(by_route, by_ip)
    assert await key_for(both, ("192.0.2.5", 1)) == "GET /items/{item_id}|192.0.2.5"

    def part(text: str) -> Any:
        return lambda request: text

    # ("a|b", "c") and ("a", "b|c") must not share a bucket.
    assert await key_for(combine(part("a|b"), part("c")), ("192.0.2.5", 1)) != await key_for(
        combine(part("a"), part("b|c")), ("192.0.2.5", 1))
    anonymous = combine(by_ip, by_user(lambda request: None))
    assert await key_for(anonymous, ("192.0.2.5", 1)) is None


def test_key_helpers_reject_bad_arguments() -> None:
    with pytest.raises(redkeeper.InvalidArgument, match="request"):
        by_ip(["10.0.0.0/8"])  # type: ignore[arg-type]
    with pytest.raises(redkeeper.InvalidArgument, match="get_user"):
        by_user("user")  # type: ignore[arg-type]
    with pytest.raises(redkeeper.InvalidArgument, match="keys"):
        combine()
    with pytest.raises(redkeeper.InvalidArgument, match="subnet"):
        by_ip(subnet=200)
    with pytest.raises(redkeeper.InvalidArgument, match="subnet"):
        by_ip(subnet=0)  # would put every IPv6 client in one bucket
    with pytest.raises(redkeeper.InvalidArgument, match="trusted"):
        by_ip(trusted=["10.0.0.0/33"])
