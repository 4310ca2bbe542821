"""The README's demo command also drives the FastAPI example app: the transcript shows the 6th login
and the 4th password reset rejected with 429 and Retry-After."""
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_http_demo_transcript() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "examples" / "http_demo.py")], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    logins = [line for line in lines if line.startswith("POST /login #")]
    resets = [line for line in lines if line.startswith("POST /password-reset #")]
    assert [line.split(": ")[1].split()[0] for line in logins] == ["200"] * 5 + ["429"]
    assert [line.split(": ")[1].split()[0] for line in resets] == ["200"] * 3 + ["429"]
    assert sum(1 for line in lines if line.strip().startswith("retry-after:")) == 2
