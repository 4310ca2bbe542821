"""Client.hit_many (tests/vectors/multi.json, sync and asyncio, memory:// and Redis), all or nothing
across processes on Redis, the local block cache, and the client_ip / ip_key helpers
(tests/vectors/client_ip.json)."""

from __future__ import annotations

import multiprocessing
from typing import Any, Dict, List, Tuple

import pytest

import redkeeper
from conftest import evalsha_calls, load_vectors
from test_vectors import _check, _expect_error, _limiter_kwargs

MULTI = load_vectors("multi.json")["cases"]
CLIENT_IP = load_vectors("client_ip.json")

_prefixes = iter(range(10**9))


def _clients(url: str, case: Dict[str, Any], cls: Any) -> Tuple[Any, Any, redkeeper.ManualClock]:
    clock = redkeeper.ManualClock(case.get("start_ms", 1_700_000_000_000))
    prefix = f"pm{next(_prefixes)}"  # the foreign client shares it: only identity makes it foreign
    return cls(url, prefix, clock=clock), cls(url, prefix, clock=clock), clock


def _limiters(client: Any, other: Any, case: Dict[str, Any]) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    mine = {n: client.limiter(n, **_limiter_kwargs(s)) for n, s in case["limiters"].items()}
    foreign = {n: other.limiter(n, **_limiter_kwargs(s)) for n, s in case["limiters"].items()}
    return mine, foreign


def _checks(step: Dict[str, Any], mine: Dict[str, Any], foreign: Dict[str, Any]) -> List[Any]:
    out: List[Any] = []
    for c in step["checks"]:
        limiter = (foreign if c.get("foreign") else mine)[c["limiter"]]
        out.append((limiter, c["key"], c["cost"]) if "cost" in c else (limiter, c["key"]))
    return out


def _check_multi(result: redkeeper.MultiRateLimitResult, step: Dict[str, Any], where: str) -> None:
    assert "error" not in step, f"{where}: expected {step['error']}, got {result!r}"
    expect = step["expect"]
    assert result.allowed is expect["allowed"], where
    assert bool(result) is expect["allowed"], where
    assert result.deciding_index == expect["deciding"], where
    assert result.deciding is result.results[expect["deciding"]], where
    assert len(result.results) == len(step["checks"]), where
    for i, want in enumerate(expect.get("results", [])):
        _check(result.results[i], want, f"{where} result {i}")


def _single(limiter: Any, step: Dict[str, Any]) -> Any:
    op, key = step["op"], step["key"]
    if op == "hit":
        return limiter.hit(key, step.get("cost", 1))
    if op == "peek":
        return limiter.peek(key)
    if op == "reset":
        return limiter.reset(key)
    if op == "refund":
        return limiter.refund(key, step["amount"])
    if op == "block":
        return limiter.block(key, step["ms"] / 1000)
    raise AssertionError(op)


def run_sync(url: str, case: Dict[str, Any]) -> None:
    client, other, clock = _clients(url, case, redkeeper.Client)
    with client, other:
        mine, foreign = _limiters(client, other, case)
        for i, step in enumerate(case["steps"]):
            where = f"{case['name']} step {i}"
            if step["op"] == "advance":
                clock.advance(step["ms"])
                continue
            try:
                if step["op"] == "hit_many":
                    result = client.hit_many(_checks(step, mine, foreign))
                    _check_multi(result, step, where)
                    continue
                result = _single(mine[step["limiter"]], step)
            except redkeeper.RedkeeperError as exc:
                if "error" not in step:
                    raise
                _expect_error(step, exc, where)
                continue
            assert "error" not in step, where
            if "expect" in step:
                _check(result, step["expect"], where)


async def run_async(url: str, case: Dict[str, Any]) -> None:
    client, other, clock = _clients(url, case, redkeeper.AsyncClient)
    async with client, other:
        mine, foreign = _limiters(client, other, case)
        for i, step in enumerate(case["steps"]):
            where = f"{case['name']} step {i} (async)"
            if step["op"] == "advance":
                clock.advance(step["ms"])
                continue
            try:
                if step["op"] == "hit_many":
                    result = await client.hit_many(_checks(step, mine, foreign))
                    _check_multi(result, step, where)
                    continue
                result = await _single(mine[step["limiter"]], step)
            except redkeeper.RedkeeperError as exc:
                if "error" not in step:
                    raise
                _expect_error(step, exc, where)
                continue
            assert "error" not in step, where
            if "expect" in step:
                _check(result, step["expect"], where)


@pytest.mark.parametrize("case", MULTI, ids=lambda c: c["name"])
def test_multi_vectors_memory(case: Dict[str, Any]) -> None:
    run_sync("memory://", case)


@pytest.mark.parametrize("case", MULTI, ids=lambda c: c["name"])
async def test_multi_vectors_memory_async(case: Dict[str, Any]) -> None:
    await run_async("memory://", case)


@pytest.mark.parametrize("case", MULTI, ids=lambda c: c["name"])
def test_multi_vectors_redis(redis_server: Any, case: Dict[str, Any]) -> None:
    run_sync(redis_server.url, case)


@pytest.mark.parametrize("case", MULTI, ids=lambda c: c["name"])
async def test_multi_vectors_redis_async(redis_server: Any, case: Dict[str, Any]) -> None:
    await run_async(redis_server.url, case)


def test_hit_many_headers_come_from_the_deciding_result() -> None:
    with redkeeper.Client("memory://") as rk:
        minute = rk.limiter("minute", rate="2/minute")
        day = rk.limiter("day", rate="100/day")
        rk.hit_many([(minute, "ip"), (day, "ip")])
        rk.hit_many([(minute, "ip"), (day, "ip")])
        rejected = rk.hit_many([[minute, "ip"], [day, "ip"]])  # lists work as well as tuples
        assert not rejected.allowed and rejected.deciding is rejected.results[0]
        assert rejected.headers() == rejected.results[0].headers()
        assert "Retry-After" in dict(rejected.headers())
        assert rejected.retry_after == rejected.results[0].retry_after
        assert day.peek("ip").remaining == 98


@pytest.mark.parametrize(
    "checks",
    [
        "not a list",
        [("not a limiter", "k")],
        [(None, "k", 1)],
        [("k",)],
        [("a", "b", "c", "d")],
    ],
)
def test_hit_many_bad_checks_raise_invalid_argument(checks: Any) -> None:
    with redkeeper.Client("memory://") as rk:
        with pytest.raises(redkeeper.InvalidArgument):
            rk.hit_many(checks)


def test_hit_many_on_a_closed_client() -> None:
    rk = redkeeper.Client("memory://")
    limiter = rk.limiter("x", rate="1/second")
    rk.close()
    with pytest.raises(redkeeper.ClientClosed):
        rk.hit_many([(limiter, "k")])


def _hammer(url: str, n: int, out: "multiprocessing.Queue[int]") -> None:
    admitted = 0
    with redkeeper.Client(url, "procs", command_timeout=10) as rk:
        small = rk.limiter("small", limit=40, window="365d", algorithm="sliding_log")
        large = rk.limiter("large", limit=100, window="365d", algorithm="gcra")
        for i in range(n):
            cost = 1 + i % 2
            r = rk.hit_many([(small, "shared", cost), (large, "shared", cost)])
            assert not r.degraded
            if r.allowed:
                admitted += cost
    out.put(admitted)


def test_all_or_nothing_across_processes(redis_server: Any) -> None:
    ctx = multiprocessing.get_context("spawn")
    out: "multiprocessing.Queue[int]" = ctx.Queue()
    procs = [ctx.Process(target=_hammer, args=(redis_server.url, 60, out)) for _ in range(4)]
    for p in procs:
        p.start()
    admitted = sum(out.get(timeout=60) for _ in procs)
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    with redkeeper.Client(redis_server.url, "procs") as rk:
        small = rk.limiter("small", limit=40, window="365d", algorithm="sliding_log")
        large = rk.limiter("large", limit=100, window="365d", algorithm="gcra")
        assert 39 <= admitted <= 40  # a cost of 2 may not fit the last unit
        assert 40 - small.peek("shared").remaining == admitted
        assert 100 - large.peek("shared").remaining == admitted  # rejected requests took nothing


async def test_local_block_cache_spares_redis(redis_server: Any) -> None:
    clock = redkeeper.ManualClock()
    async with redkeeper.AsyncClient(redis_server.url, "pbc", clock=clock) as rk:
        cached = rk.limiter("login", limit=3, window=60, local_block_cache=True)
        plain = rk.limiter("login", limit=3, window=60)
        for _ in range(3):
            assert (await cached.hit("attacker")).allowed
        first = await cached.hit("attacker")
        assert not first.allowed
        redis_server.command("CONFIG", "RESETSTAT")
        for _ in range(500):
            clock.advance(10)
            r = await cached.hit("attacker")
            assert not r.allowed
        assert evalsha_calls(redis_server) == 0
        truth = await plain.peek("attacker")
        assert r.retry_after_ms == truth.retry_after_ms == first.retry_after_ms - 5000
        await cached.reset("attacker")
        assert (await cached.hit("attacker")).allowed


def test_local_block_cache_option_is_checked() -> None:
    with redkeeper.Client("memory://") as rk:
        for bad in (-1, "yes", 1.5):
            with pytest.raises(redkeeper.InvalidArgument):
                rk.limiter("x", limit=1, window=1, local_block_cache=bad)
        assert rk.limiter("x", limit=1, window=1, local_block_cache=0).hit("k").allowed


def _trusted(v: Dict[str, Any]) -> Any:
    return v.get("trusted")


@pytest.mark.parametrize("v", CLIENT_IP["client_ip"], ids=lambda v: f"{v['remote']}|{v['xff']}|{v.get('trusted')}")
def test_client_ip_vectors(v: Dict[str, Any]) -> None:
    if "error" in v:
        with pytest.raises(redkeeper.InvalidArgument):
            redkeeper.client_ip(v["remote"], v["xff"], _trusted(v))
    else:
        assert redkeeper.client_ip(v["remote"], v["xff"], _trusted(v)) == v["expect"]


@pytest.mark.parametrize("v", CLIENT_IP["ip_key"], ids=lambda v: f"{v['ip']}/{v.get('subnet', 56)}")
def test_ip_key_vectors(v: Dict[str, Any]) -> None:
    if "error" in v:
        with pytest.raises(redkeeper.InvalidArgument):
            redkeeper.ip_key(v["ip"], v.get("subnet", 56))
    else:
        assert redkeeper.ip_key(v["ip"], v.get("subnet", 56)) == v["expect"]


def test_client_ip_python_forms() -> None:
    # Several X-Forwarded-For headers as a list; a single trusted entry as a str; no header.
    assert redkeeper.client_ip("127.0.0.1", ["6.6.6.6", "1.2.3.4"], "loopback") == "1.2.3.4"
    assert redkeeper.client_ip("127.0.0.1", None, "loopback") == "127.0.0.1"
    assert redkeeper.client_ip("10.0.0.1", "1.2.3.4") == "10.0.0.1"
    assert redkeeper.ip_key("2001:db8::1", None) == "2001:db8::1"
    with pytest.raises(redkeeper.InvalidArgument):
        redkeeper.client_ip("127.0.0.1", "1.2.3.4", True)
    with pytest.raises(redkeeper.InvalidArgument):
        redkeeper.client_ip(None, "1.2.3.4")  # type: ignore[arg-type]
