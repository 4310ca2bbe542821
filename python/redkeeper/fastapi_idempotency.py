"""IdempotencyMiddleware: the ``Idempotency-Key`` header for FastAPI/Starlette (pure ASGI).

    app.add_middleware(IdempotencyMiddleware, client=rk)

For requests with the header and a method in ``methods`` (POST and PATCH by default):

- the first request runs; its response (status, headers, body) is stored, then sent;
- a retry with the same key and the same request replays the stored response, with
  ``Idempotent-Replayed: true``;
- a request arriving while the first still runs gets **409** (with ``Retry-After``);
- the same key with a different request (method, path with query, or body) gets **422**;
- responses with status >= 500, and exceptions, are not stored: the key is released, so a retry
  runs the request again. Statuses below 500 (2xx, 3xx and 4xx) are stored.

The fingerprint is SHA-256 over the method, the path with its query string and the body. Keys are
per ``scope`` (a function of the ASGI scope, e.g. the authenticated user) when given, so two users'
keys never meet. Response bodies are buffered (streaming responses are sent once complete). The
store failing answers 503: running the request without idempotency could run it twice.
Works without FastAPI installed (Starlette-free); ``redkeeper.fastapi`` re-exports it.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import math
from typing import Any, Awaitable, Callable, Dict, Iterable, List, MutableMapping, Optional, Tuple, Union

from ._native import InvalidArgument, LockLost, LockNotOwner, RedkeeperError
from .idempotency import AsyncIdempotency, Seconds

__all__ = ["IdempotencyMiddleware"]

_log = logging.getLogger("redkeeper.idempotency")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
ScopeFunc = Callable[[Scope], Union[Optional[str], Awaitable[Optional[str]]]]

# Connection-level or recomputed headers: never replayed from the store.
_SKIP_HEADERS = frozenset({b"connection", b"keep-alive", b"transfer-encoding", b"content-length", b"date"})


class IdempotencyMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        client: Any = None,
        idempotency: Optional[AsyncIdempotency] = None,
        name: str = "http",
        ttl: Optional[Seconds] = None,
        lock_ttl: Optional[Seconds] = None,
        methods: Iterable[str] = ("POST", "PATCH"),
        header: str = "Idempotency-Key",
        scope: Optional[ScopeFunc] = None,
        max_key_length: int = 255,
        max_response_bytes: Optional[int] = None,
        store_status: Callable[[int], bool] = lambda status: status < 500,
    ) -> None:
        if idempotency is None:
            if client is None:
                raise InvalidArgument("client: IdempotencyMiddleware needs client= or idempotency=")
            # The async flavour works over either client kind (its ops go through acall()).
            idempotency = AsyncIdempotency(
                client, name=name, ttl=ttl, lock_ttl=lock_ttl, max_response_bytes=max_response_bytes
            )
        if not isinstance(max_key_length, int) or max_key_length < 1 or max_key_length > 512:
            raise InvalidArgument("max_key_length: must be an integer from 1 to 512")
        self.app = app
        self.idempotency = idempotency
        self.methods = frozenset(m.upper() for m in methods)
        self.header = header.lower().encode("latin-1")
        self.scope_func = scope
        self.max_key_length = max_key_length
        self.store_status = store_status

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in self.methods:
            await self.app(scope, receive, send)
            return
        raw_key = next((v for k, v in scope.get("headers", ()) if k == self.header), None)
        if raw_key is None:
            await self.app(scope, receive, send)
            return
        key = raw_key.decode("latin-1").strip()
        if not key or len(key) > self.max_key_length:
            await _send_json(send, 400, {"detail": f"{self.header.decode()} must be 1 to "
                                                   f"{self.max_key_length} characters"})
            return
        if self.scope_func is not None:
            owner = self.scope_func(scope)
            if inspect.isawaitable(owner):
                owner = await owner
            if owner:
                key = f"{owner}:{key}"

        body, disconnected = await _read_body(receive)
        if disconnected:
            return
        fingerprint = _fingerprint(scope, body)

        try:
            b = await self.idempotency.begin(key, fingerprint)
        except RedkeeperError:
            _log.exception("idempotency: begin failed")
            await _send_json(send, 503, {"detail": "idempotency store unavailable"}, [(b"retry-after", b"1")])
            return
        if b.status == "mismatch":
            await _send_json(send, 422, {"detail": "Idempotency-Key was already used with a different request"})
            return
        if b.status == "in_progress":
            retry = str(max(1, math.ceil(b.retry_after))).encode()
            await _send_json(send, 409, {"detail": "a request with this Idempotency-Key is in progress"},
                             [(b"retry-after", retry)])
            return
        if b.status == "completed":
            await _replay(send, b.response)
            return
        assert b.token is not None
        await self._run_first(scope, receive, send, key, b.token, body)

    async def _run_first(self, scope: Scope, receive: Receive, send: Send, key: str, token: str, body: bytes) -> None:
        replayed = False

        async def replay_receive() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        start: Optional[Message] = None
        chunks: List[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                chunks.append(bytes(message.get("body", b"")))

        try:
            await self.app(scope, replay_receive, capture)
        except BaseException:
            await self._abandon(key, token)
            raise
        if start is None:  # no response (e.g. the client went away): nothing to store, free the key
            await self._abandon(key, token)
            return

        status = int(start["status"])
        headers = [(bytes(k), bytes(v)) for k, v in start.get("headers", ())]
        response_body = b"".join(chunks)
        if self.store_status(status):
            stored = {
                "status": status,
                "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in headers
                            if k.lower() not in _SKIP_HEADERS],
                "body": response_body,
            }
            try:
                await self.idempotency.complete(key, token, stored)
            except InvalidArgument:  # over max_response_bytes: release rather than wedge the key
                _log.warning("idempotency: response for key %r too large to store; key released", key)
                await self._abandon(key, token)
            except (LockLost, LockNotOwner):
                _log.warning("idempotency: request for key %r outlived lock_ttl; response not stored", key)
            except RedkeeperError:
                _log.exception("idempotency: complete failed for key %r", key)
        else:
            await self._abandon(key, token)
        await _send_response(send, status, headers, response_body)

    async def _abandon(self, key: str, token: str) -> None:
        try:
            await self.idempotency.abandon(key, token)
        except Exception:  # the marker expires on its own after lock_ttl
            _log.warning("idempotency: abandon failed for key %r", key, exc_info=True)


def _fingerprint(scope: Scope, body: bytes) -> str:
    h = hashlib.sha256()
    h.update(scope["method"].encode("latin-1"))
    h.update(b"\n")
    path = scope.get("raw_path") or scope.get("path", "").encode("utf-8")
    h.update(path)
    if scope.get("query_string"):
        h.update(b"?")
        h.update(scope["query_string"])
    h.update(b"\n")
    h.update(body)
    return h.hexdigest()


async def _read_body(receive: Receive) -> Tuple[bytes, bool]:
    parts: List[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"", True
        parts.append(bytes(message.get("body", b"")))
        if not message.get("more_body", False):
            return b"".join(parts), False


async def _send_response(send: Send, status: int, headers: List[Tuple[bytes, bytes]], body: bytes) -> None:
    out = [(k, v) for k, v in headers if k.lower() not in (b"content-length", b"transfer-encoding")]
    out.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": out})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def _send_json(send: Send, status: int, payload: Dict[str, Any],
                     extra: Optional[List[Tuple[bytes, bytes]]] = None) -> None:
    headers = [(b"content-type", b"application/json")] + list(extra or [])
    await _send_response(send, status, headers, json.dumps(payload).encode())


async def _replay(send: Send, stored: Any) -> None:
    if not isinstance(stored, dict) or not isinstance(stored.get("status"), int):
        # Not written by a middleware (e.g. once() or a direct complete() used the same name).
        await _send_json(send, 409, {"detail": "Idempotency-Key belongs to a non-HTTP operation"})
        return
    headers = [(str(k).encode("latin-1"), str(v).encode("latin-1")) for k, v in stored.get("headers") or []]
    headers.append((b"idempotent-replayed", b"true"))
    body = stored.get("body") or b""
    if isinstance(body, str):
        body = body.encode("utf-8")
    await _send_response(send, stored["status"], headers, body)
