"""redkeeper: rate limits (and soon tokens, sessions, cache, locks...) on memory:// or Redis,
from one C++ core shared with the Node package.

    import redkeeper
    rk = redkeeper.AsyncClient("memory://")
    login = rk.limiter("login", rate="5/15minutes")
    result = await login.hit(client_ip)
"""

from __future__ import annotations

import os as _os

if _os.environ.get("REDKEEPER_NATIVE_PY"):
    # Development: load redkeeper._native from a build directory (like Node's REDKEEPER_NATIVE), so
    # a source checkout on PYTHONPATH runs against the module built from it.
    import importlib.util as _ilu
    import sys as _sys

    _spec = _ilu.spec_from_file_location("redkeeper._native", _os.environ["REDKEEPER_NATIVE_PY"])
    if _spec is None or _spec.loader is None:
        raise ImportError("REDKEEPER_NATIVE_PY does not name a loadable module")
    _mod = _ilu.module_from_spec(_spec)
    _sys.modules["redkeeper._native"] = _mod
    _spec.loader.exec_module(_mod)

from ._client import AsyncClient, AsyncLimiter, Client, Duration, Health
from ._multi import MultiRateLimitResult
from ._native import (
    ClientClosed,
    ConnectionError,
    InternalError,
    InvalidArgument,
    Limiter,
    LoaderFailed,
    LockError,
    LockLost,
    LockNotAcquired,
    LockNotOwner,
    ManualClock,
    ProtocolError,
    QueueFullError,
    RateLimitResult,
    RedkeeperError,
    ScriptError,
    TimeoutError,
    TokenError,
    TokenInvalid,
    TokenMalformed,
    TokenRevoked,
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
    "LoaderFailed",
    "LockError",
    "LockLost",
    "LockNotAcquired",
    "LockNotOwner",
    "ManualClock",
    "MultiRateLimitResult",
    "ProtocolError",
    "QueueFullError",
    "RateLimitResult",
    "RedkeeperError",
    "ScriptError",
    "TimeoutError",
    "TokenError",
    "TokenInvalid",
    "TokenMalformed",
    "TokenRevoked",
    "__version__",
    "client_ip",
    "ip_key",
]
