"""Server-side sessions for Starlette/FastAPI: a drop-in for ``starlette.middleware.sessions.SessionMiddleware``.

    app.add_middleware(SessionMiddleware, client=rk, secret_key=os.environ["SESSION_SECRET"])

    @app.post("/login")
    async def login(request: Request):
        request.session["user_id"] = 42      # indexed: rk.sessions.destroy_user(42) logs them out
        regenerate_session(request)          # new id after login (session fixation)

``request.session`` is a dict, as with Starlette's middleware; changes are saved when the response
starts; an emptied session is destroyed and its cookie cleared. The cookie holds only the session
id, signed with ``secret_key`` (itsdangerous, as Starlette does); the data lives in redkeeper
(memory:// or Redis) under ``client.sessions`` (see redkeeper.sessions). Async end to end.
"""

from __future__ import annotations

import json
from typing import Any, Dict, Optional

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner
from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .sessions import AsyncSessions

__all__ = ["SessionMiddleware", "regenerate_session", "session_id"]

_STATE = "redkeeper.session"


class _State:
    """Per-request bookkeeping kept in the ASGI scope."""

    __slots__ = ("id", "snapshot", "rotate")

    def __init__(self, session_id: Optional[str], snapshot: str) -> None:
        self.id = session_id
        self.snapshot = snapshot
        self.rotate = False


def regenerate_session(request: HTTPConnection) -> None:
    """Gives the session a new id when the response is sent (call it after login / privilege change)."""
    state = request.scope.get(_STATE)
    if state is None:
        raise RuntimeError("regenerate_session: redkeeper SessionMiddleware is not installed")
    state.rotate = True


def session_id(request: HTTPConnection) -> Optional[str]:
    """The current session's id (None before the first save): e.g. for ``list_user(current_id=...)``."""
    state = request.scope.get(_STATE)
    return None if state is None else state.id


def _dump(session: Dict[str, Any]) -> str:
    return json.dumps(session, sort_keys=True, separators=(",", ":"), default=str)


class SessionMiddleware:
    """Starlette's SessionMiddleware options (``secret_key``, ``session_cookie``/``cookie_name``,
    ``max_age``, ``path``, ``same_site``, ``https_only``, ``domain``), plus ``client`` (an
    AsyncClient), ``namespace`` (the sessions namespace), ``user_key`` (the session key whose value
    is the user id kept in the per-user index, default "user_id"), ``absolute_timeout``.

    ``max_age`` (seconds, default 14 days, None = browser-session cookie) is both the cookie's
    lifetime and the session's idle timeout in the store; every request that loads the session
    slides both."""

    def __init__(
        self,
        app: ASGIApp,
        client: Any,
        secret_key: str,
        cookie_name: str = "session",
        max_age: Optional[int] = 14 * 24 * 60 * 60,
        path: str = "/",
        same_site: str = "lax",
        https_only: bool = False,
        domain: Optional[str] = None,
        *,
        session_cookie: Optional[str] = None,
        namespace: str = "default",
        user_key: Optional[str] = "user_id",
        idle_timeout: Optional[float] = None,
        absolute_timeout: Optional[float] = None,
    ) -> None:
        if not secret_key:
            raise ValueError("secret_key: required (it signs the session cookie)")
        if not getattr(client, "_is_async", False):
            raise TypeError("client: must be a redkeeper.AsyncClient (the middleware is async end to end)")
        self.app = app
        self.signer = TimestampSigner(str(secret_key))
        self.cookie_name = session_cookie or cookie_name
        self.max_age = max_age
        self.path = path
        self.user_key = user_key
        idle = idle_timeout if idle_timeout is not None else max_age
        self.idle_timeout = idle  # the store's TTL for every save (None: the sessions default)
        options: Dict[str, Any] = {"name": namespace}
        if idle is not None:
            options["idle_timeout"] = idle
        if absolute_timeout is not None:
            options["absolute_timeout"] = absolute_timeout
        self.sessions: AsyncSessions = client.sessions.with_options(**options)
        flags = "httponly; samesite=" + same_site
        if https_only:
            flags += "; secure"
        if domain:
            flags += f"; domain={domain}"
        self.security_flags = flags

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return

        connection = HTTPConnection(scope)
        sid: Optional[str] = None
        data: Dict[str, Any] = {}
        signed = connection.cookies.get(self.cookie_name)
        if signed:
            try:
                sid = self.signer.unsign(signed, max_age=self.max_age).decode("utf-8")
            except (BadSignature, SignatureExpired, UnicodeDecodeError):
                sid = None
            if sid is not None:
                loaded = await self.sessions.get(sid)
                if loaded is None:
                    sid = None  # expired or destroyed elsewhere: start afresh (never reuse the id)
                else:
                    data = loaded  # type: ignore[assignment]
        state = _State(sid, _dump(data))
        scope["session"] = data
        scope[_STATE] = state

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                cookie = await self._save(scope["session"], state)
                if cookie is not None:
                    headers.append("Set-Cookie", cookie)
            await send(message)

        await self.app(scope, receive, send_wrapper)

    def _user_of(self, session: Dict[str, Any]) -> Any:
        if self.user_key is None:
            return None
        user = session.get(self.user_key)
        return user if isinstance(user, (str, int)) and not isinstance(user, bool) and user != "" else None

    async def _save(self, session: Dict[str, Any], state: _State) -> Optional[str]:
        """Persists the request's session; returns the Set-Cookie value (None: leave the cookie)."""
        ttl = self.idle_timeout
        if not session:
            if state.id is None:
                return None
            await self.sessions.destroy(state.id)
            state.id = None
            return f"{self.cookie_name}=null; path={self.path}; expires=Thu, 01 Jan 1970 00:00:00 GMT; {self.security_flags}"
        if state.id is None:
            state.id = await self.sessions.create(session, user_id=self._user_of(session), ttl=ttl)
        elif _dump(session) != state.snapshot:
            await self.sessions.set(state.id, session, ttl=ttl, user_id=self._user_of(session))
        if state.rotate:
            new_id = await self.sessions.rotate(state.id)
            if new_id is None:  # expired between load and save: store it afresh under a new id
                new_id = await self.sessions.create(session, user_id=self._user_of(session), ttl=ttl)
            state.id = new_id
        value = self.signer.sign(state.id).decode("utf-8")
        max_age = f"Max-Age={self.max_age}; " if self.max_age else ""
        return f"{self.cookie_name}={value}; path={self.path}; {max_age}{self.security_flags}"
