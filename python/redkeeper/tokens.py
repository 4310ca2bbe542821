"""JWT denylist and token versions: ``client.tokens`` and ``client.token_versions``.

    rk = redkeeper.AsyncClient("redis://localhost")
    tokens = rk.tokens.with_options(verify_key=SECRET, max_lifetime="7 days")
    await tokens.revoke(jwt)                       # logout: denylisted until the token's exp
    await tokens.revoke_user("42", reason="password changed")   # every token of 42 issued before now
    if await tokens.is_revoked(jwt): ...           # one round trip: denylist + user revoke-all
    claims = await tokens.check(jwt)               # claims, or TokenRevoked / TokenInvalid / TokenMalformed

    versions = rk.token_versions.with_options(loader=load_version_from_db)
    v = await versions.get(user_id)                # embed v in the token at issuance
    await versions.bump(user_id)                   # every token carrying an older version fails
    ok = await versions.verify(user_id, claims["tv"])

JWTs are decoded natively (no signature check unless ``verify_key`` is set: HS256/384/512 with a
secret, RS*/ES* with a PEM public key; ``alg: none`` and algorithm confusion are refused). Raw
tokens are never stored. Store failures fail **closed** (``is_revoked`` -> True, ``check`` raises
TokenRevoked) unless ``on_error="raise"``. Durations are seconds (number, "15m" or timedelta).
Semantics and key layout: core/src/tokens/README.md, shared with the Node package.
"""

from __future__ import annotations

import datetime
import inspect
import math
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Dict, List, Optional, Sequence, Union

from ._native import InvalidArgument
from ._primitive import PrimitiveHandle

__all__ = [
    "AsyncTokenVersions",
    "AsyncTokens",
    "AuditEntry",
    "TokenVersions",
    "Tokens",
    "UserAudit",
    "UserRevocation",
    "make_token_versions",
    "make_tokens",
]

Seconds = Union[int, float, str, datetime.timedelta]
UserId = Union[str, int]
"""A user id / JWT ``sub``: str or int (42 and "42" are the same user, from Python and Node)."""
Token = Union[str, bytes]
VersionLoader = Callable[[UserId], Union[Optional[int], Awaitable[Optional[int]]]]


@dataclass(frozen=True)
class UserRevocation:
    """What ``revoke_user`` recorded: tokens of the user issued before ``revoked_before`` (epoch
    seconds) are revoked; the record is kept until ``expires`` (by then they have all expired)."""

    revoked_before: float
    expires: float


@dataclass(frozen=True)
class AuditEntry:
    at: float
    reason: str


@dataclass(frozen=True)
class UserAudit:
    """A user's revoke-all instant (None: never revoked, or the record expired) and the last
    ``audit_limit`` reasons, newest first."""

    revoked_before: Optional[float]
    entries: List[AuditEntry]


def _duration_ms(value: Seconds, param: str, allow_zero: bool = False) -> Union[int, str]:
    if isinstance(value, datetime.timedelta):
        value = value.total_seconds()
    if isinstance(value, str):
        return value  # the core parses duration strings like the limiter ("15m", "7 days")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidArgument(f"{param}: must be seconds (int or float), got {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        raise InvalidArgument(f"{param}: must be > 0 seconds, got {value!r}")
    return math.ceil(value * 1000)


def _user(user: Any, param: str) -> UserId:
    # bool is an int subclass: True would silently become user "1".
    if isinstance(user, bool) or not isinstance(user, (str, int)):
        raise InvalidArgument(f"{param}: must be a str or int, got {type(user).__name__}")
    return user


def _token(token: Any) -> Any:
    # The core types every non-token (None, numbers, dicts) as TokenMalformed; bytearray and
    # memoryview are passed as bytes so they are read as the token text.
    if isinstance(token, (bytearray, memoryview)):
        return bytes(token)
    return token


def _revocation(r: Any) -> UserRevocation:
    return UserRevocation(revoked_before=r["revoked_before_ms"] / 1000.0, expires=r["expires_at_ms"] / 1000.0)


def _audit(r: Any) -> UserAudit:
    before = r["revoked_before_ms"]
    return UserAudit(
        revoked_before=None if before is None else before / 1000.0,
        entries=[AuditEntry(at=e["at_ms"] / 1000.0, reason=e["reason"]) for e in r["entries"]],
    )


class _TokensBase:
    def __init__(
        self,
        client: Any,
        *,
        max_lifetime: Optional[Seconds] = None,
        leeway: Optional[Seconds] = None,
        verify_key: Optional[Union[str, bytes]] = None,
        algorithms: Optional[Sequence[str]] = None,
        on_error: str = "closed",
        audit_limit: Optional[int] = None,
    ) -> None:
        self._client = client
        self._options: Dict[str, Any] = {
            "max_lifetime": max_lifetime,
            "leeway": leeway,
            "verify_key": verify_key,
            "algorithms": algorithms,
            "on_error": on_error,
            "audit_limit": audit_limit,
        }
        config: Dict[str, Any] = {"on_error": on_error}
        if max_lifetime is not None:
            config["max_lifetime_ms"] = _duration_ms(max_lifetime, "max_lifetime")
        if leeway is not None:
            config["leeway_ms"] = _duration_ms(leeway, "leeway", allow_zero=True)
        if verify_key is not None:
            config["verify_key"] = verify_key
        if algorithms is not None:
            if isinstance(algorithms, str):
                raise InvalidArgument("algorithms: must be a list of algorithm names, not a str")
            config["algorithms"] = list(algorithms)
        if audit_limit is not None:
            config["audit_limit"] = audit_limit
        self._handle = PrimitiveHandle(client, "tokens", config)

    def with_options(self, **options: Any) -> Any:
        """A new instance with these options changed (max_lifetime, leeway, verify_key,
        algorithms, on_error, audit_limit); this one is unchanged."""
        merged = dict(self._options)
        merged.update(options)
        return type(self)(self._client, **merged)

    def decode(self, token: Token) -> Dict[str, Any]:
        """``{"header": ..., "claims": ...}`` without any check or store access (TokenMalformed
        when it is not a JWT)."""
        return self._handle.call("decode", {"token": _token(token)})  # type: ignore[return-value]


class AsyncTokens(_TokensBase):
    """The JWT denylist, asyncio flavour (``AsyncClient.tokens``)."""

    async def revoke(self, token: Token) -> bool:
        """Denylists the token until it expires. True when this call added it; False when it was
        already denylisted or has already expired (nothing to store)."""
        r = await self._handle.acall("revoke", {"token": _token(token)})
        return bool(r["added"])  # type: ignore[index]

    async def revoke_user(self, sub: UserId, reason: Optional[str] = None) -> UserRevocation:
        """Revokes every token of ``sub`` issued before now (``iat`` earlier than the instant; a
        token without ``iat`` counts as earlier). The reason is kept in the bounded audit trail."""
        args: Dict[str, Any] = {"sub": _user(sub, "sub")}
        if reason is not None:
            args["reason"] = reason
        return _revocation(await self._handle.acall("revoke_user", args))

    async def is_revoked(self, token: Token) -> bool:
        """True when the token is denylisted, its user was revoked after it was issued, or it has
        expired; also True when the store cannot be asked (fail closed, unless on_error="raise")."""
        return await self._handle.acall("is_revoked", {"token": _token(token)})  # type: ignore[return-value]

    async def check(self, token: Token) -> Dict[str, Any]:
        """The token's claims, or raises TokenRevoked, TokenInvalid (signature, alg, exp, nbf) or
        TokenMalformed."""
        return await self._handle.acall("check", {"token": _token(token)})  # type: ignore[return-value]

    async def stats(self) -> Dict[str, int]:
        """``{"denylisted": live denylist entries, "users_revoked": users with a revoke-all in force}``."""
        return await self._handle.acall("stats")  # type: ignore[return-value]

    async def audit(self, sub: UserId) -> UserAudit:
        return _audit(await self._handle.acall("audit", {"sub": _user(sub, "sub")}))


class Tokens(_TokensBase):
    """The JWT denylist, blocking flavour (``Client.tokens``); same semantics as AsyncTokens."""

    def revoke(self, token: Token) -> bool:
        return bool(self._handle.call("revoke", {"token": _token(token)})["added"])  # type: ignore[index]

    def revoke_user(self, sub: UserId, reason: Optional[str] = None) -> UserRevocation:
        args: Dict[str, Any] = {"sub": _user(sub, "sub")}
        if reason is not None:
            args["reason"] = reason
        return _revocation(self._handle.call("revoke_user", args))

    def is_revoked(self, token: Token) -> bool:
        return self._handle.call("is_revoked", {"token": _token(token)})  # type: ignore[return-value]

    def check(self, token: Token) -> Dict[str, Any]:
        return self._handle.call("check", {"token": _token(token)})  # type: ignore[return-value]

    def stats(self) -> Dict[str, int]:
        return self._handle.call("stats")  # type: ignore[return-value]

    def audit(self, sub: UserId) -> UserAudit:
        return _audit(self._handle.call("audit", {"sub": _user(sub, "sub")}))


class _VersionsBase:
    """Per-user version counters plus a global epoch. A version is one int: ``epoch << 32 |
    counter``; ``verify`` is true iff it equals the current one (core/src/tokens/README.md)."""

    def __init__(
        self,
        client: Any,
        *,
        loader: Optional[VersionLoader] = None,
        cache_ttl: Optional[Seconds] = None,
        on_error: str = "closed",
    ) -> None:
        if loader is not None and not callable(loader):
            raise InvalidArgument("loader: must be callable (user) -> int | None")
        self._client = client
        self._loader = loader
        self._options: Dict[str, Any] = {"loader": loader, "cache_ttl": cache_ttl, "on_error": on_error}
        config: Dict[str, Any] = {"on_error": on_error}
        if cache_ttl is not None:
            config["cache_ttl_ms"] = _duration_ms(cache_ttl, "cache_ttl")
        self._handle = PrimitiveHandle(client, "token_versions", config)

    def with_options(self, **options: Any) -> Any:
        """A new instance with these options changed (loader, cache_ttl, on_error)."""
        merged = dict(self._options)
        merged.update(options)
        return type(self)(self._client, **merged)

    @staticmethod
    def _loaded(value: Any) -> int:
        if value is None:
            return 0
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InvalidArgument(f"loader: must return a non-negative int or None, got {value!r}")
        return value

    @staticmethod
    def _version(version: Any) -> int:
        if isinstance(version, bool) or not isinstance(version, int):
            raise InvalidArgument(f"version: must be an int, got {type(version).__name__}")
        return version


class AsyncTokenVersions(_VersionsBase):
    """Token versions, asyncio flavour (``AsyncClient.token_versions``). The loader may be a
    coroutine function or a plain function."""

    async def _load(self, user: UserId) -> int:
        assert self._loader is not None
        value = self._loader(user)
        if inspect.isawaitable(value):
            value = await value
        return self._loaded(value)

    async def get(self, user: UserId) -> int:
        """The user's current version (embed it in tokens you issue)."""
        u = _user(user, "user")
        r: Any = await self._handle.acall("get", {"user": u})
        if not r["found"] and self._loader is not None:
            r = await self._handle.acall("prime", {"user": u, "counter": await self._load(u)})
        return int(r["version"])

    async def bump(self, user: UserId) -> int:
        """Invalidates every version issued so far for the user; returns the new version. Bumped
        counters never expire (persist the new value in your database if you use a loader)."""
        u = _user(user, "user")
        args: Dict[str, Any] = {"user": u, "need_load": self._loader is not None}
        r: Any = await self._handle.acall("bump", args)
        if not r["found"]:
            args["base"] = await self._load(u)
            r = await self._handle.acall("bump", args)
        return int(r["version"])

    async def bump_all(self) -> int:
        """Invalidates every user's tokens (raises the global epoch); returns the new epoch."""
        r: Any = await self._handle.acall("bump_all")
        return int(r["epoch"])

    async def verify(self, user: UserId, version: int) -> bool:
        """True iff ``version`` is the user's current version. False when the store cannot be
        asked (fail closed), unless on_error="raise"."""
        u = _user(user, "user")
        r: Any = await self._handle.acall("verify", {"user": u, "version": self._version(version)})
        if not r["found"] and self._loader is not None and not r.get("degraded"):
            return await self.get(u) == version
        return bool(r["valid"])


class TokenVersions(_VersionsBase):
    """Token versions, blocking flavour (``Client.token_versions``); the loader is a plain function."""

    def _load(self, user: UserId) -> int:
        assert self._loader is not None
        value = self._loader(user)
        if inspect.isawaitable(value):
            raise InvalidArgument("loader: the blocking client needs a plain function, not a coroutine")
        return self._loaded(value)

    def get(self, user: UserId) -> int:
        u = _user(user, "user")
        r: Any = self._handle.call("get", {"user": u})
        if not r["found"] and self._loader is not None:
            r = self._handle.call("prime", {"user": u, "counter": self._load(u)})
        return int(r["version"])

    def bump(self, user: UserId) -> int:
        u = _user(user, "user")
        args: Dict[str, Any] = {"user": u, "need_load": self._loader is not None}
        r: Any = self._handle.call("bump", args)
        if not r["found"]:
            args["base"] = self._load(u)
            r = self._handle.call("bump", args)
        return int(r["version"])

    def bump_all(self) -> int:
        return int(self._handle.call("bump_all")["epoch"])  # type: ignore[index]

    def verify(self, user: UserId, version: int) -> bool:
        u = _user(user, "user")
        r: Any = self._handle.call("verify", {"user": u, "version": self._version(version)})
        if not r["found"] and self._loader is not None and not r.get("degraded"):
            return self.get(u) == version
        return bool(r["valid"])


def make_tokens(client: Any) -> Union[AsyncTokens, Tokens]:
    return AsyncTokens(client) if client._is_async else Tokens(client)


def make_token_versions(client: Any) -> Union[AsyncTokenVersions, TokenVersions]:
    return AsyncTokenVersions(client) if client._is_async else TokenVersions(client)
