"""Shared lock vectors (tests/vectors/locks.json) through the core "lock" primitive, memory and Redis."""

from __future__ import annotations

import uuid
from typing import Any, Dict

import pytest

import redkeeper
from redkeeper._primitive import PrimitiveHandle
from conftest import BACKENDS, backend_url, load_vectors

DATA = load_vectors("locks.json")


@pytest.fixture(params=BACKENDS)
def client(request: pytest.FixtureRequest) -> Any:
    url = backend_url(request, request.param)
    c = redkeeper.Client(url)
    yield c
    c.close()


@pytest.mark.parametrize("case", DATA["cases"], ids=[c["name"] for c in DATA["cases"]])
def test_vector(case: Dict[str, Any], client: redkeeper.Client) -> None:
    name = "vec-" + uuid.uuid4().hex[:10]
    handles = {h: PrimitiveHandle(client, "lock", {"name": name, **cfg}) for h, cfg in case["handles"].items()}
    fence = 0
    for i, step in enumerate(case["steps"]):
        expect = step["expect"]
        where = f"step {i} {step['op']}"
        if "error" in expect:
            with pytest.raises(redkeeper.RedkeeperError) as info:
                handles[step["handle"]].call(step["op"], step.get("args"))
            assert info.value.code == expect["error"], where
            continue
        r = handles[step["handle"]].call(step["op"], step.get("args"))
        assert isinstance(r, dict), where
        for k, v in expect.get("result", {}).items():
            assert r[k] == v, (where, k, r)
        if "fence" in expect:
            if expect["fence"] != "first":
                assert r["fencing_token"] == fence + int(expect["fence"][1:]), where
            fence = r["fencing_token"]


@pytest.mark.parametrize("bad", DATA["config_errors"], ids=lambda b: str(b["config"]))
def test_config_errors(bad: Dict[str, Any]) -> None:
    with redkeeper.Client("memory://") as c:
        with pytest.raises(redkeeper.InvalidArgument, match="^" + bad["param"] + ":"):
            PrimitiveHandle(c, "lock", bad["config"])
