"""client.otp on memory:// (ManualClock) and on a private redis-server, sync and asyncio: the shared
vectors, generated codes, the sixth wrong guess refused even with the right code, cooldown, the secret
policy (required on Redis, env var, random per client on memory), the stored form (an HMAC rebuilt
independently with hmac/hashlib, never the code) and bad input."""

from __future__ import annotations

import hashlib
import hmac
import struct
import uuid
from typing import Any, Dict, Iterator

import pytest

import redkeeper
from redkeeper.otp import AsyncOtp, Otp, OtpIssue, OtpVerify

from conftest import BACKENDS, admin_command, backend_url
from test_idempotency import run_vector_case, vector_params

T0 = 1_700_000_000_000
SECRET = "test-secret-0123456789abcdef"


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def clock() -> redkeeper.ManualClock:
    return redkeeper.ManualClock(start_ms=T0)


@pytest.fixture
def url(backend: str, request: pytest.FixtureRequest) -> str:
    return backend_url(request, backend)


def fresh_prefix() -> str:
    return "po" + uuid.uuid4().hex[:10]


@pytest.fixture
def client(url: str, clock: redkeeper.ManualClock) -> Iterator[redkeeper.Client]:
    c = (redkeeper.Client(url, clock=clock) if url == "memory://"
         else redkeeper.Client(url, prefix=fresh_prefix()))
    yield c
    c.close()


@pytest.fixture
async def aclient(url: str, clock: redkeeper.ManualClock) -> Any:
    c = (redkeeper.AsyncClient(url, clock=clock) if url == "memory://"
         else redkeeper.AsyncClient(url, prefix=fresh_prefix()))
    yield c
    await c.aclose()


@pytest.mark.parametrize("case,where", vector_params("otp.json"))
def test_vectors(case: Dict[str, Any], where: str, request: pytest.FixtureRequest) -> None:
    url = backend_url(request, where)
    run_vector_case(case, "otp", url)


def test_generated_code_verifies_once(client: redkeeper.Client) -> None:
    otp = client.otp.with_options(secret=SECRET)
    assert isinstance(otp, Otp)
    sent = otp.issue("user:1", digits=8)
    assert isinstance(sent, OtpIssue) and sent and sent.reason == "issued"
    assert sent.code is not None and len(sent.code) == 8 and sent.code.isdigit()
    assert sent.ttl == 300.0
    assert sent.code not in repr(sent)  # never logged by accident
    check = otp.verify("user:1", sent.code)
    assert isinstance(check, OtpVerify) and check and check.reason == "ok"
    again = otp.verify("user:1", sent.code)
    assert not again and again.reason == "expired_or_missing"


def test_sixth_wrong_guess_refused_even_with_the_right_code(client: redkeeper.Client) -> None:
    otp = client.otp.with_options(secret=SECRET)
    code = otp.issue("victim").code
    assert code is not None
    wrong = "0" * 6 if code != "0" * 6 else "1" * 6
    left = [otp.verify("victim", wrong).attempts_left for _ in range(5)]
    assert left == [4, 3, 2, 1, 0]
    sixth = otp.verify("victim", code)
    assert not sixth.ok and sixth.reason == "locked" and sixth.attempts_left == 0
    assert 299 < sixth.retry_after <= 300
    blocked = otp.issue("victim")
    assert not blocked and blocked.reason == "locked" and blocked.code is None


async def test_async_flavour_and_cooldown(aclient: redkeeper.AsyncClient, backend: str,
                                          clock: redkeeper.ManualClock) -> None:
    otp = aclient.otp.with_options(secret=SECRET, cooldown=30, ttl="10m")
    assert isinstance(otp, AsyncOtp)
    first = await otp.issue("u")
    assert first and first.ttl == 600.0
    resend = await otp.issue("u")
    assert not resend and resend.reason == "cooldown" and 29 < resend.retry_after <= 30
    if backend == "memory":
        clock.advance(30_001)
        second = await otp.issue("u")
        assert second and second.code is not None
        assert first.code == second.code or (await otp.verify("u", first.code or "")).reason == "invalid"
        assert (await otp.verify("u", second.code)).ok
    assert await otp.revoke("u") is (backend != "memory")
    assert await otp.revoke("u") is False


def test_supplied_codes_and_per_issue_options(client: redkeeper.Client) -> None:
    otp = client.otp.with_options(secret=SECRET, cooldown=0)
    assert otp.issue("u", code="hello-world").code == "hello-world"
    assert otp.verify("u", "hello-world").ok
    assert otp.issue("u", ttl=5).ttl == 5.0
    assert otp.issue("u", 60, 4).code is not None
    assert otp.issue("u", 60, 4, "positional").code == "positional"  # issue(subject, ttl, digits, code)
    assert otp.verify("u", "positional").ok


def test_redis_requires_a_secret(redis_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REDKEEPER_OTP_SECRET", raising=False)
    with redkeeper.Client(redis_server.url, prefix=fresh_prefix()) as c:
        otp = c.otp  # creating the wrapper is fine: with_options(secret=...) must stay possible
        with pytest.raises(redkeeper.InvalidArgument, match="secret"):
            otp.issue("u")
        assert otp.with_options(secret=SECRET).issue("u")


def test_secret_from_the_environment(redis_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDKEEPER_OTP_SECRET", SECRET)
    prefix = fresh_prefix()
    with redkeeper.Client(redis_server.url, prefix=prefix) as a, \
            redkeeper.Client(redis_server.url, prefix=prefix) as b:
        code = a.otp.issue("shared").code
        assert code is not None
        assert b.otp.verify("shared", code).ok  # another client (process) with the same secret


def test_memory_default_secret_is_shared_by_the_clients_handles() -> None:
    with redkeeper.Client("memory://") as c:
        code = c.otp.issue("u").code
        assert code is not None
        assert c.otp.with_options(cooldown=0).verify("u", code).ok


def test_stored_form_is_the_documented_hmac(redis_server: Any) -> None:
    prefix = fresh_prefix()
    with redkeeper.Client(redis_server.url, prefix=prefix) as c:
        otp = c.otp.with_options(secret=SECRET, name="login", ttl=120)
        code = otp.issue("user:42").code
        assert code is not None
        key = f"{prefix}:otp:login:{{user:42}}"
        fields = admin_command(redis_server, "HGETALL", key)
        stored = dict(zip(fields[::2], fields[1::2]))
        assert set(stored) == {b"hmac", b"fails", b"ttl"}
        assert all(code.encode() not in v for v in stored.values())
        msg = (b"rk-otp-v1" + struct.pack(">I", 5) + b"login" + struct.pack(">I", 7) + b"user:42"
               + code.encode())
        assert stored[b"hmac"] == hmac.new(SECRET.encode(), msg, hashlib.sha256).hexdigest().encode()
        assert stored[b"ttl"] == b"120000"


def test_bad_input_is_typed(client: redkeeper.Client) -> None:
    otp = client.otp.with_options(secret=SECRET)
    with pytest.raises(redkeeper.InvalidArgument, match="subject"):
        otp.issue("")
    with pytest.raises(redkeeper.InvalidArgument, match="ttl"):
        otp.issue("u", ttl=-1)
    with pytest.raises(redkeeper.InvalidArgument, match="ttl"):
        otp.issue("u", ttl=float("inf"))
    with pytest.raises(redkeeper.InvalidArgument, match="digits"):
        otp.issue("u", digits=3)
    with pytest.raises(redkeeper.InvalidArgument, match="code"):
        otp.issue("u", code="")
    with pytest.raises(redkeeper.InvalidArgument, match="code"):
        otp.verify("u", 123456)  # type: ignore[arg-type]
    with pytest.raises(redkeeper.InvalidArgument, match="code"):
        otp.verify("u", "1" * 65)
    with pytest.raises(redkeeper.InvalidArgument, match="secret"):
        client.otp.with_options(secret="short").issue("u")
    with pytest.raises(redkeeper.InvalidArgument, match="max_attempts"):
        otp.with_options(max_attempts=0).issue("u")
    with pytest.raises(redkeeper.InvalidArgument, match="cooldown"):
        otp.with_options(cooldown=-1)
    with pytest.raises(redkeeper.InvalidArgument):
        otp.with_options(colour="red")
    assert otp.issue("u")  # nothing above consumed anything
