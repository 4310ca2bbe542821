"""Every kind of bad input, from both clients, raises InvalidArgument (a ValueError) whose message
names the parameter — never a crash, never a bare TypeError from the binding."""

from __future__ import annotations

import asyncio
import datetime
from typing import Any, Callable, Dict

import pytest

import redkeeper

NAN = float("nan")
INF = float("inf")


def run(flavor: str, fn: Callable[[Any], Any], *args: Any) -> Any:
    """Calls `fn(client, *args)` on a fresh memory client of the given flavor and returns the value
    (awaited for the async flavor); closes the client afterwards."""
    if flavor == "sync":
        with redkeeper.Client("memory://") as client:
            return fn(client, *args)

    async def main() -> Any:
        async with redkeeper.AsyncClient("memory://") as client:
            value = fn(client, *args)
            if asyncio.iscoroutine(value):
                value = await value
            return value

    return asyncio.run(main())


def assert_invalid(flavor: str, param: str, fn: Callable[..., Any], *args: Any) -> None:
    with pytest.raises(redkeeper.InvalidArgument) as info:
        run(flavor, fn, *args)
    err = info.value
    assert isinstance(err, ValueError)
    assert isinstance(err, redkeeper.RedkeeperError)
    assert err.code == "ERR_RK_INVALID_ARGUMENT"
    assert param in str(err), f"message {str(err)!r} does not name {param!r}"


FLAVORS = ["sync", "async"]
CLIENT_CLASSES = {"sync": redkeeper.Client, "async": redkeeper.AsyncClient}

# --- client options --------------------------------------------------------------------------------

BAD_CLIENT_OPTIONS = [
    ("url", {"url": "ftp://localhost"}),
    ("url", {"url": "mysql://x"}),
    ("url", {"url": ""}),
    ("url", {"url": 5}),
    ("url", {"url": None}),
    ("url", {"url": b"memory://"}),
    ("prefix", {"prefix": ""}),
    ("prefix", {"prefix": "a{b}"}),
    ("prefix", {"prefix": "x" * 65}),
    ("prefix", {"prefix": 7}),
    ("clock", {"clock": "now"}),
    ("clock", {"clock": 1700000000000}),
    ("command_timeout", {"command_timeout": 0}),
    ("command_timeout", {"command_timeout": -1}),
    ("command_timeout", {"command_timeout": NAN}),
    ("command_timeout", {"command_timeout": INF}),
    ("command_timeout", {"command_timeout": "1"}),
    ("command_timeout", {"command_timeout": True}),
    ("connect_timeout", {"connect_timeout": -0.5}),
    ("connect_timeout", {"connect_timeout": None}),
    ("tls_ca_file", {"tls_ca_file": 3}),
    ("tls_verify", {"tls_verify": "yes"}),
    ("tls_verify", {"tls_verify": 1}),
    ("max_pending", {"max_pending": 0}),
    ("max_pending", {"max_pending": 1.5}),
    ("max_pending", {"max_pending": True}),
]


@pytest.mark.parametrize("flavor", FLAVORS)
@pytest.mark.parametrize("param,kwargs", BAD_CLIENT_OPTIONS, ids=lambda v: repr(v))
def test_bad_client_options(flavor: str, param: str, kwargs: Dict[str, Any]) -> None:
    cls = CLIENT_CLASSES[flavor]
    with pytest.raises(redkeeper.InvalidArgument) as info:
        cls(**kwargs)
    assert info.value.code == "ERR_RK_INVALID_ARGUMENT"
    assert param in str(info.value)


# --- limiter configuration -------------------------------------------------------------------------

BAD_LIMITER_CONFIG = [
    ("name", {"name": ""}),
    ("name", {"name": "has space"}),
    ("name", {"name": "x" * 65}),
    ("name", {"name": "a{b}"}),
    ("name", {"name": None}),
    ("name", {"name": 5}),
    ("limit", {"limit": 0}),
    ("limit", {"limit": -1}),
    ("limit", {"limit": NAN}),
    ("limit", {"limit": INF}),
    ("limit", {"limit": -INF}),
    ("limit", {"limit": 1.5}),
    ("limit", {"limit": 5.0}),
    ("limit", {"limit": "abc"}),
    ("limit", {"limit": "5"}),
    ("limit", {"limit": True}),
    ("limit", {"limit": 2**70}),
    ("limit", {"limit": []}),
    ("window", {"window": 0}),
    ("window", {"window": -5}),
    ("window", {"window": NAN}),
    ("window", {"window": INF}),
    ("window", {"window": 0.0001}),
    ("window", {"window": "abc"}),
    ("window", {"window": ""}),
    ("window", {"window": "-15m"}),
    ("window", {"window": "15 fortnights"}),
    ("window", {"window": True}),
    ("window", {"window": datetime.timedelta(0)}),
    ("window", {"window": datetime.timedelta(seconds=-3)}),
    ("window", {"window": object()}),
    ("window", {"window": 10**30}),
    ("algorithm", {"algorithm": "leaky_bucket"}),
    ("algorithm", {"algorithm": ""}),
    ("algorithm", {"algorithm": "FIXED_WINDOW "}),
    ("algorithm", {"algorithm": None}),
    ("algorithm", {"algorithm": 1}),
    ("block_duration", {"block_duration": -1}),
    ("block_duration", {"block_duration": NAN}),
    ("block_duration", {"block_duration": "soon"}),
    ("block_duration", {"block_duration": True}),
    ("on_error", {"on_error": "ignore"}),
    ("on_error", {"on_error": None}),
    ("rate", {"rate": ""}),
    ("rate", {"rate": "abc"}),
    ("rate", {"rate": "5/"}),
    ("rate", {"rate": "/minute"}),
    ("rate", {"rate": "0/minute"}),
    ("rate", {"rate": "-1/minute"}),
    ("rate", {"rate": "1.5/minute"}),
    ("rate", {"rate": "5/0minutes"}),
    ("rate", {"rate": "5 per fortnight"}),
    ("rate", {"rate": 5}),
    ("rate", {"rate": "5/minute", "limit": 3}),
    ("rate", {"rate": "5/minute", "window": 60}),
]


@pytest.mark.parametrize("flavor", FLAVORS)
@pytest.mark.parametrize("param,kwargs", BAD_LIMITER_CONFIG, ids=lambda v: repr(v))
def test_bad_limiter_config(flavor: str, param: str, kwargs: Dict[str, Any]) -> None:
    kwargs = dict(kwargs)
    name = kwargs.pop("name", "api")
    assert_invalid(flavor, param, lambda c: c.limiter(name, **kwargs))


# --- ops -------------------------------------------------------------------------------------------

BAD_KEYS = ["", b"", "k" * 1025, b"k" * 1025, "é" * 513, None, 5, 1.5, ["a"], ("a",), "\ud800"]


def _limiter(client: Any) -> Any:
    return client.limiter("api", limit=5, window="1m", algorithm="fixed_window")


@pytest.mark.parametrize("flavor", FLAVORS)
@pytest.mark.parametrize("op", ["hit", "peek", "reset", "refund", "block"])
@pytest.mark.parametrize("key", BAD_KEYS, ids=lambda k: repr(k)[:20])
def test_bad_key(flavor: str, op: str, key: Any) -> None:
    extra = {"refund": (1,), "block": (10,)}.get(op, ())
    assert_invalid(flavor, "key", lambda c: getattr(_limiter(c), op)(key, *extra))


@pytest.mark.parametrize("flavor", FLAVORS)
def test_key_limits_are_bytes_not_characters(flavor: str) -> None:
    # 1024 bytes is the limit: 512 two-byte characters pass, ASCII or bytes of that length too.
    for key in ["é" * 512, "k" * 1024, b"\x00\xff" * 512]:
        result = run(flavor, lambda c, k=key: _limiter(c).hit(k))
        assert result.allowed and result.remaining == 4


BAD_COSTS = [0, -1, 6, 1.5, 1.0, NAN, "1", True, False, None, 2**70, [1]]


@pytest.mark.parametrize("flavor", FLAVORS)
@pytest.mark.parametrize("cost", BAD_COSTS, ids=lambda v: repr(v))
def test_bad_cost(flavor: str, cost: Any) -> None:
    assert_invalid(flavor, "cost", lambda c: _limiter(c).hit("k", cost))
    assert_invalid(flavor, "cost", lambda c: _limiter(c).hit("k", cost=cost))


@pytest.mark.parametrize("flavor", FLAVORS)
@pytest.mark.parametrize("n", [0, -3, 1.5, "2", True, None], ids=lambda v: repr(v))
def test_bad_refund_amount(flavor: str, n: Any) -> None:
    assert_invalid(flavor, "n", lambda c: _limiter(c).refund("k", n))


@pytest.mark.parametrize("flavor", FLAVORS)
@pytest.mark.parametrize(
    "seconds", [0, -1, NAN, INF, "abc", "", True, None, datetime.timedelta(0), 10**30],
    ids=lambda v: repr(v),
)
def test_bad_block_duration(flavor: str, seconds: Any) -> None:
    assert_invalid(flavor, "seconds", lambda c: _limiter(c).block("k", seconds))


@pytest.mark.parametrize("flavor", FLAVORS)
def test_rejected_input_consumes_nothing(flavor: str) -> None:
    def body(client: Any) -> Any:
        limiter = _limiter(client)
        for bad in (0, 99, 1.5, "x"):
            with pytest.raises(redkeeper.InvalidArgument):
                limiter.hit("k", bad)
        return limiter.peek("k")

    if flavor == "sync":
        assert run(flavor, body).remaining == 5
    else:
        async def abody(client: Any) -> Any:
            limiter = _limiter(client)
            for bad in (0, 99, 1.5, "x"):
                with pytest.raises(redkeeper.InvalidArgument):
                    await limiter.hit("k", bad)
            return await limiter.peek("k")

        assert run(flavor, abody).remaining == 5


def test_wrong_arity_is_a_type_error() -> None:
    # Calling with the wrong number of arguments is a programming error, reported like Python does.
    with redkeeper.Client("memory://") as client:
        limiter = _limiter(client)
        with pytest.raises(TypeError):
            limiter.hit()  # type: ignore[call-arg]
        with pytest.raises(TypeError):
            limiter.hit("a", 1, 2)  # type: ignore[call-arg]
        with pytest.raises(TypeError):
            limiter.hit("a", weight=2)  # type: ignore[call-arg]
        with pytest.raises(TypeError):
            limiter.hit("a", 1, cost=2)  # type: ignore[misc]


def test_bad_header_arguments() -> None:
    with redkeeper.Client("memory://") as client:
        result = _limiter(client).hit("k")
        for kwargs, param in [({"standard": "draft-9"}, "standard"), ({"standard": 7}, "standard"),
                              ({"legacy": "yes"}, "legacy"), ({"now_ms": 1.5}, "now_ms")]:
            with pytest.raises(redkeeper.InvalidArgument) as info:
                result.headers(**kwargs)
            assert param in str(info.value)


def test_bad_manual_clock_arguments() -> None:
    for bad in ("0", 1.5, None, True):
        with pytest.raises(redkeeper.InvalidArgument) as info:
            redkeeper.ManualClock(start_ms=bad)
        assert "start_ms" in str(info.value)
    clock = redkeeper.ManualClock(start_ms=1000)
    for bad in (-1, 0.5, "1"):
        with pytest.raises(redkeeper.InvalidArgument) as info:
            clock.advance(bad)
        assert "ms" in str(info.value)
    assert clock.now_ms == 1000
