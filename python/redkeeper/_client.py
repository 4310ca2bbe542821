"""The public clients: AsyncClient (asyncio) and its sync twin Client, and the asyncio limiter."""

from __future__ import annotations

import asyncio
import datetime
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Dict, Optional, Sequence, Type, Union

from . import _native
from ._bridge import bridge_for
from ._multi import Check, MultiRateLimitResult, as_checks, wrap
from ._native import Limiter, ManualClock, RateLimitResult

Duration = Union[int, float, str, datetime.timedelta]
"""Seconds as a number, a string such as "900", "15m", "1h", or a datetime.timedelta."""


@dataclass(frozen=True)
class Health:
    backend: str
    connected: bool
    latency_ms: float


def _open(
    url: str,
    prefix: str,
    clock: Optional[ManualClock],
    command_timeout: float,
    connect_timeout: float,
    tls_ca_file: Optional[str],
    tls_cert_file: Optional[str],
    tls_key_file: Optional[str],
    tls_server_name: Optional[str],
    tls_verify: bool,
    max_pending: int,
    cluster: bool,
    cluster_refresh: float,
) -> _native.NativeClient:
    return _native.NativeClient(
        url,
        prefix,
        clock,
        command_timeout,
        connect_timeout,
        tls_ca_file,
        tls_cert_file,
        tls_key_file,
        tls_server_name,
        tls_verify,
        max_pending,
        cluster,
        cluster_refresh,
    )


def _health(native: _native.NativeClient) -> Health:
    h = native.health()
    return Health(backend=h["backend"], connected=h["connected"], latency_ms=h["latency_ms"])


class AsyncLimiter:
    """A rate limiter whose ops are awaited. Create it with AsyncClient.limiter().

    On memory:// every op completes inside the call: the coroutine returns at once, with no thread
    hop and no Future. On Redis the op completes on the I/O thread and settles a Future on the loop.
    """

    __slots__ = ("_limiter", "_hit", "_peek", "_reset", "_refund", "_block")

    def __init__(self, limiter: Limiter) -> None:
        self._limiter = limiter
        # Bound native methods, looked up once: the inline hit() is then one slot read + one call.
        self._hit = limiter.hit
        self._peek = limiter.peek
        self._reset = limiter.reset
        self._refund = limiter.refund
        self._block = limiter.block

    async def hit(self, key: Union[str, bytes], cost: int = 1) -> RateLimitResult:
        """Consumes `cost` units for `key` when available; a rejected hit consumes nothing."""
        return self._hit(key, cost)

    async def peek(self, key: Union[str, bytes]) -> RateLimitResult:
        """The state a hit of cost 1 would see, consuming nothing."""
        return self._peek(key)

    async def reset(self, key: Union[str, bytes]) -> None:
        """Forgets the key's state and any block on it."""
        self._reset(key)

    async def refund(self, key: Union[str, bytes], n: int) -> RateLimitResult:
        """Gives back up to `n` units consumed earlier."""
        return self._refund(key, n)

    async def block(self, key: Union[str, bytes], seconds: Duration) -> RateLimitResult:
        """Rejects every hit on `key` for `seconds`."""
        return self._block(key, seconds)

    @property
    def name(self) -> str:
        return self._limiter.name

    @property
    def algorithm(self) -> str:
        return self._limiter.algorithm

    @property
    def limit(self) -> int:
        return self._limiter.limit

    @property
    def window(self) -> float:
        return self._limiter.window

    @property
    def window_ms(self) -> int:
        return self._limiter.window_ms

    @property
    def block_duration_ms(self) -> int:
        return self._limiter.block_duration_ms

    @property
    def on_error(self) -> str:
        return self._limiter.on_error

    def __repr__(self) -> str:
        return "Async" + repr(self._limiter)


class _BridgedAsyncLimiter(AsyncLimiter):
    """AsyncLimiter for backends that complete on an I/O thread (Redis)."""

    __slots__ = ()

    async def hit(self, key: Union[str, bytes], cost: int = 1) -> RateLimitResult:
        loop = asyncio.get_running_loop()
        future: "asyncio.Future[RateLimitResult]" = loop.create_future()
        self._limiter._hit_async(bridge_for(loop), future, key, cost)
        return await future

    async def peek(self, key: Union[str, bytes]) -> RateLimitResult:
        loop = asyncio.get_running_loop()
        future: "asyncio.Future[RateLimitResult]" = loop.create_future()
        self._limiter._peek_async(bridge_for(loop), future, key)
        return await future

    async def reset(self, key: Union[str, bytes]) -> None:
        loop = asyncio.get_running_loop()
        future: "asyncio.Future[None]" = loop.create_future()
        self._limiter._reset_async(bridge_for(loop), future, key)
        await future

    async def refund(self, key: Union[str, bytes], n: int) -> RateLimitResult:
        loop = asyncio.get_running_loop()
        future: "asyncio.Future[RateLimitResult]" = loop.create_future()
        self._limiter._refund_async(bridge_for(loop), future, key, n)
        return await future

    async def block(self, key: Union[str, bytes], seconds: Duration) -> RateLimitResult:
        loop = asyncio.get_running_loop()
        future: "asyncio.Future[RateLimitResult]" = loop.create_future()
        self._limiter._block_async(bridge_for(loop), future, key, seconds)
        return await future


class _ClientBase:
    __slots__ = ("_native", "_prims")
    _is_async = False

    def __init__(
        self,
        url: str = "memory://",
        prefix: str = "rk",
        *,
        clock: Optional[ManualClock] = None,
        command_timeout: float = 1.0,
        connect_timeout: float = 2.0,
        tls_ca_file: Optional[str] = None,
        tls_cert_file: Optional[str] = None,
        tls_key_file: Optional[str] = None,
        tls_server_name: Optional[str] = None,
        tls_verify: bool = True,
        max_pending: int = 10000,
        cluster: bool = False,
        cluster_refresh: float = 10.0,
    ) -> None:
        # cluster=True makes a redis:// or rediss:// URL a Redis Cluster seed (redis+cluster:// and
        # rediss+cluster:// imply it); cluster_refresh: seconds between topology refreshes, 0 = only
        # when a node answers MOVED or fails.
        self._native = _open(
            url,
            prefix,
            clock,
            command_timeout,
            connect_timeout,
            tls_ca_file,
            tls_cert_file,
            tls_key_file,
            tls_server_name,
            tls_verify,
            max_pending,
            cluster,
            cluster_refresh,
        )
        self._prims: Dict[str, Any] = {}

    # The script-based primitives: each module builds the async or sync flavour for this client
    # (self._is_async) around a _primitive.PrimitiveHandle. Imported lazily: most apps use a few.
    def _prim(self, name: str, make: Any) -> Any:
        p = self._prims.get(name)
        if p is None:
            p = self._prims[name] = make(self)
        return p

    @property
    def tokens(self) -> Any:
        """The JWT denylist (revoke, revoke_user, is_revoked, check, stats)."""
        from .tokens import make_tokens

        return self._prim("tokens", make_tokens)

    @property
    def token_versions(self) -> Any:
        """Per-user token version counters plus a global epoch."""
        from .tokens import make_token_versions

        return self._prim("token_versions", make_token_versions)

    @property
    def sessions(self) -> Any:
        """Server-side sessions with a per-user index."""
        from .sessions import make_sessions

        return self._prim("sessions", make_sessions)

    def cache(self, namespace: str = "default", **options: Any) -> Any:
        """A cache namespace (tenant): JSON/bytes values, counters, tags, get_or_set."""
        from .cache import make_cache

        return make_cache(self, namespace, **options)

    def lock(self, name: str, **options: Any) -> Any:
        """A distributed lock with fencing tokens: `async with client.lock("job", ttl=10) as lk:`."""
        from .locks import make_lock

        return make_lock(self, name, **options)

    @property
    def idempotency(self) -> Any:
        """Idempotency keys: begin/complete/abandon, and once() for webhooks."""
        from .idempotency import make_idempotency

        return self._prim("idempotency", make_idempotency)

    @property
    def otp(self) -> Any:
        """One-time codes: issue and verify, stored as HMACs, with attempt limits."""
        from .otp import make_otp

        return self._prim("otp", make_otp)

    def _native_limiter(
        self,
        name: str,
        limit: Optional[int],
        window: Optional[Duration],
        algorithm: str,
        block_duration: Optional[Duration],
        on_error: str,
        rate: Optional[str],
        local_block_cache: Union[bool, int] = False,
    ) -> Limiter:
        return self._native.limiter(
            name, limit, window, algorithm, block_duration, on_error, rate, local_block_cache
        )

    def stats(self) -> Dict[str, int]:
        """Counters: ops, errors, timeouts, reconnects, in_flight, keys, and for Redis Cluster
        redirects (MOVED/ASK followed), topology_refreshes and nodes (primaries known; 1 for a
        single server, 0 for memory)."""
        return self._native.stats()

    @property
    def closed(self) -> bool:
        return self._native.closed


class Client(_ClientBase):
    """Sync client. `Client("memory://")` or `Client("redis://host:6379/0")`; use as a context manager.

    Ops on a network backend block the calling thread with the GIL released.
    """

    __slots__ = ()

    def limiter(
        self,
        name: str,
        limit: Optional[int] = None,
        window: Optional[Duration] = None,
        algorithm: str = "sliding_window",
        block_duration: Optional[Duration] = None,
        on_error: str = "open",
        *,
        rate: Optional[str] = None,
        local_block_cache: Union[bool, int] = False,
    ) -> Limiter:
        """A limiter allowing `limit` hits per `window` (defaults: 5 per "15m"), or per `rate`
        ("5/15minutes", "100 per hour"). `on_error`: "open" (allow, degraded=True) or "raise".
        `local_block_cache`: True (10000 keys) or a size answers hits on a key the store rejected
        in-process until its retry_after has passed (no round trip per attacking request)."""
        return self._native_limiter(
            name, limit, window, algorithm, block_duration, on_error, rate, local_block_cache
        )

    def hit_many(self, checks: Sequence[Check]) -> MultiRateLimitResult:
        """Several limits at one instant, all or nothing: `[(limiter, key), (limiter, key, cost)]`.
        When any limit rejects, none consumes. One round trip on Redis."""
        return wrap(self._native.hit_many(as_checks(checks)))

    def ping(self) -> float:
        """Round-trip latency to the store in milliseconds."""
        return self._native.ping()

    def health(self) -> Health:
        return _health(self._native)

    def close(self) -> None:
        """Settles everything in flight and stops background threads. Idempotent."""
        self._native.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<redkeeper.Client {'closed' if self.closed else 'open'}>"


class AsyncClient(_ClientBase):
    """asyncio client: same methods as Client, awaited. `async with AsyncClient(url) as rk: ...`"""

    __slots__ = ()
    _is_async = True

    def limiter(
        self,
        name: str,
        limit: Optional[int] = None,
        window: Optional[Duration] = None,
        algorithm: str = "sliding_window",
        block_duration: Optional[Duration] = None,
        on_error: str = "open",
        *,
        rate: Optional[str] = None,
        local_block_cache: Union[bool, int] = False,
    ) -> AsyncLimiter:
        """A limiter allowing `limit` hits per `window` (defaults: 5 per "15m"), or per `rate`
        ("5/15minutes", "100 per hour"). `on_error`: "open" (allow, degraded=True) or "raise".
        `local_block_cache`: True (10000 keys) or a size answers hits on a key the store rejected
        in-process until its retry_after has passed (no round trip per attacking request)."""
        native = self._native_limiter(
            name, limit, window, algorithm, block_duration, on_error, rate, local_block_cache
        )
        if native.completes_inline:
            return AsyncLimiter(native)
        return _BridgedAsyncLimiter(native)

    async def hit_many(self, checks: Sequence[Check]) -> MultiRateLimitResult:
        """Several limits at one instant, all or nothing: `[(limiter, key), (limiter, key, cost)]`.
        When any limit rejects, none consumes. One round trip on Redis."""
        if self._native.completes_inline:
            return wrap(self._native.hit_many(as_checks(checks)))
        loop = asyncio.get_running_loop()
        future: "asyncio.Future[Any]" = loop.create_future()
        self._native._hit_many_async(bridge_for(loop), future, as_checks(checks))
        return wrap(await future)

    async def ping(self) -> float:
        """Round-trip latency to the store in milliseconds."""
        if self._native.completes_inline:
            return self._native.ping()
        loop = asyncio.get_running_loop()
        future: "asyncio.Future[float]" = loop.create_future()
        self._native._ping_async(bridge_for(loop), future)
        return await future

    async def health(self) -> Health:
        return _health(self._native)

    async def aclose(self) -> None:
        """Settles everything in flight and stops background threads. Idempotent."""
        if self._native.completes_inline:
            self._native.close()
            return
        # Closing a network client joins its I/O thread: keep the event loop responsive meanwhile.
        await asyncio.get_running_loop().run_in_executor(None, self._native.close)

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"<redkeeper.AsyncClient {'closed' if self.closed else 'open'}>"


__all__ = ["AsyncClient", "AsyncLimiter", "Client", "Duration", "Health", "MultiRateLimitResult"]
