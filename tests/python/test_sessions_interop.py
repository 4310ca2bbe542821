"""Python and Node share sessions on one Redis: a session created from Python is read (and updated,
listed, rotated) from a Node subprocess, and a session Node creates is read from Python.

The Node side loads this checkout's package (REDKEEPER_NATIVE, or build-node/ as scripts/test.sh
builds it), so the test runs in CI and in a development tree alike."""

from __future__ import annotations

import json
import pathlib
import shutil
import subprocess
from typing import Any

import pytest

import redkeeper

ROOT = pathlib.Path(__file__).resolve().parents[2]

NODE_SIDE = r"""
const { connect } = require(process.argv[1]);
const [url, prefix, pythonId] = process.argv.slice(2);
(async () => {
  const rk = connect(url, { prefix, commandTimeoutMs: 5000 });
  const s = rk.sessions;
  const seen = await s.get(pythonId, { withMeta: true });
  await s.update(pythonId, { fromNode: true, cart: null });
  const listed = await s.listUser('py-user', { currentId: pythonId });
  const nodeId = await s.create({ lang: 'node', n: [1, 2, 3] }, { userId: 'node-user', device: { ua: 'node' } });
  const rotated = await s.create({ toRotate: 1 });
  const newId = await s.rotate(rotated);
  process.stdout.write(JSON.stringify({ seen, listed, nodeId, rotated, newId }));
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


async def test_sessions_cross_languages(redis_server: Any) -> None:
    prefix = "rkinterop"
    async with redkeeper.AsyncClient(redis_server.url, prefix=prefix) as client:
        s = client.sessions
        py_id = await s.create({"lang": "python", "cart": [1]}, user_id="py-user", device="cpython")
        out = run_node(redis_server.url, prefix, py_id)

        # Node saw Python's session, data and metadata alike.
        assert out["seen"]["data"] == {"lang": "python", "cart": [1]}
        assert out["seen"]["meta"]["userId"] == "py-user"
        assert out["seen"]["meta"]["device"] == "cpython"
        assert [e["current"] for e in out["listed"]] == [True]
        # Node's update is visible here (a null deleted the key).
        assert await s.get(py_id) == {"lang": "python", "fromNode": True}

        # Python sees Node's session, its user index, and Node's rotation.
        node_id = out["nodeId"]
        data, info = await s.get(node_id, with_meta=True)  # type: ignore[misc]
        assert data == {"lang": "node", "n": [1, 2, 3]}
        assert info.user_id == "node-user" and info.device == {"ua": "node"}
        assert [e.device for e in await s.list_user("node-user")] == [{"ua": "node"}]
        assert await s.get(out["rotated"]) is None
        assert await s.get(out["newId"]) == {"toRotate": 1}
        assert await s.destroy_user("node-user") == 1
        assert await s.count() == 2
