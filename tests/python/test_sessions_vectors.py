"""tests/vectors/sessions.json through the Python binding (raw core ops on memory:// with a
ManualClock); jest and the C++ suite run the same file."""

from __future__ import annotations

import json
from typing import Any, Dict

import pytest

import redkeeper
from redkeeper._primitive import PrimitiveHandle

from conftest import load_vectors

VECTORS = load_vectors("sessions.json")


def _resolve(value: Any, saved: Dict[str, str]) -> Any:
    if isinstance(value, str) and value.startswith("$") and value[1:] in saved:
        return saved[value[1:]]
    if isinstance(value, dict):
        return {k: _resolve(v, saved) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, saved) for v in value]
    return value


def _expected(value: Any, start_ms: int) -> Any:
    if isinstance(value, str) and value.startswith("$T+"):
        return start_ms + int(value[3:])
    if isinstance(value, dict):
        return {k: _expected(v, start_ms) for k, v in value.items()}
    if isinstance(value, list):
        return [_expected(v, start_ms) for v in value]
    return value


def _drop(value: Any, keys: Any) -> Any:
    if isinstance(value, list):
        return [_drop(v, keys) for v in value]
    if isinstance(value, dict):
        return {k: _drop(v, keys) for k, v in value.items() if k not in keys}
    return value


@pytest.mark.parametrize("case", VECTORS["cases"], ids=[c["name"] for c in VECTORS["cases"]])
def test_sessions_vector(case: Dict[str, Any]) -> None:
    start = VECTORS["start_ms"]
    clock = redkeeper.ManualClock(start_ms=start)
    with redkeeper.Client("memory://", clock=clock) as client:
        handle = PrimitiveHandle(client, "sessions", case["config"])
        saved: Dict[str, str] = {}
        for i, step in enumerate(case["steps"]):
            where = f"step {i}: {step}"
            if "advance_ms" in step:
                clock.advance(step["advance_ms"])
                continue
            args = _resolve(step["args"], saved)
            if "expect_error" in step:
                with pytest.raises(redkeeper.RedkeeperError) as info:
                    handle.call(step["op"], args)
                assert info.value.code == step["expect_error"], where
                continue
            result = handle.call(step["op"], args)
            if "save_as" in step:
                assert isinstance(result, str), where
                saved[step["save_as"]] = result
            result = _drop(result, step.get("ignore", []))
            if "expect" in step:
                assert result == _expected(step["expect"], start), where
            if "expect_json" in step:
                assert isinstance(result, str) and json.loads(result) == step["expect_json"], where
            if "expect_len" in step:
                assert len(result) == step["expect_len"], where
