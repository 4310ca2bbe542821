"""The README's demo, HTTP part: drives examples/fastapi_app.py in-process (memory://) and prints what a
client sees: six logins (the sixth is 429) and four password resets (the fourth is 429)."""

import asyncio
import pathlib
import sys

import httpx

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from fastapi_app import app, rk  # noqa: E402


def show(label: str, response: httpx.Response) -> None:
    print(f"{label}: {response.status_code} {response.text}")
    for name in ("ratelimit", "ratelimit-policy", "x-ratelimit-remaining", "retry-after"):
        if name in response.headers:
            print(f"    {name}: {response.headers[name]}")


async def main() -> None:
    print("FastAPI example (examples/fastapi_app.py), in-process, memory://\n")
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 4321))
    async with httpx.AsyncClient(transport=transport, base_url="http://demo") as http:
        for i in range(1, 7):
            show(f"POST /login #{i}", await http.post("/login"))
        for i in range(1, 5):
            show(f"POST /password-reset #{i}", await http.post("/password-reset"))
    await rk.aclose()


if __name__ == "__main__":
    asyncio.run(main())
