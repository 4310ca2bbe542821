"""Python and Node share idempotency keys and one-time codes on one Redis: a response stored by the
FastAPI middleware is replayed by the Express middleware and the other way round (same fingerprint
for the same method, URL and compact JSON body), once() events and OTP codes cross languages too.

The Node side loads this checkout's package (REDKEEPER_NATIVE, or build-node/ as scripts/test.sh
builds it)."""

from __future__ import annotations

import json
import pathlib
import shutil
import subprocess
import uuid
from typing import Any, List

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

import redkeeper
from redkeeper.fastapi_idempotency import IdempotencyMiddleware

ROOT = pathlib.Path(__file__).resolve().parents[2]
SECRET = "interop-secret-0123456789abcdef"
BODY = b'{"item":"book"}'

NODE_SIDE = r"""
const root = process.argv[1];
const { connect } = require(root);
const { idempotency } = require(root + '/node/express');
const express = require(root + '/node_modules/express');
const request = require(root + '/node_modules/supertest');
const [url, prefix, secret, pyCode] = process.argv.slice(2);
(async () => {
  const rk = connect(url, { prefix, commandTimeoutMs: 5000 });
  const runs = [];
  const app = express();
  app.use(express.json());
  app.use(idempotency({ client: rk }));
  app.post('/orders', (req, res) => {
    runs.push(req.body.item);
    res.status(201).set('X-Lang', 'node').json({ by: 'node', item: req.body.item });
  });
  const post = (key) => request(app).post('/orders').set('Idempotency-Key', key)
    .set('Content-Type', 'application/json').send('{"item":"book"}');
  const fromPython = await post('made-by-python');
  const fresh = await post('made-by-node');
  const otp = rk.otp.withOptions({ secret });
  const verified = await otp.verify('py-user', pyCode);
  const issued = await otp.issue('node-user');
  const once = await rk.idempotency.once('evt_py', () => 'node ran it');
  const onceNode = await rk.idempotency.once('evt_node', () => ({ by: 'node' }));
  process.stdout.write(JSON.stringify({
    fromPython: { status: fromPython.status, body: fromPython.body, replayed: fromPython.headers['idempotent-replayed'] || null,
                  lang: fromPython.headers['x-lang'] || null },
    fresh: { status: fresh.status, body: fresh.body },
    runs, verified, nodeCode: issued.code, once,
  }));
  await rk.close();
})().catch((err) => { console.error(err); process.exit(1); });
"""


def run_node(*args: str) -> Any:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed: the interop test needs it", pytrace=False)
    done = subprocess.run([node, "-e", NODE_SIDE, str(ROOT), *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


async def test_idempotency_and_otp_cross_languages(redis_server: Any) -> None:
    prefix = "rkidem" + uuid.uuid4().hex[:8]
    async with redkeeper.AsyncClient(redis_server.url, prefix=prefix) as rk:
        runs: List[str] = []
        app = FastAPI()
        app.add_middleware(IdempotencyMiddleware, client=rk)

        @app.post("/orders")
        async def orders(request: Request) -> JSONResponse:
            item = (await request.json())["item"]
            runs.append(item)
            return JSONResponse({"by": "python", "item": item}, status_code=201, headers={"x-lang": "python"})

        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            headers = {"Idempotency-Key": "made-by-python", "Content-Type": "application/json"}
            first = await http.post("/orders", content=BODY, headers=headers)
            assert first.status_code == 201 and first.json() == {"by": "python", "item": "book"}

            otp = rk.otp.with_options(secret=SECRET)
            py_code = (await otp.issue("py-user")).code
            assert py_code is not None
            assert (await rk.idempotency.once("evt_py", lambda: "python ran it")).ran

            out = run_node(redis_server.url, prefix, SECRET, py_code)

            # Node replayed Python's stored response without running its handler for that key.
            assert out["fromPython"] == {"status": 201, "body": {"by": "python", "item": "book"},
                                         "replayed": "true", "lang": "python"}
            assert out["fresh"] == {"status": 201, "body": {"by": "node", "item": "book"}}
            assert out["runs"] == ["book"]
            assert out["verified"]["ok"] is True
            assert out["once"] == {"status": "duplicate", "result": "python ran it"}

            # ... and Python replays Node's.
            headers["Idempotency-Key"] = "made-by-node"
            replay = await http.post("/orders", content=BODY, headers=headers)
            assert replay.status_code == 201 and replay.json() == {"by": "node", "item": "book"}
            assert replay.headers["idempotent-replayed"] == "true" and replay.headers["x-lang"] == "node"
            assert runs == ["book"]
            assert (await otp.verify("node-user", out["nodeCode"])).ok
            dup = await rk.idempotency.once("evt_node", lambda: "python would run it")
            assert dup.duplicate and dup.result == {"by": "node"}
