"""Distributed locks with fencing tokens, for asyncio (``AsyncLock``) and threads (``Lock``).

    rk = redkeeper.AsyncClient("redis://localhost")
    async with rk.lock("invoice:42", ttl=10) as lk:
        await db.write(row, fence=lk.fencing_token)   # the resource refuses stale fences

    client = redkeeper.Client("redis://localhost")
    with client.lock("nightly-report", wait=0):      # raises LockNotAcquired when taken
        build_report()

One lock object is one would-be holder. ``acquire()`` takes the lock with a random owner token and
returns its fencing token: a number that grows with every acquisition of that name, so a resource
that remembers the highest fence it has seen can refuse a holder that lost the lock without knowing
it. A held lock is renewed in the background (``auto_renew``, every ttl/3); when renewal finds the
lock gone, or the lease ran out without renewal, the lock is *lost*: ``lk.lost`` becomes True, the
optional ``on_lost(lock)`` callback runs, and ``release()`` (and so the end of a ``with`` block)
raises ``LockLost``. Waiting (``wait`` seconds) sleeps until the holder releases (pub/sub) or its
lease ends: no polling. Only the owner can release or extend (``LockNotOwner`` otherwise).
Everything runs in the C++ core (core/src/locks/README.md), identically on memory:// and Redis,
and shares its keys with the Node package.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from types import TracebackType
from typing import Any, Callable, Dict, Optional, Type, Union

from ._native import InvalidArgument
from ._primitive import Json, PrimitiveHandle, Seconds, to_ms

__all__ = ["AsyncLock", "Lock", "make_lock"]

_UNSET: Any = object()
_FOREVER_MS = 30 * 24 * 3600 * 1000  # the core's upper bound for a wait: "wait=None"




def _wait_ms(value: Optional[Seconds]) -> Union[int, str]:
    return _FOREVER_MS if value is None else to_ms(value, "wait", allow_zero=True)


class _LockBase:
    __slots__ = ("_h", "_client", "_options", "_fencing_token", "_owner", "_on_lost", "__weakref__")

    def __init__(
        self,
        client: Any,
        name: str,
        *,
        ttl: Seconds = 30,
        wait: Optional[Seconds] = 10,
        auto_renew: bool = True,
        renew_interval: Optional[Seconds] = None,
        on_lost: Optional[Callable[[Any], Any]] = None,
    ) -> None:
        if not isinstance(name, str):
            raise InvalidArgument(f"name: must be a str, got {type(name).__name__}")
        if not isinstance(auto_renew, bool):
            raise InvalidArgument(f"auto_renew: must be a bool, got {type(auto_renew).__name__}")
        if on_lost is not None and not callable(on_lost):
            raise InvalidArgument("on_lost: must be callable")
        config: Dict[str, Any] = {
            "name": name,
            "ttl_ms": to_ms(ttl, "ttl"),
            "wait_ms": _wait_ms(wait),
            "auto_renew": auto_renew,
        }
        if renew_interval is not None:
            config["renew_interval_ms"] = to_ms(renew_interval, "renew_interval")
        self._h = PrimitiveHandle(client, "lock", config)
        self._client = client
        self._options: Dict[str, Any] = {
            "ttl": ttl, "wait": wait, "auto_renew": auto_renew, "renew_interval": renew_interval,
            "on_lost": on_lost,
        }
        self._fencing_token: Optional[int] = None
        self._owner: Optional[str] = None
        self._on_lost = on_lost

    @property
    def name(self) -> str:
        """The lock's name (the part of its key inside the hash tag)."""
        return str(self._h.config["name"])

    @property
    def fencing_token(self) -> Optional[int]:
        """The fence of the last acquisition: strictly greater than every earlier fence of this name."""
        return self._fencing_token

    @property
    def owner(self) -> Optional[str]:
        """The random owner token of the last acquisition (release(owner=...) elsewhere takes it)."""
        return self._owner

    token = owner

    def _state(self) -> Dict[str, Any]:
        st = self._h.call("state")  # answered in process, never waits on the store
        assert isinstance(st, dict)
        return st

    @property
    def held(self) -> bool:
        """True while this object holds the lock and its lease has not run out."""
        return bool(self._state()["held"])

    @property
    def lost(self) -> bool:
        """True when the lock was lost while held (lease ran out, or renewal found another owner)."""
        return bool(self._state()["lost"])

    @property
    def valid_for(self) -> Optional[float]:
        """Seconds this holder may still trust the lock without renewal (None when not held)."""
        ms = self._state()["valid_for_ms"]
        return None if ms is None else ms / 1000.0

    def _acquire_args(self, wait: Any, ttl: Any) -> Optional[Dict[str, Any]]:
        args: Dict[str, Any] = {}
        if wait is not _UNSET:
            args["wait_ms"] = _wait_ms(wait)
        if ttl is not _UNSET:
            args["ttl_ms"] = to_ms(ttl, "ttl")
        return args or None

    def _acquired(self, r: Json) -> int:
        assert isinstance(r, dict)
        self._fencing_token = int(r["fencing_token"])
        self._owner = str(r["owner"])
        return self._fencing_token

    @staticmethod
    def _release_args(owner: Optional[str]) -> Optional[Dict[str, Any]]:
        if owner is None:
            return None
        if not isinstance(owner, str):
            raise InvalidArgument(f"owner: must be a str, got {type(owner).__name__}")
        return {"owner": owner}

    def _exit_should_release(self) -> bool:
        # The body may have released (or lost, then released) the lock itself.
        return self._state()["state"] in ("held", "lost")

    def __repr__(self) -> str:
        st = self._state()
        return f"<{type(self).__name__} {self.name!r} state={st['state']} fencing_token={self._fencing_token}>"


class AsyncLock(_LockBase):
    """A lock for asyncio code: ``async with client.lock(name) as lk:``."""

    __slots__ = ("_watch_task",)

    def __init__(self, client: Any, name: str, **options: Any) -> None:
        super().__init__(client, name, **options)
        self._watch_task: Optional["asyncio.Task[None]"] = None

    def with_options(self, **options: Any) -> "AsyncLock":
        """A new lock object for the same name with some options changed."""
        return AsyncLock(self._client, self.name, **{**self._options, **options})

    async def acquire(self, *, wait: Optional[Seconds] = _UNSET, ttl: Seconds = _UNSET) -> int:
        """Takes the lock, waiting up to ``wait`` seconds (None: no limit); returns the fencing
        token. Raises LockNotAcquired when the wait ends or the store cannot be asked. Cancelling
        the awaiting task abandons the attempt (a lock obtained meanwhile is released)."""
        args = self._acquire_args(wait, ttl)
        try:
            r = await self._h.acall("acquire", args)
        except asyncio.CancelledError:
            self._h.call("cancel")
            if self._state()["state"] == "held":  # the acquire won just before the cancel
                asyncio.get_running_loop().create_task(self._release_quietly())
            raise
        token = self._acquired(r)
        if self._on_lost is not None:
            self._watch_task = asyncio.get_running_loop().create_task(self._watch())
        return token

    async def _watch(self) -> None:
        try:
            r = await self._h.acall("watch")
        except Exception:  # client closed: no loss to report
            return
        if isinstance(r, dict) and r.get("event") == "lost" and self._on_lost is not None:
            out = self._on_lost(self)
            if inspect.isawaitable(out):
                await out

    async def _release_quietly(self) -> None:
        try:
            await self._h.acall("release")
        except Exception:
            pass

    async def release(self, *, owner: Optional[str] = None) -> None:
        """Releases the lock. Raises LockLost when it was lost while held, LockNotOwner when this
        object does not hold it. ``owner=`` releases by owner token (e.g. handed over from another
        process): LockNotOwner unless that token holds the lock."""
        await self._h.acall("release", self._release_args(owner))

    async def extend(self, ttl: Optional[Seconds] = None) -> None:
        """Resets the lease to ``ttl`` seconds from now (default: the current lease length).
        Raises LockLost when the lock was lost, LockNotOwner when not held."""
        await self._h.acall("extend", None if ttl is None else {"ttl_ms": to_ms(ttl, "ttl")})

    async def locked(self) -> bool:
        """Whether anyone holds the lock now (one PTTL)."""
        r = await self._h.acall("locked")
        assert isinstance(r, dict)
        return bool(r["locked"])

    async def __aenter__(self) -> "AsyncLock":
        await self.acquire()
        return self

    async def __aexit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        if self._exit_should_release():
            await self.release()  # LockLost when the block ran without the lock


class Lock(_LockBase):
    """A lock for threads and sync code: ``with client.lock(name) as lk:``. Waits block the calling
    thread with the GIL released."""

    __slots__ = ()

    def with_options(self, **options: Any) -> "Lock":
        """A new lock object for the same name with some options changed."""
        return Lock(self._client, self.name, **{**self._options, **options})

    def acquire(self, *, wait: Optional[Seconds] = _UNSET, ttl: Seconds = _UNSET) -> int:
        """Takes the lock, waiting up to ``wait`` seconds (None: no limit); returns the fencing
        token. Raises LockNotAcquired when the wait ends or the store cannot be asked."""
        token = self._acquired(self._h.call("acquire", self._acquire_args(wait, ttl)))
        if self._on_lost is not None:
            # The core settles "watch" when this holding ends; a daemon thread waits for it so the
            # callback runs even while the holder is busy.
            threading.Thread(target=self._watch, name=f"redkeeper-lock-{self.name[:32]}", daemon=True).start()
        return token

    def _watch(self) -> None:
        try:
            r = self._h.call("watch")
        except Exception:
            return
        if isinstance(r, dict) and r.get("event") == "lost" and self._on_lost is not None:
            self._on_lost(self)

    def release(self, *, owner: Optional[str] = None) -> None:
        """Releases the lock. Raises LockLost when it was lost while held, LockNotOwner when this
        object does not hold it. ``owner=`` releases by owner token."""
        self._h.call("release", self._release_args(owner))

    def extend(self, ttl: Optional[Seconds] = None) -> None:
        """Resets the lease to ``ttl`` seconds from now (default: the current lease length)."""
        self._h.call("extend", None if ttl is None else {"ttl_ms": to_ms(ttl, "ttl")})

    def locked(self) -> bool:
        """Whether anyone holds the lock now (one PTTL)."""
        r = self._h.call("locked")
        assert isinstance(r, dict)
        return bool(r["locked"])

    def __enter__(self) -> "Lock":
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        if self._exit_should_release():
            self.release()


def make_lock(client: Any, name: str, **options: Any) -> Union[AsyncLock, Lock]:
    """``client.lock(name, ttl=30, wait=10, auto_renew=True, renew_interval=None, on_lost=None)``."""
    return AsyncLock(client, name, **options) if client._is_async else Lock(client, name, **options)

