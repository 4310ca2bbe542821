"""FastAPI/Starlette dependency rejecting revoked, malformed or invalid JWTs with 401.

    from redkeeper.fastapi import require_valid_token

    rk = redkeeper.AsyncClient("redis://localhost")
    valid_token = require_valid_token(rk.tokens.with_options(verify_key=SECRET))

    @app.get("/me")
    async def me(claims: dict = Depends(valid_token)):
        return {"user": claims["sub"]}

The 401 body is ``{"detail": {"error": "token_missing" | "token_malformed" | "token_invalid" |
"token_revoked", "message": ...}}`` with ``WWW-Authenticate: Bearer``. The check is one round trip
(``tokens.check``) and fails closed when the store is down (401 token_revoked), unless the tokens
object was configured with on_error="raise".
"""

from __future__ import annotations

import inspect
from typing import Any, Awaitable, Callable, Dict, Optional, Union

from fastapi import HTTPException
from starlette.requests import Request

from ._native import TokenInvalid, TokenMalformed, TokenRevoked

__all__ = ["require_valid_token"]

TokenGetter = Callable[[Request], Union[Optional[str], Awaitable[Optional[str]]]]


def bearer_token(request: Request) -> Optional[str]:
    """The token of an ``Authorization: Bearer <token>`` header (scheme case-insensitive)."""
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def _unauthorized(error: str, message: str) -> HTTPException:
    return HTTPException(
        status_code=401,
        detail={"error": error, "message": message},
        headers={"WWW-Authenticate": "Bearer"},
    )


def require_valid_token(client: Any, get_token: Optional[TokenGetter] = None) -> Callable[[Request], Awaitable[Dict[str, Any]]]:
    """A dependency returning the token's claims. ``client`` is an AsyncClient / Client (its
    ``tokens``) or a tokens object from ``.tokens.with_options(...)``; ``get_token(request)``
    (sync or async) defaults to the Bearer header."""
    tokens = client.tokens if hasattr(client, "tokens") else client
    getter = get_token or bearer_token

    async def valid_token(request: Request) -> Dict[str, Any]:
        token = getter(request)
        if inspect.isawaitable(token):
            token = await token
        if not token:
            raise _unauthorized("token_missing", "no bearer token")
        try:
            claims = tokens.check(token)
            if inspect.isawaitable(claims):
                claims = await claims
        except TokenRevoked as e:
            raise _unauthorized("token_revoked", str(e)) from None
        except TokenMalformed as e:
            raise _unauthorized("token_malformed", str(e)) from None
        except TokenInvalid as e:
            raise _unauthorized("token_invalid", str(e)) from None
        request.state.token_claims = claims
        return claims  # type: ignore[no-any-return]

    return valid_token
