"""Idempotency keys: ``begin`` / ``complete`` / ``abandon`` / ``extend`` and ``once()`` for webhooks.

    rk = redkeeper.AsyncClient("redis://localhost")
    idem = rk.idempotency                      # or rk.idempotency.with_options(ttl=3600)
    b = await idem.begin("order-42", fingerprint=sha256_of_request)
    if b.status == "new":
        try:
            response = await make_order()
        except Exception:
            await idem.abandon("order-42", b.token)   # a retry may run it again
            raise
        await idem.complete("order-42", b.token, response)
    elif b.status == "completed":
        response = b.response                  # the first request's stored response
    elif b.status == "in_progress": ...        # another request runs it now (HTTP 409)
    else: ...                                  # "mismatch": same key, other payload (HTTP 422)

An in-progress marker expires on its own after ``lock_ttl`` (default 60 s), so a crashed request
never wedges its key; completed responses are kept ``ttl`` (default 24 h). Logic and keys live in
the C++ core (core/src/idempotency/README.md), shared with the Node package.
"""

from __future__ import annotations

import inspect
import logging
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Dict, Optional, Union

from ._native import InvalidArgument, LockLost, LockNotOwner
from ._primitive import Json, PrimitiveHandle, Seconds, to_ms

__all__ = [
    "AsyncIdempotency",
    "Idempotency",
    "IdempotencyBegin",
    "OnceResult",
    "make_idempotency",
]

_log = logging.getLogger("redkeeper.idempotency")

Fingerprint = Union[str, bytes]




@dataclass(frozen=True)
class IdempotencyBegin:
    """What ``begin`` found. ``status`` is "new" (you own the key: run, then complete or abandon with
    ``token``), "in_progress" (another request runs it; retry after ``retry_after`` seconds),
    "completed" (``response`` is the stored response) or "mismatch" (same key, other fingerprint)."""

    status: str
    token: Optional[str] = None
    response: Any = None
    retry_after: float = 0.0

    @property
    def is_new(self) -> bool:
        return self.status == "new"

    @property
    def in_progress(self) -> bool:
        return self.status == "in_progress"

    @property
    def completed(self) -> bool:
        return self.status == "completed"

    @property
    def mismatch(self) -> bool:
        return self.status == "mismatch"


@dataclass(frozen=True)
class OnceResult:
    """What ``once`` did. ``status``: "ran" (the handler ran now; ``result`` is its return value),
    "duplicate" (an earlier delivery ran it; ``result`` is the value it stored), "in_progress"
    (an earlier delivery is running it now: answer so the sender retries later, e.g. HTTP 409) or
    "mismatch" (same event id, other fingerprint)."""

    status: str
    result: Any = None
    retry_after: float = 0.0

    @property
    def ran(self) -> bool:
        return self.status == "ran"

    @property
    def duplicate(self) -> bool:
        return self.status == "duplicate"


def _begin_result(r: Json) -> IdempotencyBegin:
    assert isinstance(r, dict)
    status = r["status"]
    if status == "new":
        return IdempotencyBegin("new", token=r["token"])
    if status == "completed":
        return IdempotencyBegin("completed", response=r.get("response"))
    if status == "in_progress":
        return IdempotencyBegin("in_progress", retry_after=r.get("retry_after_ms", 0) / 1000.0)
    return IdempotencyBegin(status)


class _IdempotencyBase:
    """Options and argument shaping shared by the async and sync flavours."""

    def __init__(
        self,
        client: Any,
        *,
        name: str = "default",
        ttl: Optional[Seconds] = None,
        lock_ttl: Optional[Seconds] = None,
        max_response_bytes: Optional[int] = None,
    ) -> None:
        self._client = client
        self._options: Dict[str, Any] = {
            "name": name,
            "ttl": ttl,
            "lock_ttl": lock_ttl,
            "max_response_bytes": max_response_bytes,
        }
        config: Dict[str, Any] = {"name": name}
        if ttl is not None:
            config["ttl_ms"] = to_ms(ttl, "ttl")
        if lock_ttl is not None:
            config["lock_ttl_ms"] = to_ms(lock_ttl, "lock_ttl")
        if max_response_bytes is not None:
            config["max_response_bytes"] = max_response_bytes
        self._handle = PrimitiveHandle(client, "idempotency", config)

    @property
    def name(self) -> str:
        return str(self._options["name"])

    def with_options(self, **options: Any) -> Any:
        """A new instance of the same flavour with these options changed (name, ttl, lock_ttl,
        max_response_bytes)."""
        merged = dict(self._options)
        for key in options:
            if key not in merged:
                raise InvalidArgument(f"{key}: unknown idempotency option")
        merged.update(options)
        return type(self)(self._client, **merged)

    @staticmethod
    def _begin_args(key: str, fingerprint: Optional[Fingerprint], lock_ttl: Optional[Seconds]) -> Dict[str, Any]:
        args: Dict[str, Any] = {"key": key}
        if fingerprint is not None:
            args["fingerprint"] = fingerprint
        if lock_ttl is not None:
            args["lock_ttl_ms"] = to_ms(lock_ttl, "lock_ttl")
        return args

    @staticmethod
    def _complete_args(key: str, token: str, response: Any, ttl: Optional[Seconds]) -> Dict[str, Any]:
        args: Dict[str, Any] = {"key": key, "token": token, "response": response}
        if ttl is not None:
            args["ttl_ms"] = to_ms(ttl, "ttl")
        return args

    @staticmethod
    def _extend_args(key: str, token: str, lock_ttl: Optional[Seconds]) -> Dict[str, Any]:
        args: Dict[str, Any] = {"key": key, "token": token}
        if lock_ttl is not None:
            args["lock_ttl_ms"] = to_ms(lock_ttl, "lock_ttl")
        return args

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


class AsyncIdempotency(_IdempotencyBase):
    """Idempotency keys for asyncio code: ``client.idempotency`` on an AsyncClient."""

    async def begin(
        self, key: str, fingerprint: Optional[Fingerprint] = None, *, lock_ttl: Optional[Seconds] = None
    ) -> IdempotencyBegin:
        """Claims ``key`` (status "new", with the token complete/abandon need) or reports its state."""
        return _begin_result(await self._handle.acall("begin", self._begin_args(key, fingerprint, lock_ttl)))

    async def complete(self, key: str, token: str, response: Any = None, *, ttl: Optional[Seconds] = None) -> None:
        """Stores ``response`` (JSON, bytes allowed) for retries. Raises LockNotOwner when another
        request owns the key, LockLost when the marker expired before completion."""
        await self._handle.acall("complete", self._complete_args(key, token, response, ttl))

    async def abandon(self, key: str, token: str) -> bool:
        """Frees the key so a retry runs again. False when the marker had already expired (or the
        key was completed: the stored response is kept). LockNotOwner for another request's key."""
        r = await self._handle.acall("abandon", {"key": key, "token": token})
        assert isinstance(r, dict)
        return bool(r["abandoned"])

    async def extend(self, key: str, token: str, *, lock_ttl: Optional[Seconds] = None) -> bool:
        """Pushes the in-progress marker's expiry out (heartbeat for long requests)."""
        r = await self._handle.acall("extend", self._extend_args(key, token, lock_ttl))
        assert isinstance(r, dict)
        return bool(r["extended"])

    async def once(
        self,
        event_id: str,
        handler: Callable[[], Union[Any, Awaitable[Any]]],
        *,
        fingerprint: Optional[Fingerprint] = None,
    ) -> OnceResult:
        """Runs ``handler`` (sync or async) at most once per ``event_id`` across every process.

        A duplicate delivery does not run it again ("duplicate", with the stored return value);
        a handler that raises frees the event so a redelivery runs it (the exception propagates).
        The return value is stored when it is JSON (bytes allowed) and small enough, else None is.
        """
        b = await self.begin(event_id, fingerprint)
        if b.status != "new":
            return _once_of(b)
        assert b.token is not None
        try:
            result = handler()
            if inspect.isawaitable(result):
                result = await result
        except BaseException:
            try:
                await self.abandon(event_id, b.token)
            except Exception:  # the marker expires anyway; the handler's error is what matters
                _log.warning("once(%r): abandon failed", event_id, exc_info=True)
            raise
        try:
            try:
                await self.complete(event_id, b.token, result)
            except InvalidArgument:  # not storable: the event is still done
                await self.complete(event_id, b.token, None)
        except (LockLost, LockNotOwner):
            _log.warning("once(%r): handler outlived lock_ttl; the event may run again", event_id)
        return OnceResult("ran", result)


class Idempotency(_IdempotencyBase):
    """Idempotency keys for blocking code: ``client.idempotency`` on a sync Client."""

    def begin(
        self, key: str, fingerprint: Optional[Fingerprint] = None, *, lock_ttl: Optional[Seconds] = None
    ) -> IdempotencyBegin:
        """Claims ``key`` (status "new", with the token complete/abandon need) or reports its state."""
        return _begin_result(self._handle.call("begin", self._begin_args(key, fingerprint, lock_ttl)))

    def complete(self, key: str, token: str, response: Any = None, *, ttl: Optional[Seconds] = None) -> None:
        """Stores ``response`` for retries (see AsyncIdempotency.complete)."""
        self._handle.call("complete", self._complete_args(key, token, response, ttl))

    def abandon(self, key: str, token: str) -> bool:
        """Frees the key so a retry runs again (see AsyncIdempotency.abandon)."""
        r = self._handle.call("abandon", {"key": key, "token": token})
        assert isinstance(r, dict)
        return bool(r["abandoned"])

    def extend(self, key: str, token: str, *, lock_ttl: Optional[Seconds] = None) -> bool:
        """Pushes the in-progress marker's expiry out (heartbeat for long requests)."""
        r = self._handle.call("extend", self._extend_args(key, token, lock_ttl))
        assert isinstance(r, dict)
        return bool(r["extended"])

    def once(
        self, event_id: str, handler: Callable[[], Any], *, fingerprint: Optional[Fingerprint] = None
    ) -> OnceResult:
        """Runs ``handler`` at most once per ``event_id`` (see AsyncIdempotency.once)."""
        b = self.begin(event_id, fingerprint)
        if b.status != "new":
            return _once_of(b)
        assert b.token is not None
        try:
            result = handler()
        except BaseException:
            try:
                self.abandon(event_id, b.token)
            except Exception:
                _log.warning("once(%r): abandon failed", event_id, exc_info=True)
            raise
        try:
            try:
                self.complete(event_id, b.token, result)
            except InvalidArgument:  # not storable: the event is still done
                self.complete(event_id, b.token, None)
        except (LockLost, LockNotOwner):
            _log.warning("once(%r): handler outlived lock_ttl; the event may run again", event_id)
        return OnceResult("ran", result)


def _once_of(b: IdempotencyBegin) -> OnceResult:
    if b.status == "completed":
        return OnceResult("duplicate", b.response)
    if b.status == "in_progress":
        return OnceResult("in_progress", retry_after=b.retry_after)
    return OnceResult(b.status)


def make_idempotency(client: Any) -> Union[AsyncIdempotency, Idempotency]:
    """``client.idempotency``: the flavour matching the client (AsyncClient -> AsyncIdempotency)."""
    return AsyncIdempotency(client) if client._is_async else Idempotency(client)
