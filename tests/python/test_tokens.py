"""client.tokens / client.token_versions from Python: the shared vectors (tests/vectors/tokens.json,
raw core ops) on memory:// and Redis with a ManualClock, then the typed API (async and sync) on both
backends with real TTLs on Redis, malformed input, signature checks, fail-closed, the loader."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import itertools
import json
import time
from typing import Any, AsyncIterator, Dict, List

import pytest

import redkeeper
from redkeeper._primitive import PrimitiveHandle
from redkeeper.tokens import AsyncTokens, AsyncTokenVersions, TokenVersions, Tokens, UserAudit

from conftest import BACKENDS, admin_command, backend_url, load_vectors

VECTORS = load_vectors("tokens.json")
SECRET = "py-secret"
_prefixes = itertools.count()


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_jwt(claims: Dict[str, Any], secret: str = SECRET, alg: str = "HS256") -> str:
    signing_input = b64(json.dumps({"alg": alg, "typ": "JWT"}).encode()) + "." + b64(json.dumps(claims).encode())
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
    return signing_input + "." + b64(hmac.new(secret.encode(), signing_input.encode(), digest).digest())


ERRORS = {
    "TokenMalformed": redkeeper.TokenMalformed,
    "TokenInvalid": redkeeper.TokenInvalid,
    "TokenRevoked": redkeeper.TokenRevoked,
    "InvalidArgument": redkeeper.InvalidArgument,
}


# ---- shared vectors (raw core ops) ----------------------------------------------------------------


def _vector_client(backend: str, request: pytest.FixtureRequest, clock: redkeeper.ManualClock) -> Any:
    prefix = f"rkvec{next(_prefixes)}"
    if backend == "memory":
        return redkeeper.Client("memory://", prefix=prefix, clock=clock)
    return redkeeper.Client(backend_url(request, backend), prefix=prefix, clock=clock)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("seq", VECTORS["sequences"], ids=lambda s: s["name"])
def test_vector_sequences(backend: str, seq: Dict[str, Any], request: pytest.FixtureRequest) -> None:
    clock = redkeeper.ManualClock(VECTORS["clock_start_ms"])
    with _vector_client(backend, request, clock) as client:
        handle = PrimitiveHandle(client, seq["kind"], seq["options"])
        for i, step in enumerate(seq["steps"]):
            where = f"step {i} {step['op']}"
            if "advance_ms" in step:
                clock.advance(step["advance_ms"])
            expect = step["expect"]
            if isinstance(expect, dict) and "error" in expect:
                with pytest.raises(ERRORS[expect["error"]]):
                    handle.call(step["op"], step["args"])
            else:
                assert handle.call(step["op"], step["args"]) == expect, where


@pytest.mark.parametrize("case", VECTORS["decode"], ids=lambda c: c["name"])
def test_vector_decode(case: Dict[str, Any]) -> None:
    with redkeeper.Client("memory://", clock=redkeeper.ManualClock(VECTORS["clock_start_ms"])) as client:
        tokens = client.tokens
        expect = case["expect"]
        if "error" in expect:
            with pytest.raises(ERRORS[expect["error"]]):
                tokens.decode(case["token"])
            with pytest.raises(ERRORS[expect["error"]]):
                tokens.is_revoked(case["token"])
            # TokenMalformed is also a ValueError: plain `except ValueError` handlers work.
            with pytest.raises(ValueError):
                tokens.check(case["token"])
        else:
            assert tokens.decode(case["token"]) == expect
            assert tokens.is_revoked(case["token"]) is False


@pytest.mark.parametrize("case", VECTORS["verify"], ids=lambda c: c["name"])
def test_vector_verify(case: Dict[str, Any]) -> None:
    with redkeeper.Client("memory://", clock=redkeeper.ManualClock(VECTORS["clock_start_ms"])) as client:
        options: Dict[str, Any] = {}
        if case["key"] is not None:
            options["verify_key"] = VECTORS["keys"][case["key"]]
        if "algorithms" in case:
            options["algorithms"] = case["algorithms"]
        tokens = client.tokens.with_options(**options)
        if case["expect"] == "ok":
            assert tokens.check(case["token"])["sub"] == "alice"
        else:
            with pytest.raises(ERRORS[case["expect"]]):
                tokens.check(case["token"])


# ---- typed API on both backends -------------------------------------------------------------------


class Env:
    def __init__(self, kind: str, client: Any, clock: Any, server: Any) -> None:
        self.kind, self.client, self.clock, self.server = kind, client, clock, server

    def now(self) -> float:
        return self.clock.now_ms / 1000 if self.clock is not None else time.time()

    async def advance(self, seconds: float) -> None:
        if self.clock is not None:
            self.clock.advance(int(seconds * 1000))
        else:
            await asyncio.sleep(seconds)


@pytest.fixture(params=BACKENDS)
async def env(request: pytest.FixtureRequest) -> AsyncIterator[Env]:
    prefix = f"rkpyt{next(_prefixes)}"
    server = None
    if request.param == "memory":
        clock = redkeeper.ManualClock(int(time.time() * 1000))
        client = redkeeper.AsyncClient("memory://", prefix=prefix, clock=clock)
    else:
        server = request.getfixturevalue("redis_server" if request.param == "redis" else "redis_cluster")
        clock = None
        client = redkeeper.AsyncClient(server.url, prefix=prefix)
    yield Env(request.param, client, clock, server)
    await client.aclose()


async def test_revoke_is_revoked_check_expire(env: Env) -> None:
    tokens = env.client.tokens
    assert isinstance(tokens, AsyncTokens)
    now = int(env.now())
    # exp is whole seconds: now + 2 left real time 1-2 s for the 8 ops below on Redis, too little
    # on a busy box; 2-3 s there, and the wait past exp is measured from the real clock.
    # memory:// keeps its exact fake-clock values.
    life = 2 if env.clock is not None else 3
    t = make_jwt({"sub": "alice", "jti": "j1", "iat": now, "exp": now + life})
    other = make_jwt({"sub": "alice", "jti": "j2", "iat": now, "exp": now + 60})
    assert await tokens.is_revoked(t) is False
    assert (await tokens.check(t))["jti"] == "j1"
    assert await tokens.revoke(t) is True
    assert await tokens.revoke(t) is False
    assert await tokens.is_revoked(t) is True
    assert await tokens.is_revoked(other) is False
    with pytest.raises(redkeeper.TokenRevoked):
        await tokens.check(t)
    assert await tokens.stats() == {"denylisted": 1, "users_revoked": 0}
    if env.clock is not None:
        await env.advance(2.2)
    else:
        await env.advance(max(0.0, now + life - time.time()) + 0.3)  # 0.3 s past exp
    # Past exp: dead either way (is_revoked True, check TokenInvalid), entry and index gone.
    assert await tokens.is_revoked(t) is True
    with pytest.raises(redkeeper.TokenInvalid, match="expired"):
        await tokens.check(t)
    assert await tokens.stats() == {"denylisted": 0, "users_revoked": 0}
    assert await tokens.revoke(t) is False


async def test_revoke_user_and_audit(env: Env) -> None:
    tokens = env.client.tokens.with_options(audit_limit=3)
    now = env.now()
    before = make_jwt({"sub": "42", "jti": "b", "iat": now - 5, "exp": now + 600})
    no_iat = make_jwt({"sub": "42", "jti": "n", "exp": now + 600})
    bystander = make_jwt({"sub": "43", "jti": "c", "iat": now - 5, "exp": now + 600})
    r = await tokens.revoke_user(42, reason="password changed")
    assert r.revoked_before == pytest.approx(now, abs=1.0)
    assert r.expires - r.revoked_before == pytest.approx(30 * 86400)
    assert await tokens.is_revoked(before) is True
    assert await tokens.is_revoked(no_iat) is True
    assert await tokens.is_revoked(bystander) is False
    after = make_jwt({"sub": "42", "jti": "a", "iat": r.revoked_before + 0.5, "exp": now + 600})
    assert await tokens.is_revoked(after) is False
    with pytest.raises(redkeeper.TokenRevoked):
        await tokens.check(before)
    for reason in ["b", "c", "d"]:
        await tokens.revoke_user("42", reason=reason)
    audit = await tokens.audit("42")
    assert isinstance(audit, UserAudit)
    assert [e.reason for e in audit.entries] == ["d", "c", "b"]
    assert (await tokens.audit("nobody")).revoked_before is None
    assert (await tokens.stats())["users_revoked"] == 1


async def test_signature_verification_and_alg_none(env: Env) -> None:
    now = int(env.now())
    claims = {"sub": "s", "iat": now, "exp": now + 60}
    tokens = env.client.tokens.with_options(verify_key=SECRET, algorithms=["HS256", "HS512"])
    assert (await tokens.check(make_jwt(claims)))["sub"] == "s"
    assert (await tokens.check(make_jwt(claims, alg="HS512")))["sub"] == "s"
    with pytest.raises(redkeeper.TokenInvalid):
        await tokens.check(make_jwt(claims, alg="HS384"))  # not in the allow-list
    with pytest.raises(redkeeper.TokenInvalid):
        await tokens.check(make_jwt(claims, secret="wrong"))
    with pytest.raises(redkeeper.TokenInvalid):
        await tokens.is_revoked(make_jwt(claims, secret="wrong"))
    none = b64(b'{"alg":"none"}') + "." + b64(json.dumps(claims).encode()) + "."
    with pytest.raises(redkeeper.TokenInvalid):
        await tokens.check(none)
    with pytest.raises(redkeeper.TokenInvalid):
        await env.client.tokens.check(none)  # refused even without a key
    rsa = env.client.tokens.with_options(verify_key=VECTORS["keys"]["rsa"])
    with pytest.raises(redkeeper.TokenInvalid, match="does not match"):
        await rsa.check(make_jwt(claims, secret=VECTORS["keys"]["rsa"]))  # algorithm confusion


@pytest.mark.parametrize(
    "bad",
    [None, 42, 4.2, ["a.b.c"], {"t": 1}, "", "a.b", "a.b.c.d", "!!.??.##", "x" * 20000, b"\xff.\xfe.\xfd", True],
    ids=repr,
)
async def test_malformed_input_is_typed(bad: Any) -> None:
    async with redkeeper.AsyncClient("memory://") as client:
        for op in (client.tokens.is_revoked, client.tokens.check, client.tokens.revoke):
            with pytest.raises(redkeeper.TokenMalformed):
                await op(bad)


async def test_bad_arguments() -> None:
    async with redkeeper.AsyncClient("memory://") as client:
        with pytest.raises(redkeeper.InvalidArgument):
            await client.tokens.revoke_user("")
        with pytest.raises(redkeeper.InvalidArgument):
            await client.tokens.revoke_user(True)  # type: ignore[arg-type]
        with pytest.raises(redkeeper.InvalidArgument):
            client.tokens.with_options(max_lifetime=-1)
        with pytest.raises(redkeeper.InvalidArgument):
            client.tokens.with_options(on_error="open")
        with pytest.raises(redkeeper.InvalidArgument):
            client.tokens.with_options(verify_key="-----BEGIN PUBLIC KEY-----\nxx\n-----END PUBLIC KEY-----\n")
        with pytest.raises(redkeeper.InvalidArgument):
            await client.token_versions.verify("u", "1")  # type: ignore[arg-type]
        assert client.tokens.with_options(max_lifetime="7 days", leeway=0) is not client.tokens


async def test_no_exp_uses_max_lifetime(env: Env) -> None:
    tokens = env.client.tokens.with_options(max_lifetime=1.0)
    t = make_jwt({"sub": "z", "jti": "noexp"})
    assert await tokens.revoke(t) is True
    assert await tokens.is_revoked(t) is True
    await env.advance(1.2)
    assert await tokens.is_revoked(t) is False


async def test_concurrent_revocations(env: Env) -> None:
    tokens = env.client.tokens
    now = int(env.now())
    batch = [make_jwt({"sub": f"u{i % 5}", "jti": str(i), "exp": now + 300}) for i in range(200)]
    assert all(await asyncio.gather(*(tokens.revoke(t) for t in batch)))
    assert all(await asyncio.gather(*(tokens.is_revoked(t) for t in batch)))
    assert (await tokens.stats())["denylisted"] == 200


def test_sync_flavour(redis_server: Any) -> None:
    with redkeeper.Client(redis_server.url, prefix="rkpytsync") as client:
        tokens = client.tokens
        assert isinstance(tokens, Tokens)
        t = make_jwt({"sub": "s", "jti": "sync", "exp": int(time.time()) + 60})
        assert tokens.revoke(t) is True
        assert tokens.is_revoked(t) is True
        with pytest.raises(redkeeper.TokenRevoked):
            tokens.check(t)
        assert tokens.revoke_user("s").revoked_before > 0
        assert tokens.stats() == {"denylisted": 1, "users_revoked": 1}
        # The key layout is the documented one (Node reads the same keys).
        assert admin_command(redis_server, "EXISTS", "rkpytsync:tokens:{u:s}:jti:sync") == 1
        versions = client.token_versions
        assert isinstance(versions, TokenVersions)
        assert versions.get("s") == 0
        assert versions.bump("s") == 1
        assert versions.verify("s", 1) is True


async def test_fail_closed_when_store_is_down() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with redkeeper.AsyncClient(f"redis://127.0.0.1:{port}", connect_timeout=0.2, command_timeout=0.3) as client:
        t = make_jwt({"sub": "s", "exp": int(time.time()) + 60})
        assert await client.tokens.is_revoked(t) is True
        with pytest.raises(redkeeper.TokenRevoked, match="store could not be asked"):
            await client.tokens.check(t)
        with pytest.raises((redkeeper.ConnectionError, redkeeper.TimeoutError)):
            await client.tokens.with_options(on_error="raise").is_revoked(t)
        assert await client.token_versions.verify("s", 0) is False
        with pytest.raises((redkeeper.ConnectionError, redkeeper.TimeoutError)):
            await client.token_versions.with_options(on_error="raise").verify("s", 0)


# ---- token versions -------------------------------------------------------------------------------


async def test_versions_counter_and_epoch(env: Env) -> None:
    v = env.client.token_versions
    assert isinstance(v, AsyncTokenVersions)
    assert await v.get("alice") == 0
    assert await v.verify("alice", 0) is True
    v1 = await v.bump("alice")
    assert v1 == 1
    assert await v.verify("alice", 0) is False
    assert await v.verify("alice", v1) is True
    epoch = await v.bump_all()
    assert epoch >= 1
    current = await v.get("alice")
    assert current == (epoch << 32) | 1
    assert await v.verify("alice", v1) is False
    assert await v.verify("alice", current) is True
    assert await v.get("bob") == epoch << 32  # the epoch invalidates users never bumped too


async def test_versions_loader_caches(env: Env) -> None:
    calls: List[Any] = []

    async def loader(user: Any) -> Any:
        calls.append(user)
        return {"db-user": 7}.get(user)

    v = env.client.token_versions.with_options(loader=loader, cache_ttl=1.0)
    assert await v.get("db-user") == 7
    assert await v.get("db-user") == 7
    assert calls == ["db-user"]  # cached in the store
    assert await v.verify("db-user", 7) is True
    assert await v.get("unknown") == 0
    # bump starts from the loaded value, never from 0 (the DB may be ahead of the store).
    assert await v.bump("other-db-user") == 1
    v2 = env.client.token_versions.with_options(loader=lambda u: 41)
    assert await v2.bump("fresh") == 42
    assert await v2.verify("fresh-2", 41) is True  # verify loads on a miss
    await env.advance(1.2)
    assert await v.get("db-user") == 7
    assert calls.count("db-user") == 2  # the cached value expired after cache_ttl


async def test_versions_concurrent_bumps(env: Env) -> None:
    v = env.client.token_versions
    results = await asyncio.gather(*(v.bump("hot") for _ in range(100)))
    assert sorted(results) == list(range(1, 101))
