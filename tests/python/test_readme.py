"""The README stays true: every Python snippet in it runs, and the FastAPI ones behave as described."""
import pathlib
import re
import subprocess
import sys
import types

from starlette.testclient import TestClient

ROOT = pathlib.Path(__file__).resolve().parents[2]
SNIPPETS = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(encoding="utf-8"), re.S)


def _module(code: str, name: str) -> types.ModuleType:
    module = types.ModuleType(name)
    exec(compile(code, f"README:{name}", "exec"), module.__dict__)
    return module


def test_readme_has_python_snippets() -> None:
    assert len(SNIPPETS) >= 3


def test_every_python_snippet_runs() -> None:
    for index, code in enumerate(SNIPPETS):
        done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0, f"snippet {index} failed:\n{code}\n{done.stderr}"


def test_limiter_snippet_prints_a_result() -> None:
    code = next(s for s in SNIPPETS if "asyncio.run(main())" in s)
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    lines = done.stdout.splitlines()
    assert lines[0].startswith("True 99 {'RateLimit': 'limit=100, remaining=99, reset=")
    assert "allowed=True" in lines[1] and "remaining=4" in lines[1]


def test_primitives_snippet_prints_each_outcome() -> None:
    code = next(s for s in SNIPPETS if "rk.tokens.revoke" in s)
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[:5] == ["revoked: True", "version ok: True", "session: {'cart': [1, 2], 'theme': 'dark'}",
                         "devices: 1", "cached: {'name': 'pen', 'price': 3}"]
    assert lines[5].startswith("fencing token: ") and int(lines[5].split(": ")[1]) > 0
    assert lines[6:] == ["webhook: ran duplicate", "otp: True"]


def test_fastapi_integration_snippet_limits_login_and_uploads() -> None:
    code = next(s for s in SNIPPETS if "redkeeper.fastapi" in s)
    module = _module(code, "readme_integration")
    with TestClient(module.app) as client:
        answers = [client.post("/login") for _ in range(6)]
        assert [a.status_code for a in answers] == [200] * 5 + [429]
        assert answers[5].json()["error"] == "rate_limited"
        assert int(answers[5].headers["Retry-After"]) > 0
        assert answers[0].headers["RateLimit"].startswith("limit=5, remaining=4")
        uploads = [client.post("/upload", headers={"x-user": "ada"}) for _ in range(21)]
        assert [u.status_code for u in uploads] == [200] * 20 + [429]
        # Another user is not limited by ada's uploads (the per-user limit is the one that rejected).
        assert client.post("/upload", headers={"x-user": "bob"}).status_code == 200
        # The middleware's per-path rule: 3 password resets an hour.
        resets = [client.post("/password-reset") for _ in range(4)]
        assert [r.status_code for r in resets] == [404] * 3 + [429]
