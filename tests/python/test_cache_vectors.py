"""tests/vectors/cache.json through the generic primitive handle, on memory:// (ManualClock) and on a
private redis-server (advance_ms sleeps there): the same core ops and results Node and C++ check."""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path
from typing import Any, Dict

import pytest

import redkeeper
from redkeeper._primitive import PrimitiveHandle

from conftest import BACKENDS, backend_url

VECTORS = Path(os.environ.get("REDKEEPER_VECTORS_DIR", Path(__file__).parent.parent / "vectors"))
DATA = json.loads((VECTORS / "cache.json").read_text())


def to_native(v: Any) -> Any:
    if isinstance(v, dict):
        if set(v) == {"$bytes"}:
            return bytes.fromhex(v["$bytes"])
        return {k: to_native(x) for k, x in v.items()}
    if isinstance(v, list):
        return [to_native(x) for x in v]
    return v


def resolve(v: Any, kept: Dict[str, Any]) -> Any:
    if isinstance(v, str) and v.startswith("$") and "." in v:
        name, field = v[1:].split(".", 1)
        return kept[name][field]
    if isinstance(v, dict):
        return {k: resolve(x, kept) for k, x in v.items()}
    return v


def scaled(v: Any, u: int) -> Any:
    """A duration of the vectors (ms) stretched u times; strings, zero and negative values (the bad
    input cases) are left as they are."""
    return v * u if isinstance(v, int) and not isinstance(v, bool) and v > 0 else v


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.mark.parametrize("case", DATA["cases"], ids=[c["name"] for c in DATA["cases"]])
def test_vector(case: Dict[str, Any], backend: str, request: pytest.FixtureRequest) -> None:
    clock = redkeeper.ManualClock(start_ms=1_700_000_000_000)
    # On Redis the TTLs are real: a value must still be there after a few round trips of real time
    # on a busy box, so every duration of the case (ttl_ms, default_ttl_ms, advance_ms) is x4 there
    # (150-200 ms of slack at x1 was too little). memory:// keeps the exact vector values.
    u = 1 if backend == "memory" else 4
    config = dict(case["config"])
    if "default_ttl_ms" in config:
        config["default_ttl_ms"] = scaled(config["default_ttl_ms"], u)
    if backend == "memory":
        client = redkeeper.Client("memory://", clock=clock)
    else:
        client = redkeeper.Client(backend_url(request, backend), prefix="v" + uuid.uuid4().hex[:8])
    try:
        handle = PrimitiveHandle(client, "cache", config)
        kept: Dict[str, Any] = {}
        for i, step in enumerate(case["steps"]):
            if "advance_ms" in step:
                if backend == "memory":
                    clock.advance(step["advance_ms"])
                else:
                    time.sleep(step["advance_ms"] * u / 1000)
                continue
            args = to_native(resolve(step["args"], kept))
            if isinstance(args, dict) and "ttl_ms" in args:
                args = {**args, "ttl_ms": scaled(args["ttl_ms"], u)}
            where = f"step {i} ({step['op']})"
            if "error" in step:
                with pytest.raises(redkeeper.RedkeeperError) as info:
                    handle.call(step["op"], args)
                assert info.value.code == step["error"], where
                continue
            got = handle.call(step["op"], args)
            want = to_native(step["result"])
            if step["op"] == "claim":
                assert isinstance(got, dict), where
                assert {k: got.get(k) for k in want} == want, where
            elif step["op"] == "stats":
                assert got == pytest.approx(want), where
            else:
                assert got == want, where
            if "keep" in step:
                kept[step["keep"]] = got
    finally:
        client.close()


@pytest.mark.parametrize("bad", DATA["config_errors"], ids=lambda b: json.dumps(b["config"]))
def test_config_errors(bad: Dict[str, Any]) -> None:
    with redkeeper.Client("memory://") as client:
        with pytest.raises(redkeeper.InvalidArgument):
            PrimitiveHandle(client, "cache", bad["config"])
