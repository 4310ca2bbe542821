"""A FastAPI app rate-limited by redkeeper.fastapi with the presets apps usually configure: login
5 per 15 minutes, password reset 3 per hour, API 100 per 15 minutes, uploads 20 per minute. Every
limited route sends draft-7 + legacy headers, and 429 with a JSON body and Retry-After when exceeded.

    uvicorn examples.fastapi_app:app        # memory:// by default
    REDKEEPER_URL=redis://localhost:6379/0 uvicorn examples.fastapi_app:app
"""

from __future__ import annotations

import os
from contextlib import asynccontextmanager
from typing import AsyncIterator, Dict, List, Optional

from fastapi import APIRouter, Depends, FastAPI, Request

import redkeeper
from redkeeper.fastapi import Limit, by_ip, by_user, limit, rate_limit

rk = redkeeper.AsyncClient(os.environ.get("REDKEEPER_URL", "memory://"), prefix="example")
# Behind a reverse proxy, list it so X-Forwarded-For is believed only when it comes from there:
# key = by_ip(trusted=["10.0.0.0/8"])
key = by_ip

headers = {"headers": "draft-7", "legacy_headers": True}
login_limit = rate_limit(rk, "5/15minutes", key=key, name="login", **headers)
reset_limit = rate_limit(rk, "3/hour", key=key, name="password-reset", **headers)
api_limit = rate_limit(rk, "100/15minutes", key=key, name="api", algorithm="gcra", **headers)


def current_user(request: Request) -> Optional[str]:
    """Stand-in for real authentication: the caller's user id, None when anonymous."""
    return request.headers.get("x-user")


# Uploads: 20 per minute per user (per IP when anonymous) and 200 per day per IP, checked together.
upload_limit = rate_limit(rk, Limit("20/minute", key=by_user(current_user, fallback=key)),
                          Limit("200/day"), key=key, name="uploads", **headers)


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    yield
    await rk.aclose()


app = FastAPI(lifespan=lifespan)


@app.post("/login", dependencies=[Depends(login_limit)])
async def login() -> Dict[str, bool]:
    return {"ok": True}


@app.post("/password-reset", dependencies=[Depends(reset_limit)])
async def password_reset() -> Dict[str, bool]:
    return {"sent": True}


api = APIRouter(dependencies=[Depends(api_limit)])


@api.get("/items")
async def items() -> Dict[str, List[int]]:
    return {"items": [1, 2, 3]}


@api.get("/items/{item_id}")
async def item(item_id: int) -> Dict[str, int]:
    return {"id": item_id}


app.include_router(api)


@app.post("/uploads", dependencies=[Depends(upload_limit)])
async def upload(request: Request) -> Dict[str, object]:
    result: redkeeper.RateLimitResult = request.state.rate_limit
    return {"stored": True, "remaining": result.remaining}


@app.get("/search")
@limit("30/minute", client=rk, key=key, name="search", **headers)
async def search(q: str = "") -> Dict[str, str]:
    return {"q": q}


@app.get("/health")
async def health() -> Dict[str, object]:
    h = await rk.health()
    return {"backend": h.backend, "connected": h.connected, **rk.stats()}
