"""The generic primitive bridge (redkeeper._primitive.PrimitiveHandle over NativePrimitive), driven
through the debug_echo diagnostics primitive on memory:// and on a real redis-server: JSON round
trips both ways, every conversion error naming its path, inline and later completion (sync and
asyncio), cancellation, typed errors for every code, close with ops pending, 10k concurrent calls."""

from __future__ import annotations

import asyncio
import math
import threading
import time
from typing import Any, Iterator, List

import pytest

import redkeeper
from redkeeper._bridge import bridge_for
from redkeeper._native import PendingCall
from redkeeper._primitive import PrimitiveHandle


@pytest.fixture(params=["memory", "redis"])
def url(request: pytest.FixtureRequest) -> str:
    if request.param == "memory":
        return "memory://"
    return request.getfixturevalue("redis_server").url


@pytest.fixture
def client(url: str) -> Iterator[redkeeper.Client]:
    c = redkeeper.Client(url, prefix="rk-prim-test")
    yield c
    c.close()


@pytest.fixture
def echo(client: redkeeper.Client) -> PrimitiveHandle:
    return PrimitiveHandle(client, "debug_echo", {})


ROUND_TRIP = [
    None,
    True,
    False,
    0,
    -1,
    2**63 - 1,
    -(2**63),
    1.5,
    -0.25,
    1e300,
    "",
    "plain",
    "ünïcødé ✓ \U0001F600",
    "nul\x00inside",
    b"",
    b"\x00\xff\x80binary",
    [],
    [1, "two", 3.0, None, [b"x"]],
    {},
    {"nested": {"deep": [{"k": b"v"}, {"n": -7}]}, "empty": {}},
]


@pytest.mark.parametrize("value", ROUND_TRIP, ids=lambda v: type(v).__name__ + ":" + repr(v)[:20])
def test_round_trip_sync(echo: PrimitiveHandle, value: Any) -> None:
    out = echo.call("echo", {"value": value})
    assert out == value
    assert type(out) is type(value)


def test_types_normalised(echo: PrimitiveHandle) -> None:
    # tuples come back as lists, bytearray/memoryview as bytes, int subclasses as int.
    assert echo.call("echo", {"value": (1, (2, 3))}) == [1, [2, 3]]
    assert echo.call("echo", {"value": bytearray(b"ab")}) == b"ab"
    assert echo.call("echo", {"value": memoryview(b"xyz")[1:]}) == b"yz"
    out = echo.call("echo", {"value": {"v": True}})
    assert out == {"v": True} and type(out["v"]) is bool
    assert echo.call("echo") is None  # no args at all
    assert echo.call("echo", None) is None


@pytest.mark.parametrize(
    "value, path, words",
    [
        ({1, 2}, "args.value", "set"),
        (object(), "args.value", "object"),
        (2**63, "args.value", "range"),
        (-(2**63) - 1, "args.value", "range"),
        (math.nan, "args.value", "finite"),
        (math.inf, "args.value", "finite"),
        ({"a": [0, {"b": {1: 2}}]}, "args.value.a[1].b", "keys must be str"),
        ([1, [2, 3, 1j]], "args.value[1][2]", "complex"),
        ("\ud800", "args.value", "UTF-8"),
        (lambda: 1, "args.value", "function"),
        (memoryview(b"abcdef")[::2], "args.value", "contiguous"),
    ],
)
def test_conversion_errors_name_the_path(echo: PrimitiveHandle, value: Any, path: str, words: str) -> None:
    with pytest.raises(redkeeper.InvalidArgument) as info:
        echo.call("echo", {"value": value})
    assert str(info.value).startswith(path + ":"), str(info.value)
    assert words in str(info.value)
    assert info.value.code == "ERR_RK_INVALID_ARGUMENT"
    assert isinstance(info.value, ValueError)


def test_depth_limit_and_cycles(echo: PrimitiveHandle) -> None:
    deep: Any = "leaf"
    for _ in range(62):
        deep = [deep]
    assert echo.call("echo", {"value": deep}) == deep  # 64 levels counting args and value: fine
    with pytest.raises(redkeeper.InvalidArgument, match="deep"):
        echo.call("echo", {"value": [[deep]]})
    cyclic: Any = []
    cyclic.append(cyclic)
    with pytest.raises(redkeeper.InvalidArgument, match="contains itself"):
        echo.call("echo", {"value": cyclic})
    d: Any = {}
    d["self"] = d
    with pytest.raises(redkeeper.InvalidArgument, match=r"args\.value\.self"):
        echo.call("echo", {"value": d})


def test_bad_call_shapes(client: redkeeper.Client, echo: PrimitiveHandle) -> None:
    with pytest.raises(redkeeper.InvalidArgument, match="^args:"):
        echo.call("echo", [1])  # type: ignore[arg-type]
    with pytest.raises(redkeeper.InvalidArgument, match="^op:"):
        echo.call(5, {})  # type: ignore[arg-type]
    with pytest.raises(redkeeper.InvalidArgument, match="unknown debug_echo op"):
        echo.call("nope", {})
    with pytest.raises(redkeeper.InvalidArgument, match="kind"):
        PrimitiveHandle(client, "no_such_kind", {})
    with pytest.raises(redkeeper.InvalidArgument, match="config"):
        PrimitiveHandle(client, "debug_echo", {"x": {1, 2}})
    with pytest.raises(TypeError):
        echo._native.call()  # type: ignore[call-arg]
    assert echo._native.call(op="echo", args={"value": 3}) == 3


def test_handle_attributes(client: redkeeper.Client, echo: PrimitiveHandle) -> None:
    assert echo.kind == "debug_echo"
    assert echo.client is client
    assert echo._native.kind == "debug_echo"
    assert "debug_echo" in repr(echo)


ERROR_CLASSES = [
    ("ERR_RK_INVALID_ARGUMENT", redkeeper.InvalidArgument),
    ("ERR_RK_CONNECTION", redkeeper.ConnectionError),
    ("ERR_RK_TIMEOUT", redkeeper.TimeoutError),
    ("ERR_RK_QUEUE_FULL", redkeeper.QueueFullError),
    ("ERR_RK_PROTOCOL", redkeeper.ProtocolError),
    ("ERR_RK_SCRIPT", redkeeper.ScriptError),
    ("ERR_RK_CLOSED", redkeeper.ClientClosed),
    ("ERR_RK_INTERNAL", redkeeper.InternalError),
    ("ERR_RK_TOKEN_MALFORMED", redkeeper.TokenMalformed),
    ("ERR_RK_TOKEN_INVALID", redkeeper.TokenInvalid),
    ("ERR_RK_TOKEN_REVOKED", redkeeper.TokenRevoked),
    ("ERR_RK_LOCK_NOT_ACQUIRED", redkeeper.LockNotAcquired),
    ("ERR_RK_LOCK_LOST", redkeeper.LockLost),
    ("ERR_RK_LOCK_NOT_OWNER", redkeeper.LockNotOwner),
    ("ERR_RK_LOADER_FAILED", redkeeper.LoaderFailed),
]


@pytest.mark.parametrize("code, cls", ERROR_CLASSES, ids=[c for c, _ in ERROR_CLASSES])
def test_every_code_maps_to_its_class(echo: PrimitiveHandle, code: str, cls: type) -> None:
    with pytest.raises(cls) as info:
        echo.call("fail", {"code": code, "message": "why: " + code})
    assert type(info.value) is cls
    assert info.value.code == code
    assert str(info.value) == "why: " + code
    assert isinstance(info.value, redkeeper.RedkeeperError)


def test_error_families() -> None:
    for cls in (redkeeper.TokenMalformed, redkeeper.TokenInvalid, redkeeper.TokenRevoked):
        assert issubclass(cls, redkeeper.TokenError)
    for cls in (redkeeper.LockNotAcquired, redkeeper.LockLost, redkeeper.LockNotOwner):
        assert issubclass(cls, redkeeper.LockError)
    assert issubclass(redkeeper.TokenMalformed, ValueError)
    assert not issubclass(redkeeper.TokenInvalid, ValueError)
    assert issubclass(redkeeper.LoaderFailed, redkeeper.RedkeeperError)


def test_later_waits_without_holding_the_gil(echo: PrimitiveHandle) -> None:
    ticks: List[float] = []
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            ticks.append(time.monotonic())
            time.sleep(0.001)

    t = threading.Thread(target=spin)
    t.start()
    start = time.monotonic()
    try:
        assert echo.call("later", {"value": {"x": [1, b"2"]}, "delay_ms": 150}) == {"x": [1, b"2"]}
        end = time.monotonic()
    finally:
        stop.set()
        t.join()
    assert end - start >= 0.14
    # The other thread ran while we waited: ticks inside the call only. A held GIL allows none
    # there; a free one ~150, and still well over 5 for a spinner starved on a busy box (20 was
    # too many for that).
    assert sum(1 for tick in ticks if start < tick < end) >= 5, (end - start, len(ticks))


def test_later_error_and_zero_delay(echo: PrimitiveHandle) -> None:
    assert echo.call("later", {"value": 1, "delay_ms": 0}) == 1
    with pytest.raises(redkeeper.InvalidArgument, match="delay_ms"):
        echo.call("later", {"delay_ms": -5})


def test_eval_converts_replies(echo: PrimitiveHandle) -> None:
    script = "return {1, 'text', ARGV[1], false, redis.status_reply('FINE'), {KEYS[1]}}"
    out = echo.call("eval", {"script": script, "keys": ["rk-prim-test:k"], "args": [b"\xff\xfe"]})
    assert out == [1, "text", b"\xff\xfe", None, {"ok": "FINE"}, ["rk-prim-test:k"]]
    with pytest.raises(redkeeper.ScriptError):
        echo.call("eval", {"script": "return redis.error_reply('nope')"})
    # A key set by one script is read by the next (the store is real on both backends).
    echo.call("eval", {"script": "return redis.call('SET', KEYS[1], ARGV[1])", "keys": ["rk-prim-test:x"], "args": [42]})
    assert echo.call("eval", {"script": "return redis.call('GET', KEYS[1])", "keys": ["rk-prim-test:x"]}) == "42"


async def test_round_trip_async(url: str) -> None:
    async with redkeeper.AsyncClient(url) as client:
        echo = PrimitiveHandle(client, "debug_echo", {})
        for value in ROUND_TRIP:
            assert await echo.acall("echo", {"value": value}) == value
        assert await echo.acall("later", {"value": b"late", "delay_ms": 20}) == b"late"
        with pytest.raises(redkeeper.LockLost):
            await echo.acall("fail", {"code": "ERR_RK_LOCK_LOST"})
        with pytest.raises(redkeeper.InvalidArgument, match=r"^args\.value:"):
            await echo.acall("later", {"delay_ms": 1, "value": {1, 2}})
        with pytest.raises(redkeeper.InvalidArgument, match=r"^args\.value\[0\]"):
            await echo.acall("echo", {"value": [set()]})
        assert bridge_for(asyncio.get_running_loop()).pending == 0


async def test_async_inline_completion_does_not_use_the_bridge() -> None:
    async with redkeeper.AsyncClient("memory://") as client:
        echo = PrimitiveHandle(client, "debug_echo", {})
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        echo._native._call_async(bridge_for(loop), future, "echo", {"value": 5})
        assert future.done() and future.result() == 5  # settled before _call_async returned
        # The "later" ops below take 300 ms: long enough that none completes before the checks
        # that it is still pending (10 and 5 ms raced a stalled box), short enough to await.
        later = loop.create_future()
        echo._native._call_async(bridge_for(loop), later, "later", {"value": 6, "delay_ms": 300})
        assert not later.done()
        assert bridge_for(loop).pending == 1
        assert await later == 6
        assert bridge_for(loop).pending == 0
        # acall's fast form: _start returns the value itself when the op completed inline...
        assert echo._native._start("echo", {"value": [7]}) == [7]
        with pytest.raises(redkeeper.TokenRevoked):
            echo._native._start("fail", {"code": "ERR_RK_TOKEN_REVOKED"})
        # ...else a PendingCall that acall attaches the loop's future to.
        pending = echo._native._start("later", {"value": 8, "delay_ms": 300})
        assert type(pending) is PendingCall
        fut = loop.create_future()
        pending._attach(bridge_for(loop), fut)
        assert await fut == 8
        with pytest.raises(redkeeper.InternalError):
            pending._attach(bridge_for(loop), loop.create_future())
        # A PendingCall whose op completed before the attach settles the future at once.
        pending = echo._native._start("later", {"value": 9, "delay_ms": 300})
        assert type(pending) is PendingCall
        await asyncio.sleep(1.0)  # ample time for the op to complete before the attach
        fut = loop.create_future()
        pending._attach(bridge_for(loop), fut)
        assert fut.done() and fut.result() == 9
        assert bridge_for(loop).pending == 0


async def test_cancelled_await_leaves_the_bridge_working(url: str) -> None:
    async with redkeeper.AsyncClient(url) as client:
        echo = PrimitiveHandle(client, "debug_echo", {})
        # 300 ms ops: still running when cancelled 10-20 ms in, even on a stalled box.
        task = asyncio.ensure_future(echo.acall("later", {"value": 1, "delay_ms": 300}))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(echo.acall("later", {"value": 2, "delay_ms": 300}), 0.02)
        # Both completions arrive for cancelled futures and are dropped: until then they count as
        # pending (a fixed 0.3 s wait raced them on a busy box), after that nothing may be left.
        bridge = bridge_for(asyncio.get_running_loop())
        deadline = time.monotonic() + 5
        while bridge.pending and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert bridge.pending == 0
        assert await echo.acall("later", {"value": 3, "delay_ms": 5}) == 3
        assert await echo.acall("echo", {"value": 4}) == 4
        assert bridge_for(asyncio.get_running_loop()).pending == 0


async def test_ten_thousand_concurrent_calls_settle(url: str) -> None:
    async with redkeeper.AsyncClient(url) as client:
        echo = PrimitiveHandle(client, "debug_echo", {})
        calls = []
        for i in range(10_000):
            if i % 3 == 0:
                calls.append(echo.acall("later", {"value": i, "delay_ms": i % 7}))
            elif i % 3 == 1:
                calls.append(echo.acall("eval", {"script": "return tonumber(ARGV[1])", "args": [i]}))
            else:
                calls.append(echo.acall("echo", {"value": i}))
        results = await asyncio.wait_for(asyncio.gather(*calls), 60)
        assert results == list(range(10_000))


def test_close_settles_pending_sync_call(url: str) -> None:
    client = redkeeper.Client(url)
    echo = PrimitiveHandle(client, "debug_echo", {})
    outcome: list = []

    def waiter() -> None:
        try:
            outcome.append(echo.call("later", {"value": 1, "delay_ms": 60_000}))
        except redkeeper.RedkeeperError as e:
            outcome.append(e)

    t = threading.Thread(target=waiter)
    t.start()
    time.sleep(0.1)
    client.close()
    t.join(5)
    assert not t.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], redkeeper.ClientClosed)
    with pytest.raises(redkeeper.ClientClosed):
        echo.call("echo", {"value": 1})
    with pytest.raises(redkeeper.ClientClosed):
        PrimitiveHandle(client, "debug_echo", {})


async def test_close_settles_pending_async_calls(url: str) -> None:
    client = redkeeper.AsyncClient(url)
    echo = PrimitiveHandle(client, "debug_echo", {})
    pending = [asyncio.ensure_future(echo.acall("later", {"value": i, "delay_ms": 60_000})) for i in range(50)]
    await asyncio.sleep(0.05)
    await client.aclose()
    results = await asyncio.wait_for(asyncio.gather(*pending, return_exceptions=True), 5)
    assert all(isinstance(r, redkeeper.ClientClosed) for r in results), results


def test_parse_duration_ms_is_the_core_parser() -> None:
    from redkeeper._native import parse_duration_ms

    assert parse_duration_ms("15m") == 900_000
    assert parse_duration_ms("1h", "ttl") == 3_600_000
    assert parse_duration_ms("500ms") == 500
    assert parse_duration_ms("1.5") == 1500
    with pytest.raises(redkeeper.InvalidArgument, match="^ttl:"):
        parse_duration_ms("soon", "ttl")
    with pytest.raises(redkeeper.InvalidArgument, match="^ttl:"):
        parse_duration_ms(5, "ttl")  # type: ignore[arg-type]
