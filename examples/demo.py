"""Demo on the embedded memory:// backend: a "login" limiter, 5 attempts per 15 minutes, hit 7 times
by one IP. Prints what a FastAPI app would answer each time, with its rate-limit headers."""

import asyncio
import math

import redkeeper


async def main() -> None:
    async with redkeeper.AsyncClient("memory://", prefix="demo") as rk:
        login = rk.limiter("login", rate="5/15minutes", algorithm="sliding_window")
        ip = "203.0.113.7"

        print(f'limiter "{login.name}": {login.limit} attempts per {login.window_ms // 60000} '
              f"minutes ({login.algorithm}), key {ip}\n")
        for attempt in range(1, 8):
            result = await login.hit(ip)
            status = "200 OK               " if result else "429 Too Many Requests"
            retry = "" if result else f"  retry in {math.ceil(result.retry_after)} s"
            print(f"attempt {attempt}: {status}  remaining={result.remaining}{retry}")
            for name, value in result.headers(standard="draft-7", legacy=True).items():
                print(f"    {name}: {value}")

        peek = await login.peek(ip)
        print(f"\npeek (consumes nothing): allowed={peek.allowed} remaining={peek.remaining}")
        await login.reset(ip)
        after = await login.hit(ip)
        print(f"after reset: allowed={after.allowed} remaining={after.remaining}")


if __name__ == "__main__":
    asyncio.run(main())
