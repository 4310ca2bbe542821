"""redkeeper: rate limits (and soon tokens, sessions, cache, locks...) on memory:// or Redis,
from one C++ core shared with the Node package.

    import redkeeper
    rk = redkeeper.AsyncClient("memory://")
    login = rk.limiter("login", rate="5/15minutes")
    result = await login.hit(client_ip)
"""

from __future__ import annotations

from ._client import AsyncClient, AsyncLimiter, Client, Duration, Health
from ._multi import MultiRateLimitResult
from ._native import (
    ClientClosed,
    ConnectionError,
    InternalError,
    InvalidArgument,
    Limiter,
    ManualClock,
    ProtocolError,
    QueueFullError,
    RateLimitResult,
    RedkeeperError,
    ScriptError,
    TimeoutError,
    client_ip,
    ip_key,
)

__version__ = "0.1.0"

__all__ = [
    "AsyncClient",
    "AsyncLimiter",
    "Client",
    "ClientClosed",
    "ConnectionError",
    "Duration",
    "Health",
    "InternalError",
    "InvalidArgument",
    "Limiter",
    "ManualClock",
    "MultiRateLimitResult",
    "ProtocolError",
    "QueueFullError",
    "RateLimitResult",
    "RedkeeperError",
    "ScriptError",
    "TimeoutError",
    "__version__",
    "client_ip",
    "ip_key",
]
