"""Runs every case of the shared vectors (tests/vectors/*.json) through Client and AsyncClient on
memory:// with a ManualClock: the same inputs and outputs the C++ and Node runners check."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

import pytest

import redkeeper
from conftest import load_vectors

LIMITER = load_vectors("limiter.json")["cases"]
PARSE = load_vectors("parse.json")


def _case_id(case: Dict[str, Any]) -> str:
    return case["name"]


def _limiter_kwargs(spec: Dict[str, Any]) -> Dict[str, Any]:
    """The vector's limiter as Python keyword arguments; durations go in as seconds."""
    kwargs: Dict[str, Any] = {"algorithm": spec["algorithm"], "limit": spec["limit"]}
    window_ms = spec.get("window_ms")
    kwargs["window"] = window_ms / 1000 if isinstance(window_ms, (int, float)) else window_ms
    block_ms = spec.get("block_duration_ms", 0)
    if block_ms:
        kwargs["block_duration"] = block_ms / 1000 if isinstance(block_ms, (int, float)) else block_ms
    return kwargs


def _check(result: redkeeper.RateLimitResult, expect: Dict[str, Any], where: str) -> None:
    got = {
        "allowed": result.allowed,
        "limit": result.limit,
        "remaining": result.remaining,
        "reset_after_ms": result.reset_after_ms,
        "retry_after_ms": result.retry_after_ms,
        "degraded": result.degraded,
    }
    want = {k: expect[k] for k in got if k in expect}
    assert {k: got[k] for k in want} == want, where
    # The seconds views are the millisecond values / 1000, and retry_after is 0 when allowed.
    assert result.reset_after == pytest.approx(result.reset_after_ms / 1000), where
    assert result.retry_after == pytest.approx(result.retry_after_ms / 1000), where
    assert bool(result) is result.allowed, where
    if result.allowed:
        assert result.retry_after == 0.0, where


def _step_call(step: Dict[str, Any]) -> Tuple[str, List[Any]]:
    op = step["op"]
    key = step.get("key")
    if op == "hit":
        return "hit", [key, step.get("cost", 1)]
    if op in ("peek", "reset"):
        return op, [key]
    if op == "refund":
        return "refund", [key, step["amount"]]
    if op == "block":
        return "block", [key, step["ms"] / 1000]
    raise AssertionError(f"unknown vector op {op!r}")


def _expect_error(step: Dict[str, Any], exc: BaseException, where: str) -> None:
    assert isinstance(exc, redkeeper.RedkeeperError), f"{where}: {exc!r}"
    assert exc.code == step["error"], f"{where}: {exc!r}"
    if exc.code == "ERR_RK_INVALID_ARGUMENT":
        assert isinstance(exc, ValueError)


def _outcome(step: Dict[str, Any], result: Optional[redkeeper.RateLimitResult], where: str) -> None:
    assert "error" not in step, f"{where}: expected {step['error']}, got {result!r}"
    if "expect" in step:
        assert result is not None, where
        _check(result, step["expect"], where)


def run_case_sync(client: redkeeper.Client, clock: redkeeper.ManualClock, case: Dict[str, Any]) -> None:
    """Plays one limiter vector on `client`, whose clock is `clock` (set to the case's start)."""
    name = case["limiter"].get("name", "vec")
    if "config_error" in case:
        with pytest.raises(redkeeper.RedkeeperError) as info:
            client.limiter(name, **_limiter_kwargs(case["limiter"]))
        assert info.value.code == case["config_error"]
        return
    limiter = client.limiter(name, **_limiter_kwargs(case["limiter"]))
    assert limiter.window_ms == case["limiter"]["window_ms"]
    for i, step in enumerate(case["steps"]):
        where = f"{case['name']} step {i} {step}"
        if step["op"] == "advance":
            clock.advance(step["ms"])
            continue
        method, args = _step_call(step)
        try:
            result = getattr(limiter, method)(*args)
        except redkeeper.RedkeeperError as exc:
            if "error" not in step:
                raise
            _expect_error(step, exc, where)
            continue
        _outcome(step, result, where)


async def run_case_async(
    client: redkeeper.AsyncClient, clock: redkeeper.ManualClock, case: Dict[str, Any]
) -> None:
    """The same as run_case_sync, through the asyncio API."""
    name = case["limiter"].get("name", "vec")
    if "config_error" in case:
        with pytest.raises(redkeeper.RedkeeperError) as info:
            client.limiter(name, **_limiter_kwargs(case["limiter"]))
        assert info.value.code == case["config_error"]
        return
    limiter = client.limiter(name, **_limiter_kwargs(case["limiter"]))
    for i, step in enumerate(case["steps"]):
        where = f"{case['name']} step {i} {step}"
        if step["op"] == "advance":
            clock.advance(step["ms"])
            continue
        method, args = _step_call(step)
        try:
            result = await getattr(limiter, method)(*args)
        except redkeeper.RedkeeperError as exc:
            if "error" not in step:
                raise
            _expect_error(step, exc, where)
            continue
        _outcome(step, result, where)


@pytest.mark.parametrize("case", LIMITER, ids=_case_id)
def test_limiter_vector_sync(case: Dict[str, Any]) -> None:
    clock = redkeeper.ManualClock(start_ms=case.get("start_ms", 1_700_000_000_000))
    with redkeeper.Client("memory://", clock=clock) as client:
        run_case_sync(client, clock, case)


@pytest.mark.parametrize("case", LIMITER, ids=_case_id)
async def test_limiter_vector_async(case: Dict[str, Any]) -> None:
    clock = redkeeper.ManualClock(start_ms=case.get("start_ms", 1_700_000_000_000))
    async with redkeeper.AsyncClient("memory://", clock=clock) as client:
        await run_case_async(client, clock, case)


@pytest.mark.parametrize("case", PARSE["durations"], ids=lambda c: repr(c["input"]))
def test_duration_vector(case: Dict[str, Any]) -> None:
    """Durations as a limiter window: the public path a user's string takes."""
    with redkeeper.Client("memory://") as client:
        if "error" in case:
            with pytest.raises(redkeeper.InvalidArgument) as info:
                client.limiter("d", limit=1, window=case["input"])
            assert info.value.code == case["error"]
            assert "window" in str(info.value)
        else:
            assert client.limiter("d", limit=1, window=case["input"]).window_ms == case["ms"]


@pytest.mark.parametrize("case", PARSE["rates"], ids=lambda c: repr(c["input"]))
def test_rate_vector(case: Dict[str, Any]) -> None:
    with redkeeper.Client("memory://") as client:
        if "error" in case:
            with pytest.raises(redkeeper.InvalidArgument) as info:
                client.limiter("r", rate=case["input"])
            assert info.value.code == case["error"]
            assert "rate" in str(info.value)
        else:
            limiter = client.limiter("r", rate=case["input"])
            assert (limiter.limit, limiter.window_ms) == (case["limit"], case["window_ms"])


@pytest.mark.parametrize("case", PARSE["headers"], ids=lambda c: f"{c['options']}-{c['result']}")
def test_header_vector(case: Dict[str, Any]) -> None:
    r, policy, options = case["result"], case["policy"], case["options"]
    result = redkeeper.RateLimitResult(
        allowed=r["allowed"],
        limit=r["limit"],
        remaining=r["remaining"],
        reset_after_ms=r["reset_after_ms"],
        retry_after_ms=r.get("retry_after_ms", 0),
        degraded=r.get("degraded", False),
        name=policy["name"],
        window_ms=policy["window_ms"],
    )
    headers = result.headers(
        standard=options.get("standard", "draft-7"),
        legacy=options.get("legacy", False),
        now_ms=options.get("now_ms"),
    )
    assert list(headers.items()) == [tuple(pair) for pair in case["expect"]]
