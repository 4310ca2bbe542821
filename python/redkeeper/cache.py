"""Cache namespaces: JSON and bytes values with TTLs, counters, tags, clear, pattern deletion, stats,
and ``get_or_set`` whose loader runs once in the whole fleet.

    rk = redkeeper.AsyncClient("redis://localhost")
    users = rk.cache("users", ttl=300)          # a namespace (tenant); default TTL 300 s
    await users.set("u:1", {"name": "Ada"}, tags=["team:7"])
    await users.get("u:1")                      # {"name": "Ada"}; None on a miss
    profile = await users.get_or_set("u:2", lambda: load_user(2), ttl=60)
    await users.invalidate_tag("team:7")        # every key set with that tag
    await users.clear()                         # the whole namespace, without scanning
    await users.delete_pattern("u:*")           # SCAN + UNLINK, never KEYS

``get_or_set``: concurrent callers of one key in this process share one load (they all receive
the loader's value, or its exact exception); across processes one caller claims the key in the
store and the others wait for its value without polling (pub/sub), up to ``lock_timeout`` (then
they load for themselves). A loader's exception is never cached; callers waiting in other
processes get ``redkeeper.LoaderFailed`` with its message. A loader returning None caches
nothing. When the store fails, ``get_or_set`` falls through to the loader (the cache's failure
policy); ``get``/``set`` and the other ops raise. Stats are counted per cache object, in process.
Logic and key layout live in the C++ core (core/src/cache/README.md), shared with Node.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import threading
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Dict, Iterable, List, Optional, Tuple, Union

from ._native import (
    ConnectionError,
    InvalidArgument,
    QueueFullError,
    ScriptError,
    TimeoutError,
)
from ._primitive import Json, PrimitiveHandle, Seconds, to_ms

__all__ = ["AsyncCache", "Cache", "CacheStats", "make_cache"]

# Store failures get_or_set answers by running the loader (the cache's fail-through policy).
_STORE_FAILURES = (ConnectionError, TimeoutError, QueueFullError, ScriptError)
_json_loads = json.loads




# get and claim ask the core for the stored bytes (raw=True) and decode here: json.loads from bytes
# is cheaper than building the dict through the binding. The format (core/src/cache/README.md):
# b"j" + JSON text, b"b" + raw bytes, or the bare decimal of a counter.
_MARK_JSON = 0x6A
_MARK_BYTES = 0x62


def _decode(stored: Any) -> Any:
    if stored is None:
        return None
    mark = stored[0]
    if mark == _MARK_JSON:
        return _json_loads(stored[1:])
    if mark == _MARK_BYTES:
        return bytes(stored[1:])
    return int(stored)


def _check_key(key: Any, param: str = "key") -> str:
    if not isinstance(key, str):
        raise InvalidArgument(f"{param}: must be a str, got {type(key).__name__}")
    return key


@dataclass(frozen=True)
class CacheStats:
    """Lookups answered by this cache object (in process): ``get`` and ``get_or_set``."""

    hits: int
    misses: int
    hit_ratio: float
    sets: int
    deletes: int


def _stats(r: Json) -> CacheStats:
    assert isinstance(r, dict)
    return CacheStats(
        hits=int(r["hits"]),
        misses=int(r["misses"]),
        hit_ratio=float(r["hit_ratio"]),
        sets=int(r["sets"]),
        deletes=int(r["deletes"]),
    )


# In-process single flight, per client and namespace, so two cache objects for one namespace
# (client.cache("users") called per request) still share a load. Keyed by id(client): an entry
# lives only while its load runs, and the loading cache object keeps the client alive meanwhile.
_async_flights: "Dict[Tuple[int, str, str], List[asyncio.Future[Any]]]" = {}  # leader's followers
_sync_flights: "Dict[Tuple[int, str, str], _Flight]" = {}
_sync_flights_lock = threading.Lock()


class _Flight:
    __slots__ = ("done", "value", "error")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: Any = None
        self.error: Optional[BaseException] = None


def _loader_message(e: BaseException) -> str:
    text = str(e)
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


class _CacheBase:
    """Options and argument shaping shared by the async and sync flavours."""

    def __init__(
        self,
        client: Any,
        namespace: str = "default",
        *,
        ttl: Optional[Seconds] = None,
        lock_timeout: Optional[Seconds] = None,
        max_value_bytes: Optional[int] = None,
    ) -> None:
        if not isinstance(namespace, str):
            raise InvalidArgument(f"namespace: must be a str, got {type(namespace).__name__}")
        self._client = client
        self._options: Dict[str, Any] = {
            "ttl": ttl,
            "lock_timeout": lock_timeout,
            "max_value_bytes": max_value_bytes,
        }
        self._namespace = namespace
        config: Dict[str, Any] = {"namespace": namespace}
        if ttl is not None:
            config["default_ttl_ms"] = to_ms(ttl, "ttl")
        if lock_timeout is not None:
            config["lock_timeout_ms"] = to_ms(lock_timeout, "lock_timeout")
        if max_value_bytes is not None:
            if isinstance(max_value_bytes, bool) or not isinstance(max_value_bytes, int):
                raise InvalidArgument("max_value_bytes: must be an int")
            config["max_value_bytes"] = max_value_bytes
        self._handle = PrimitiveHandle(client, "cache", config)

    @property
    def namespace(self) -> str:
        return self._namespace

    def with_options(self, **options: Any) -> Any:
        """A new cache object of the same flavour and namespace with these options changed
        (ttl, lock_timeout, max_value_bytes)."""
        merged = dict(self._options)
        for key in options:
            if key not in merged:
                raise InvalidArgument(f"{key}: unknown cache option")
        merged.update(options)
        return type(self)(self._client, self._namespace, **merged)

    @staticmethod
    def _set_args(key: str, value: Any, ttl: Optional[Seconds], tags: Iterable[str]) -> Dict[str, Any]:
        if value is None:
            raise InvalidArgument("value: None cannot be cached (get() answers None for a miss)")
        args: Dict[str, Any] = {"key": _check_key(key), "value": value}
        if ttl is not None:
            args["ttl_ms"] = to_ms(ttl, "ttl")
        if isinstance(tags, str):
            raise InvalidArgument("tags: must be a list of str, not a str")
        tag_list = list(tags)
        if tag_list:
            args["tags"] = tag_list
        return args

    @staticmethod
    def _incr_args(key: str, by: int, ttl: Optional[Seconds]) -> Dict[str, Any]:
        if isinstance(by, bool) or not isinstance(by, int):
            raise InvalidArgument(f"by: must be an int, got {type(by).__name__}")
        args: Dict[str, Any] = {"key": _check_key(key), "by": by}
        if ttl is not None:
            args["ttl_ms"] = to_ms(ttl, "ttl")
        return args

    def __repr__(self) -> str:
        return f"{type(self).__name__}(namespace={self._namespace!r})"


class AsyncCache(_CacheBase):
    """A cache namespace for asyncio code (``client.cache(namespace)`` on an AsyncClient)."""

    async def get(self, key: str, default: Any = None) -> Any:
        """The value (JSON types or bytes), or ``default`` on a miss."""
        v = _decode(await self._handle.acall("get", {"key": _check_key(key), "raw": True}))
        return default if v is None else v

    async def set(
        self, key: str, value: Any, ttl: Optional[Seconds] = None, tags: Iterable[str] = ()
    ) -> None:
        """Stores a JSON-serialisable value or bytes for ``ttl`` seconds (default: the cache's)."""
        await self._handle.acall("set", self._set_args(key, value, ttl, tags))

    async def delete(self, key: str) -> bool:
        """True when the key existed."""
        return bool(await self._handle.acall("delete", {"key": _check_key(key)}))

    async def incr(self, key: str, by: int = 1, ttl: Optional[Seconds] = None) -> int:
        """Adds ``by`` to a counter and returns it; a new counter expires after ``ttl``."""
        return int(await self._handle.acall("incr", self._incr_args(key, by, ttl)))  # type: ignore[arg-type]

    async def decr(self, key: str, by: int = 1, ttl: Optional[Seconds] = None) -> int:
        return await self.incr(key, -by if isinstance(by, int) and not isinstance(by, bool) else by, ttl)

    async def invalidate_tag(self, tag: str) -> int:
        """Deletes every key set with ``tag``; returns how many."""
        return int(await self._handle.acall("invalidate_tag", {"tag": _check_key(tag, "tag")}))  # type: ignore[arg-type]

    async def clear(self) -> None:
        """Makes every key of the namespace unreachable at once (a new generation, no scan)."""
        await self._handle.acall("clear", {})

    async def delete_pattern(self, pattern: str) -> int:
        """Deletes the keys matching a glob (``*``, ``?``, ``[...]``) via SCAN; returns how many."""
        return int(await self._handle.acall("delete_pattern", {"pattern": _check_key(pattern, "pattern")}))  # type: ignore[arg-type]

    async def stats(self) -> CacheStats:
        return _stats(await self._handle.acall("stats", {}))

    async def get_or_set(
        self,
        key: str,
        loader: Callable[[], Union[Any, Awaitable[Any]]],
        ttl: Optional[Seconds] = None,
        tags: Iterable[str] = (),
    ) -> Any:
        """The cached value, or the loader's (sync or async callable) after storing it.

        One load per key at a time in the fleet; see the module docstring."""
        if type(key) is not str:
            _check_key(key)
        if not callable(loader):
            raise InvalidArgument("loader: must be callable")
        # Validated before any load; on a hit (the hot path) nothing else is built.
        set_args = self._set_args(key, True, ttl, tags) if (ttl is not None or tags) else None
        fkey = (id(self._client), self._namespace, key)
        followers = _async_flights.get(fkey)
        if followers is not None:
            # Another task of this process loads the key: wait for its outcome.
            future: "asyncio.Future[Any]" = asyncio.get_running_loop().create_future()
            followers.append(future)
            return await future
        followers = _async_flights[fkey] = []
        try:
            try:
                claim = await self._handle.acall("claim", {"key": key, "raw": True})
            except _STORE_FAILURES:
                claim = None
            if claim is not None and claim["status"] == "hit":  # type: ignore[index]
                value = _decode(claim["value"])  # type: ignore[index]
            else:
                value = await self._load(key, loader, set_args, claim)
        except BaseException as e:
            del _async_flights[fkey]
            for f in followers:
                if f.done():
                    continue
                if isinstance(e, asyncio.CancelledError):
                    f.cancel()
                else:
                    f.set_exception(e)
            raise
        del _async_flights[fkey]
        for f in followers:
            if not f.done():
                f.set_result(value)
        return value

    async def _load(
        self, key: str, loader: Callable[[], Any], set_args: Optional[Dict[str, Any]], claim: Json
    ) -> Any:
        """A miss: run the loader as the claim says ("fill": ours to fill; "load": waited in vain;
        None: the store failed, so the loader answers and nothing is cached)."""
        if claim is None:
            return await _call_loader(loader)
        assert isinstance(claim, dict)
        if set_args is None:
            set_args = self._set_args(key, True, None, ())
        token = claim.get("token")
        marker = {"key": key, "token": token, "gen": claim["gen"]}
        try:
            value = await _call_loader(loader)
        except BaseException as e:
            if token is not None:
                await self._fail(dict(marker, message=_loader_message(e)))
            raise
        if value is None:
            if token is not None:
                await self._fail(dict(marker, release=True))
            return None
        fill = dict(set_args, value=value, gen=claim["gen"])
        if token is not None:
            fill["token"] = token
        try:
            await self._handle.acall("fill", fill)
        except _STORE_FAILURES:
            pass  # loaded but not stored: the caller still gets its value
        except Exception as e:  # not cacheable (size, type): waiters must not hang on it
            if token is not None:
                await self._fail(dict(marker, message=_loader_message(e)))
            raise
        return value

    async def _fail(self, args: Dict[str, Any]) -> None:
        try:
            await self._handle.acall("fail", args)
        except _STORE_FAILURES:
            pass  # the marker expires on its own after lock_timeout


async def _call_loader(loader: Callable[[], Any]) -> Any:
    v = loader()
    if inspect.isawaitable(v):
        v = await v
    return v


class Cache(_CacheBase):
    """A cache namespace for threaded code (``client.cache(namespace)`` on a sync Client)."""

    def get(self, key: str, default: Any = None) -> Any:
        v = _decode(self._handle.call("get", {"key": _check_key(key), "raw": True}))
        return default if v is None else v

    def set(self, key: str, value: Any, ttl: Optional[Seconds] = None, tags: Iterable[str] = ()) -> None:
        self._handle.call("set", self._set_args(key, value, ttl, tags))

    def delete(self, key: str) -> bool:
        return bool(self._handle.call("delete", {"key": _check_key(key)}))

    def incr(self, key: str, by: int = 1, ttl: Optional[Seconds] = None) -> int:
        return int(self._handle.call("incr", self._incr_args(key, by, ttl)))  # type: ignore[arg-type]

    def decr(self, key: str, by: int = 1, ttl: Optional[Seconds] = None) -> int:
        return self.incr(key, -by if isinstance(by, int) and not isinstance(by, bool) else by, ttl)

    def invalidate_tag(self, tag: str) -> int:
        return int(self._handle.call("invalidate_tag", {"tag": _check_key(tag, "tag")}))  # type: ignore[arg-type]

    def clear(self) -> None:
        self._handle.call("clear", {})

    def delete_pattern(self, pattern: str) -> int:
        return int(self._handle.call("delete_pattern", {"pattern": _check_key(pattern, "pattern")}))  # type: ignore[arg-type]

    def stats(self) -> CacheStats:
        return _stats(self._handle.call("stats", {}))

    def get_or_set(
        self, key: str, loader: Callable[[], Any], ttl: Optional[Seconds] = None, tags: Iterable[str] = ()
    ) -> Any:
        """The cached value, or the loader's after storing it; one load per key in the fleet."""
        _check_key(key)
        if not callable(loader):
            raise InvalidArgument("loader: must be callable")
        set_args = self._set_args(key, True, ttl, tags)
        fkey = (id(self._client), self._namespace, key)
        flights = _sync_flights
        with _sync_flights_lock:
            flight = flights.get(fkey)
            leader = flight is None
            if flight is None:
                flight = flights[fkey] = _Flight()
        if not leader:
            flight.done.wait()
            if flight.error is not None:
                raise flight.error
            return flight.value
        try:
            flight.value = self._load(key, loader, set_args)
            return flight.value
        except BaseException as e:
            flight.error = e
            raise
        finally:
            with _sync_flights_lock:
                if flights.get(fkey) is flight:
                    del flights[fkey]
            flight.done.set()

    def _load(self, key: str, loader: Callable[[], Any], set_args: Dict[str, Any]) -> Any:
        try:
            claim = self._handle.call("claim", {"key": key, "raw": True})
        except _STORE_FAILURES:
            return loader()
        assert isinstance(claim, dict)
        if claim["status"] == "hit":
            return _decode(claim["value"])
        token = claim.get("token")
        marker = {"key": key, "token": token, "gen": claim["gen"]}
        try:
            value = loader()
        except BaseException as e:
            if token is not None:
                self._fail(dict(marker, message=_loader_message(e)))
            raise
        if value is None:
            if token is not None:
                self._fail(dict(marker, release=True))
            return None
        fill = dict(set_args, value=value, gen=claim["gen"])
        if token is not None:
            fill["token"] = token
        try:
            self._handle.call("fill", fill)
        except _STORE_FAILURES:
            pass
        except Exception as e:
            if token is not None:
                self._fail(dict(marker, message=_loader_message(e)))
            raise
        return value

    def _fail(self, args: Dict[str, Any]) -> None:
        try:
            self._handle.call("fail", args)
        except _STORE_FAILURES:
            pass


def make_cache(client: Any, namespace: str = "default", **options: Any) -> Union[AsyncCache, Cache]:
    """``client.cache(namespace, **options)``: the flavour matching the client."""
    cls = AsyncCache if getattr(client, "_is_async", False) else Cache
    return cls(client, namespace, **options)
