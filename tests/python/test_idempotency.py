"""client.idempotency on memory:// (ManualClock) and on a private redis-server, sync and asyncio: the
shared vectors, begin/complete/abandon/extend, once() for webhooks, a crashed process freeing its key
after the marker TTL, and bad input."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import time
import uuid
from typing import Any, Dict, Iterator, List

import pytest

import redkeeper
from redkeeper._primitive import PrimitiveHandle
from redkeeper.idempotency import AsyncIdempotency, Idempotency, IdempotencyBegin, OnceResult

from conftest import BACKENDS, backend_url, load_vectors

T0 = 1_700_000_000_000


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
    return "pi" + uuid.uuid4().hex[:10]


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


# ---- shared vectors -------------------------------------------------------------------------------

def _substitute(args: Dict[str, Any], saved: Dict[str, Any]) -> Dict[str, Any]:
    return {k: saved[v[1:]] if isinstance(v, str) and v.startswith("@") else v for k, v in args.items()}


def run_vector_case(case: Dict[str, Any], kind: str, url: str) -> None:
    """One case of idempotency.json / otp.json through the generic handle (core args, core results)."""
    on_redis = url != "memory://"
    clock = redkeeper.ManualClock(start_ms=case.get("start_ms", T0))
    c = redkeeper.Client(url, prefix=fresh_prefix()) if on_redis else redkeeper.Client(url, clock=clock)
    try:
        if "config_error" in case:
            with pytest.raises(redkeeper.RedkeeperError) as info:
                PrimitiveHandle(c, kind, case["config"])
            assert info.value.code == case["config_error"]
            return
        handle = PrimitiveHandle(c, kind, case["config"])
        saved: Dict[str, Any] = {}
        for i, step in enumerate(case["steps"]):
            where = f"{case['name']} step {i}"
            if step["op"] == "advance":
                clock.advance(step["ms"])
                continue
            args = _substitute(step.get("args", {}), saved)
            if "error" in step:
                with pytest.raises(redkeeper.RedkeeperError) as info:
                    handle.call(step["op"], args)
                assert info.value.code == step["error"], where
                continue
            result = handle.call(step["op"], args)
            assert isinstance(result, dict), where
            for field, want in step["expect"].items():
                got = result[field]
                if on_redis and field.endswith("_ms") and isinstance(want, int) and isinstance(got, int):
                    assert want - 1000 <= got <= want, f"{where}: {field}={got}, want {want}"
                else:
                    assert got == want, f"{where}: {field}={got!r}, want {want!r}"
            if "as" in step:
                saved[step["as"]] = result.get("token", result.get("code"))
    finally:
        c.close()


def vector_params(file: str) -> List[Any]:
    """(case, backend) pairs: cases needing the injected clock run on memory only (Redis expires keys
    on its own clock)."""
    return [pytest.param(case, where, id=f"{where}: {case['name']}")
            for case in load_vectors(file)["cases"] for where in BACKENDS
            if not (case.get("clock") and where != "memory")]


@pytest.mark.parametrize("case,where", vector_params("idempotency.json"))
def test_vectors(case: Dict[str, Any], where: str, request: pytest.FixtureRequest) -> None:
    url = backend_url(request, where)
    run_vector_case(case, "idempotency", url)


# ---- the typed API --------------------------------------------------------------------------------

def test_sync_flow_and_result_types(client: redkeeper.Client) -> None:
    idem = client.idempotency
    assert isinstance(idem, Idempotency)
    assert client.idempotency is idem
    b = idem.begin("order-1", "fp")
    assert isinstance(b, IdempotencyBegin) and b.is_new and b.token
    dup = idem.begin("order-1", "fp")
    assert dup.in_progress and 59 < dup.retry_after <= 60
    assert idem.begin("order-1", "other").mismatch
    response = {"status": 201, "headers": [["x-id", "7"]], "body": b"\x00binary\xff"}
    idem.complete("order-1", b.token, response)
    again = idem.begin("order-1", "fp")
    assert again.completed and again.response == response
    assert isinstance(again.response["body"], bytes)


async def test_async_flow(aclient: redkeeper.AsyncClient) -> None:
    idem = aclient.idempotency
    assert isinstance(idem, AsyncIdempotency)
    b = await idem.begin("k", b"\x01\x02")
    assert b.is_new
    assert await idem.extend("k", b.token, lock_ttl=120) is True
    assert (await idem.begin("k", b"\x01\x02")).retry_after > 60
    assert await idem.abandon("k", b.token) is True
    b2 = await idem.begin("k", b"\x01\x02")
    assert b2.is_new and b2.token != b.token
    with pytest.raises(redkeeper.LockNotOwner):
        await idem.complete("k", b.token, "stale")
    await idem.complete("k", b2.token, ["done", 1, 2.5, None, True])
    assert (await idem.begin("k", b"\x01\x02")).response == ["done", 1, 2.5, None, True]


def test_with_options_is_a_new_namespace(client: redkeeper.Client) -> None:
    a = client.idempotency
    b = a.with_options(name="webhooks", ttl="1h", lock_ttl=5)
    assert isinstance(b, Idempotency) and b.name == "webhooks" and a.name == "default"
    t = a.begin("same").token
    assert t is not None
    assert b.begin("same").is_new  # another name: another key
    with pytest.raises(redkeeper.InvalidArgument):
        a.with_options(colour="red")


def test_crashed_request_frees_its_key_after_lock_ttl(
    backend: str, client: redkeeper.Client, clock: redkeeper.ManualClock
) -> None:
    # memory:// keeps its exact fake-clock values; on Redis the marker TTL is real and the second
    # begin must land inside it on a busy box: 1.2 s there, not 0.3 s.
    idem = client.idempotency.with_options(lock_ttl=0.3 if backend == "memory" else 1.2)
    crashed = idem.begin("k", "fp")
    assert crashed.is_new  # ... and its process dies without complete or abandon
    assert idem.begin("k", "fp").in_progress
    if backend == "memory":
        clock.advance(301)
    else:
        time.sleep(1.35)
    retry = idem.begin("k", "fp")
    assert retry.is_new
    with pytest.raises(redkeeper.LockNotOwner):
        idem.complete("k", crashed.token, "late")


def test_a_crashed_process_frees_its_key(redis_server: Any) -> None:
    """A real crash: another process claims a key on Redis and exits without completing."""
    prefix = fresh_prefix()
    child = textwrap.dedent(f"""
        import os, redkeeper
        c = redkeeper.Client({redis_server.url!r}, prefix={prefix!r})
        b = c.idempotency.with_options(lock_ttl=2.0).begin("payment-9", "fp")
        assert b.is_new
        os._exit(3)  # no complete, no abandon, no close
    """)
    env = dict(os.environ)
    proc = subprocess.run([sys.executable, "-c", child], env=env, timeout=60)
    assert proc.returncode == 3
    # The child's marker lives 2 s (0.5 s could run out while a busy box ended the child and
    # connected this client): still held at the first look, free again well before the deadline.
    with redkeeper.Client(redis_server.url, prefix=prefix) as c:
        idem = c.idempotency
        assert idem.begin("payment-9", "fp").in_progress
        deadline = time.monotonic() + 10
        while True:
            b = idem.begin("payment-9", "fp")
            if b.is_new or time.monotonic() > deadline:
                break
            time.sleep(max(0.01, min(b.retry_after, 0.2)))
        assert b.is_new
        idem.complete("payment-9", b.token, {"status": 200})


# ---- once() ---------------------------------------------------------------------------------------

def test_once_sync_runs_once_and_a_failed_handler_can_be_retried(client: redkeeper.Client) -> None:
    idem = client.idempotency.with_options(name="webhooks")
    calls: List[str] = []

    def handler() -> Dict[str, Any]:
        calls.append("evt_1")
        return {"charged": 5}

    first = idem.once("evt_1", handler)
    assert isinstance(first, OnceResult) and first.ran and first.result == {"charged": 5}
    dup = idem.once("evt_1", handler)
    assert dup.duplicate and dup.result == {"charged": 5}
    assert calls == ["evt_1"]

    attempts: List[int] = []

    def flaky() -> str:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("downstream timeout")
        return "ok"

    with pytest.raises(RuntimeError, match="downstream timeout"):
        idem.once("evt_2", flaky)
    retried = idem.once("evt_2", flaky)
    assert retried.ran and retried.result == "ok" and len(attempts) == 2
    assert idem.once("evt_2", flaky).duplicate and len(attempts) == 2


async def test_once_async_handlers_and_in_progress(aclient: redkeeper.AsyncClient) -> None:
    idem = aclient.idempotency
    gate = asyncio.Event()
    runs: List[int] = []

    async def slow() -> int:
        runs.append(1)
        await gate.wait()
        return 42

    first = asyncio.ensure_future(idem.once("evt", slow))
    # The first call holds the key (its handler runs) before the second looks: a fixed 50 ms raced
    # its begin round trip on a busy box, and the second call then ran the gated handler itself.
    deadline = time.monotonic() + 5
    while not runs and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    assert runs == [1]
    during = await idem.once("evt", slow)
    assert during.status == "in_progress" and during.retry_after > 0
    gate.set()
    assert (await first).result == 42
    after = await idem.once("evt", slow)
    assert after.duplicate and after.result == 42
    assert runs == [1]
    # A sync handler works with the async flavour too; a non-JSON result is returned, stored as None.
    marker = object()
    r = await idem.once("evt-obj", lambda: marker)
    assert r.ran and r.result is marker
    assert (await idem.once("evt-obj", lambda: marker)).result is None


def test_once_fingerprint_mismatch(client: redkeeper.Client) -> None:
    idem = client.idempotency
    assert idem.once("e", lambda: 1, fingerprint="a").ran
    assert idem.once("e", lambda: 2, fingerprint="b").status == "mismatch"


# ---- bad input ------------------------------------------------------------------------------------

def test_bad_input_is_typed(client: redkeeper.Client) -> None:
    idem = client.idempotency
    with pytest.raises(redkeeper.InvalidArgument, match="key"):
        idem.begin("")
    with pytest.raises(redkeeper.InvalidArgument, match="key"):
        idem.begin("k" * 513)
    with pytest.raises(redkeeper.InvalidArgument, match="key"):
        idem.begin(17)  # type: ignore[arg-type]
    with pytest.raises(redkeeper.InvalidArgument, match="lock_ttl"):
        idem.begin("k", lock_ttl=-1)
    with pytest.raises(redkeeper.InvalidArgument, match="lock_ttl"):
        idem.begin("k", lock_ttl=float("nan"))
    with pytest.raises(redkeeper.InvalidArgument, match="ttl"):
        idem.with_options(ttl=-5)
    with pytest.raises(redkeeper.InvalidArgument, match="ttl"):
        idem.with_options(ttl="soon")
    with pytest.raises(redkeeper.InvalidArgument, match="name"):
        idem.with_options(name="")
    b = idem.begin("k")
    assert b.token is not None
    with pytest.raises(redkeeper.InvalidArgument, match="response"):
        idem.complete("k", b.token, {"when": object()})
    with pytest.raises(redkeeper.InvalidArgument, match="response"):
        idem.complete("k", b.token, float("inf"))
    small = idem.with_options(max_response_bytes=1024)
    b2 = small.begin("big")
    assert b2.token is not None
    with pytest.raises(redkeeper.InvalidArgument, match="max_response_bytes"):
        small.complete("big", b2.token, b"x" * 2048)
    small.complete("big", b2.token, b"x" * 100)  # the marker survived the refused complete
    with pytest.raises(redkeeper.InvalidArgument, match="token"):
        idem.complete("k", "", 1)
    idem.complete("k", b.token, {"ok": True})


def test_one_claimant_across_processes(redis_server: Any) -> None:
    """4 processes x 8 threads begin the same key at the same instant: exactly one is told "new"."""
    prefix = fresh_prefix()
    start_at = time.time() + 1.5
    child = textwrap.dedent(f"""
        import threading, time, redkeeper
        c = redkeeper.Client({redis_server.url!r}, prefix={prefix!r})
        idem = c.idempotency
        seen = []
        def run():
            for _ in range(10):
                seen.append(idem.begin("hot-key", "fp").status)
        threads = [threading.Thread(target=run) for _ in range(8)]
        time.sleep(max(0.0, {start_at!r} - time.time()))
        for t in threads: t.start()
        for t in threads: t.join()
        print(seen.count("new"), seen.count("in_progress"), len(seen))
        c.close()
    """)
    procs = [subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, env=dict(os.environ))
             for _ in range(4)]
    totals = [0, 0, 0]
    for p in procs:
        out, _ = p.communicate(timeout=120)
        assert p.returncode == 0
        for i, n in enumerate(out.split()):
            totals[i] += int(n)
    assert totals == [1, 4 * 8 * 10 - 1, 4 * 8 * 10]
