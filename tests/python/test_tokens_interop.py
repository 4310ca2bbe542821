"""Python and Node share the token denylist and token versions on one Redis: a token revoked from
Python is revoked for Node and the other way round (also revoke_user and version bumps).

The Node side loads this checkout's package (REDKEEPER_NATIVE, or build-node/ as scripts/test.sh
builds it), so the test runs in CI and in a development tree alike."""

from __future__ import annotations

import json
import pathlib
import shutil
import subprocess
import time
from typing import Any

import pytest

import redkeeper

from test_tokens import make_jwt

ROOT = pathlib.Path(__file__).resolve().parents[2]

NODE_SIDE = r"""
const { connect } = require(process.argv[1]);
const [url, prefix, pyRevoked, pyUserToken, nodeToken] = process.argv.slice(2);
(async () => {
  const rk = connect(url, { prefix, commandTimeoutMs: 5000 });
  const out = {
    pyRevokedSeen: await rk.tokens.isRevoked(pyRevoked),
    pyUserTokenSeen: await rk.tokens.isRevoked(pyUserToken),
    stats: await rk.tokens.stats(),
    versionSeen: await rk.tokenVersions.get('shared-user'),
  };
  out.nodeAdded = await rk.tokens.revoke(nodeToken);
  await rk.tokens.revokeUser('node-victim', 'from node');
  out.nodeBump = await rk.tokenVersions.bump('shared-user');
  process.stdout.write(JSON.stringify(out));
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


async def test_tokens_cross_languages(redis_server: Any) -> None:
    prefix = "rktokinterop"
    now = int(time.time())
    py_revoked = make_jwt({"sub": "ann", "jti": "py-1", "iat": now - 5, "exp": now + 300})
    py_user_token = make_jwt({"sub": "bob", "iat": now - 5, "exp": now + 300})
    node_token = make_jwt({"sub": "cat", "exp": now + 300})  # no jti: keyed by hash on both sides
    victim = make_jwt({"sub": "node-victim", "jti": "v", "iat": now - 5, "exp": now + 300})
    async with redkeeper.AsyncClient(redis_server.url, prefix=prefix) as client:
        assert await client.tokens.revoke(py_revoked) is True
        await client.tokens.revoke_user("bob", reason="from python")
        v1 = await client.token_versions.bump("shared-user")
        assert await client.tokens.is_revoked(node_token) is False
        assert await client.tokens.is_revoked(victim) is False

        out = run_node(redis_server.url, prefix, py_revoked, py_user_token, node_token)
        assert out["pyRevokedSeen"] is True
        assert out["pyUserTokenSeen"] is True
        assert out["stats"] == {"denylisted": 1, "usersRevoked": 1}
        assert out["versionSeen"] == v1

        assert out["nodeAdded"] is True
        assert await client.tokens.is_revoked(node_token) is True
        assert await client.tokens.is_revoked(victim) is True
        assert [e.reason for e in (await client.tokens.audit("node-victim")).entries] == ["from node"]
        assert out["nodeBump"] == v1 + 1
        assert await client.token_versions.verify("shared-user", out["nodeBump"]) is True
        assert await client.tokens.stats() == {"denylisted": 2, "users_revoked": 2}
