"""Server-side sessions: ``client.sessions`` (AsyncSessions on AsyncClient, Sessions on Client).

    rk = redkeeper.AsyncClient("redis://localhost")
    sessions = rk.sessions.with_options(idle_timeout="30m", absolute_timeout="12h")
    sid = await sessions.create({"cart": []}, user_id=42, device={"ua": "Firefox"})
    data = await sessions.get(sid)             # None once expired or destroyed (refreshes idle expiry)
    await sessions.update(sid, {"cart": [1]})  # merges top-level keys; a None value deletes a key
    sid = await sessions.rotate(sid)           # after login: new id, same data, old id dead
    for s in await sessions.list_user(42, current_id=sid):
        print(s.handle, s.device, s.last_seen, s.current)
    await sessions.destroy_user(42, except_id=sid)   # "log out my other devices"

Ids are 256-bit CSPRNG values (43 URL-safe chars). Redis only ever holds their SHA-256 "handle",
which ``list_user`` returns and ``destroy_handle(user_id, handle)`` accepts. Times are seconds since
the epoch (floats), durations seconds (number, "15m" or timedelta). Logic, key layout and the exact
semantics live in the C++ core (core/src/sessions/README.md), shared with the Node package.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

from ._primitive import Json, PrimitiveHandle
from ._primitive import Seconds, to_ms

__all__ = ["AsyncSessions", "SessionInfo", "SessionListing", "Sessions", "UserId", "make_sessions"]

UserId = Union[str, int]
"""A user id: str or int (42 and "42" are the same user, from Python and Node alike)."""


def _secs(ms: Any) -> Optional[float]:
    return ms / 1000.0 if isinstance(ms, int) else None


@dataclass(frozen=True)
class SessionInfo:
    """A session's metadata (``info(id)`` / ``get(id, with_meta=True)``). Times: epoch seconds."""

    handle: str
    user_id: Optional[str]
    device: Any
    created: float
    last_seen: float
    expires: float
    idle_timeout: float
    absolute_deadline: Optional[float]

    @classmethod
    def _from(cls, m: Mapping[str, Any]) -> "SessionInfo":
        return cls(
            handle=str(m["handle"]),
            user_id=m.get("user_id"),
            device=m.get("device"),
            created=m["created"] / 1000.0,
            last_seen=m["last_seen"] / 1000.0,
            expires=m["expires"] / 1000.0,
            idle_timeout=m["idle_timeout_ms"] / 1000.0,
            absolute_deadline=_secs(m.get("absolute_deadline")),
        )


@dataclass(frozen=True)
class SessionListing:
    """One entry of ``list_user``: ``handle`` names the session without revealing its id;
    ``current`` is True for the session whose id was passed as ``current_id``."""

    handle: str
    device: Any
    created: float
    last_seen: float
    expires: float
    current: bool

    @classmethod
    def _from(cls, m: Mapping[str, Any]) -> "SessionListing":
        return cls(
            handle=str(m["handle"]),
            device=m.get("device"),
            created=m["created"] / 1000.0,
            last_seen=m["last_seen"] / 1000.0,
            expires=m["expires"] / 1000.0,
            current=bool(m["current"]),
        )


def _user(user_id: Any, param: str = "user_id") -> UserId:
    # bool is an int subclass: True would silently become user "1".
    if isinstance(user_id, bool) or not isinstance(user_id, (str, int)):
        from ._native import InvalidArgument

        raise InvalidArgument(f"{param}: must be a str or int, got {type(user_id).__name__}")
    return user_id


class _SessionsBase:
    """Options, lazy handle creation and argument shaping shared by the async and sync flavours."""

    def __init__(
        self,
        client: Any,
        *,
        name: str = "default",
        idle_timeout: Optional[Seconds] = None,
        absolute_timeout: Optional[Seconds] = None,
        touch_on_get: bool = True,
        max_bytes: Optional[int] = None,
    ) -> None:
        self._client = client
        self._options: Dict[str, Any] = {
            "name": name,
            "idle_timeout": idle_timeout,
            "absolute_timeout": absolute_timeout,
            "touch_on_get": touch_on_get,
            "max_bytes": max_bytes,
        }
        config: Dict[str, Any] = {"name": name, "touch_on_get": touch_on_get}
        if idle_timeout is not None:
            config["idle_timeout_ms"] = to_ms(idle_timeout, "idle_timeout")
        if absolute_timeout is not None:
            config["absolute_timeout_ms"] = to_ms(absolute_timeout, "absolute_timeout")
        if max_bytes is not None:
            config["max_bytes"] = max_bytes
        self._handle = PrimitiveHandle(client, "sessions", config)

    def with_options(self, **options: Any) -> Any:
        """A new instance with these options changed (name, idle_timeout, absolute_timeout,
        touch_on_get, max_bytes); this one is unchanged."""
        merged = dict(self._options)
        merged.update(options)
        return type(self)(self._client, **merged)

    @staticmethod
    def _create_args(
        data: Optional[Mapping[str, Any]], user_id: Optional[UserId], ttl: Optional[Seconds], device: Any
    ) -> Dict[str, Any]:
        args: Dict[str, Any] = {"data": {} if data is None else data}
        if user_id is not None:
            args["user_id"] = _user(user_id)
        if ttl is not None:
            args["ttl_ms"] = to_ms(ttl, "ttl")
        if device is not None:
            args["device"] = device
        return args

    @staticmethod
    def _get_args(session_id: str, with_meta: bool, touch: Optional[bool]) -> Dict[str, Any]:
        # Without meta the core answers the data as JSON text: json.loads builds it fastest.
        args: Dict[str, Any] = {"id": session_id, "with_meta": True} if with_meta else {"id": session_id, "as_json": True}
        if touch is not None:
            args["touch"] = touch
        return args

    @staticmethod
    def _get_result(r: Json, with_meta: bool) -> Any:
        if r is None:
            return None
        if with_meta:
            assert isinstance(r, dict)
            return r["data"], SessionInfo._from(r["meta"])
        assert isinstance(r, str)
        return json.loads(r)


class AsyncSessions(_SessionsBase):
    """Server-side sessions, asyncio flavour (``AsyncClient.sessions``)."""

    async def create(
        self,
        data: Optional[Mapping[str, Any]] = None,
        user_id: Optional[UserId] = None,
        ttl: Optional[Seconds] = None,
        device: Any = None,
    ) -> str:
        """A new session; returns its id (43 URL-safe chars). ``ttl`` overrides the idle timeout."""
        return await self._handle.acall("create", self._create_args(data, user_id, ttl, device))  # type: ignore[return-value]

    async def set(
        self,
        session_id: str,
        data: Mapping[str, Any],
        ttl: Optional[Seconds] = None,
        user_id: Optional[UserId] = None,
        device: Any = None,
    ) -> bool:
        """Stores ``data`` under an id chosen elsewhere (replaces the data; keeps created/user)."""
        args = self._create_args(data, user_id, ttl, device)
        args["id"] = session_id
        return bool(await self._handle.acall("set", args))

    async def get(
        self, session_id: str, *, with_meta: bool = False, touch: Optional[bool] = None
    ) -> Union[None, Dict[str, Any], Tuple[Dict[str, Any], SessionInfo]]:
        """The session's data (``(data, SessionInfo)`` with ``with_meta``), None when there is none.
        Refreshes the idle expiry unless ``touch=False`` (or ``touch_on_get=False``)."""
        args = self._get_args(session_id, with_meta, touch)
        return self._get_result(await self._handle.acall("get", args), with_meta)

    async def info(self, session_id: str) -> Optional[SessionInfo]:
        """Metadata without refreshing the session."""
        r = await self._handle.acall("info", {"id": session_id})
        return None if r is None else SessionInfo._from(r)  # type: ignore[arg-type]

    async def update(self, session_id: str, patch: Mapping[str, Any], *, touch: Optional[bool] = None) -> bool:
        """Merges top-level keys (a None value deletes the key). False when there is no session."""
        args: Dict[str, Any] = {"id": session_id, "patch": patch}
        if touch is not None:
            args["touch"] = touch
        return bool(await self._handle.acall("update", args))

    async def touch(self, session_id: str, ttl: Optional[Seconds] = None) -> bool:
        """Sliding refresh (optionally with a new idle timeout). False when there is no session."""
        args: Dict[str, Any] = {"id": session_id}
        if ttl is not None:
            args["ttl_ms"] = to_ms(ttl, "ttl")
        return bool(await self._handle.acall("touch", args))

    async def destroy(self, session_id: str) -> bool:
        return bool(await self._handle.acall("destroy", {"id": session_id}))

    async def destroy_handle(self, user_id: UserId, handle: str) -> bool:
        """Destroys a session listed by ``list_user`` (only if it belongs to ``user_id``)."""
        return bool(await self._handle.acall("destroy_handle", {"user_id": _user(user_id), "handle": handle}))

    async def destroy_user(self, user_id: UserId, except_id: Optional[str] = None) -> int:
        """Destroys every session of the user (but ``except_id``); returns how many."""
        args: Dict[str, Any] = {"user_id": _user(user_id)}
        if except_id is not None:
            args["except_id"] = except_id
        return int(await self._handle.acall("destroy_user", args))  # type: ignore[arg-type]

    async def list_user(self, user_id: UserId, current_id: Optional[str] = None) -> List[SessionListing]:
        """The user's live sessions (expired ones pruned), soonest expiry first."""
        args: Dict[str, Any] = {"user_id": _user(user_id)}
        if current_id is not None:
            args["current_id"] = current_id
        r = await self._handle.acall("list_user", args)
        return [SessionListing._from(e) for e in r]  # type: ignore[union-attr]

    async def rotate(self, session_id: str) -> Optional[str]:
        """New id for the same session (against fixation); the old id stops working. None if gone."""
        return await self._handle.acall("rotate", {"id": session_id})  # type: ignore[return-value]

    async def count(self) -> int:
        """Live sessions in this namespace."""
        return int(await self._handle.acall("count"))  # type: ignore[arg-type]


class Sessions(_SessionsBase):
    """Server-side sessions, sync flavour (``Client.sessions``); same methods as AsyncSessions."""

    def create(
        self,
        data: Optional[Mapping[str, Any]] = None,
        user_id: Optional[UserId] = None,
        ttl: Optional[Seconds] = None,
        device: Any = None,
    ) -> str:
        return self._handle.call("create", self._create_args(data, user_id, ttl, device))  # type: ignore[return-value]

    def set(
        self,
        session_id: str,
        data: Mapping[str, Any],
        ttl: Optional[Seconds] = None,
        user_id: Optional[UserId] = None,
        device: Any = None,
    ) -> bool:
        args = self._create_args(data, user_id, ttl, device)
        args["id"] = session_id
        return bool(self._handle.call("set", args))

    def get(
        self, session_id: str, *, with_meta: bool = False, touch: Optional[bool] = None
    ) -> Union[None, Dict[str, Any], Tuple[Dict[str, Any], SessionInfo]]:
        return self._get_result(self._handle.call("get", self._get_args(session_id, with_meta, touch)), with_meta)

    def info(self, session_id: str) -> Optional[SessionInfo]:
        r = self._handle.call("info", {"id": session_id})
        return None if r is None else SessionInfo._from(r)  # type: ignore[arg-type]

    def update(self, session_id: str, patch: Mapping[str, Any], *, touch: Optional[bool] = None) -> bool:
        args: Dict[str, Any] = {"id": session_id, "patch": patch}
        if touch is not None:
            args["touch"] = touch
        return bool(self._handle.call("update", args))

    def touch(self, session_id: str, ttl: Optional[Seconds] = None) -> bool:
        args: Dict[str, Any] = {"id": session_id}
        if ttl is not None:
            args["ttl_ms"] = to_ms(ttl, "ttl")
        return bool(self._handle.call("touch", args))

    def destroy(self, session_id: str) -> bool:
        return bool(self._handle.call("destroy", {"id": session_id}))

    def destroy_handle(self, user_id: UserId, handle: str) -> bool:
        return bool(self._handle.call("destroy_handle", {"user_id": _user(user_id), "handle": handle}))

    def destroy_user(self, user_id: UserId, except_id: Optional[str] = None) -> int:
        args: Dict[str, Any] = {"user_id": _user(user_id)}
        if except_id is not None:
            args["except_id"] = except_id
        return int(self._handle.call("destroy_user", args))  # type: ignore[arg-type]

    def list_user(self, user_id: UserId, current_id: Optional[str] = None) -> List[SessionListing]:
        args: Dict[str, Any] = {"user_id": _user(user_id)}
        if current_id is not None:
            args["current_id"] = current_id
        return [SessionListing._from(e) for e in self._handle.call("list_user", args)]  # type: ignore[union-attr]

    def rotate(self, session_id: str) -> Optional[str]:
        return self._handle.call("rotate", {"id": session_id})  # type: ignore[return-value]

    def count(self) -> int:
        return int(self._handle.call("count"))  # type: ignore[arg-type]


def make_sessions(client: Any) -> Union[AsyncSessions, Sessions]:
    """``client.sessions``: the flavour matching the client (AsyncClient -> AsyncSessions)."""
    return AsyncSessions(client) if client._is_async else Sessions(client)
