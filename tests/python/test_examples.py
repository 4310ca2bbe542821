"""The examples and the README's FastAPI snippet run and behave as documented."""

from __future__ import annotations

import importlib.util
import pathlib
import re
import subprocess
import sys

from fastapi.testclient import TestClient

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_demo_transcript() -> None:
    out = subprocess.run([sys.executable, str(ROOT / "examples" / "demo.py")], check=True,
                         capture_output=True, text=True, timeout=60).stdout
    assert out.count("200 OK") == 5 and out.count("429 Too Many Requests") == 2
    assert out.count("Retry-After:") == 2
    assert "RateLimit: limit=5, remaining=4" in out and "X-RateLimit-Remaining: 0" in out
    assert "after reset: allowed=True remaining=4" in out


def _load(path: pathlib.Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_fastapi_example() -> None:
    module = _load(ROOT / "examples" / "fastapi_app.py", "fastapi_app_example")
    with TestClient(module.app) as client:
        codes = [client.post("/login").status_code for _ in range(6)]
        assert codes == [200] * 5 + [429]
        rejected = client.post("/login")
        assert rejected.headers["Retry-After"].isdigit()
        assert rejected.headers["RateLimit-Policy"] == "5;w=900"
        ok = client.get("/items")
        assert ok.status_code == 200 and ok.headers["RateLimit"].startswith("limit=100, remaining=99")
        assert client.get("/health").json()["backend"] == "memory"
    assert module.rk.closed


def test_readme_fastapi_snippet(tmp_path: pathlib.Path) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    snippets = [s for s in re.findall(r"```python\n(.*?)```", readme, re.S) if "FastAPI" in s]
    assert snippets, "README has no FastAPI quick start"
    path = tmp_path / "readme_app.py"
    path.write_text(snippets[0], encoding="utf-8")
    module = _load(path, "readme_app")
    with TestClient(module.app) as client:
        answers = [client.post("/login") for _ in range(6)]
        assert [a.status_code for a in answers] == [200] * 5 + [429]
        assert answers[0].json() == {"ok": True, "remaining": 4}
        assert answers[0].headers["X-RateLimit-Remaining"] == "4"
        assert "Retry-After" in answers[5].headers
