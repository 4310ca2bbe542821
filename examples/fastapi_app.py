"""A FastAPI app rate-limited by redkeeper: a strict login limiter and a general API limiter, both
sending draft-7 + legacy headers and 429 with Retry-After when exceeded.

    uvicorn examples.fastapi_app:app        # memory:// by default
    REDKEEPER_URL=redis://localhost:6379/0 uvicorn examples.fastapi_app:app
"""

from __future__ import annotations

import os
from contextlib import asynccontextmanager
from typing import AsyncIterator, Awaitable, Callable, Dict

from fastapi import Depends, FastAPI, HTTPException, Request, Response

import redkeeper

rk = redkeeper.AsyncClient(os.environ.get("REDKEEPER_URL", "memory://"), prefix="example")
login_limit = rk.limiter("login", rate="5/15minutes", algorithm="sliding_window")
api_limit = rk.limiter("api", limit=100, window="1m", algorithm="gcra")


def rate_limited(limiter: redkeeper.AsyncLimiter) -> Callable[[Request, Response], Awaitable[None]]:
    """A dependency: one hit per request, keyed by client IP; 429 once the limit is reached."""

    async def check(request: Request, response: Response) -> None:
        result = await limiter.hit(request.client.host if request.client else "unknown")
        headers = result.headers(standard="draft-7", legacy=True)
        if not result:
            raise HTTPException(429, f"Too many requests to {limiter.name}", headers=headers)
        response.headers.update(headers)

    return check


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    yield
    await rk.aclose()


app = FastAPI(lifespan=lifespan)


@app.post("/login", dependencies=[Depends(rate_limited(login_limit))])
async def login() -> Dict[str, bool]:
    return {"ok": True}


@app.get("/items", dependencies=[Depends(rate_limited(api_limit))])
async def items() -> Dict[str, list]:
    return {"items": [1, 2, 3]}


@app.get("/health")
async def health() -> Dict[str, object]:
    h = await rk.health()
    return {"backend": h.backend, "connected": h.connected, **rk.stats()}
