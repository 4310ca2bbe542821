"""One-time codes: ``issue`` and ``verify``, stored as HMACs, with attempt limits and a resend cooldown.

    rk = redkeeper.AsyncClient("redis://localhost")
    otp = rk.otp.with_options(secret=os.environb[b"OTP_SECRET"])  # required on Redis
    sent = await otp.issue("user:42")          # sent.code -> e-mail/SMS it
    if not sent:                               # sent.reason: "cooldown" | "locked"
        ...                                    # sent.retry_after seconds
    check = await otp.verify("user:42", code_from_user)
    if check.ok: ...                           # else check.reason, check.attempts_left

The secret: on Redis it is required (every process must hash with the same key); it may come from
the ``secret=`` option or the ``REDKEEPER_OTP_SECRET`` environment variable. On ``memory://`` the
default is a random per-client secret. Logic and keys live in the C++ core
(core/src/otp/README.md), shared with the Node package.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Any, Dict, Optional, Union

from ._native import InvalidArgument
from ._primitive import Json, PrimitiveHandle
from ._primitive import Seconds, to_ms

__all__ = ["AsyncOtp", "Otp", "OtpIssue", "OtpVerify", "make_otp"]

_SECRET_ENV = "REDKEEPER_OTP_SECRET"


@dataclass(frozen=True)
class OtpIssue:
    """The outcome of ``issue``. Truthy when a code was issued (``code``: send it to the user).
    Otherwise ``reason`` is "cooldown" (a code was issued less than ``cooldown`` ago) or "locked"
    (too many wrong guesses; the lockout lasts until the current code expires), and ``retry_after``
    says when to try again (seconds)."""

    issued: bool
    reason: str
    code: Optional[str]
    ttl: Optional[float]
    retry_after: float

    def __bool__(self) -> bool:
        return self.issued

    def __repr__(self) -> str:  # the code is a secret: never in logs by accident
        code = "'***'" if self.code is not None else "None"
        return (f"OtpIssue(issued={self.issued}, reason={self.reason!r}, code={code}, ttl={self.ttl}, "
                f"retry_after={self.retry_after})")


@dataclass(frozen=True)
class OtpVerify:
    """The outcome of ``verify``. Truthy when the code was right (it is now used up). ``reason``:
    "ok", "invalid" (wrong code; ``attempts_left`` more before the lockout), "expired_or_missing"
    or "locked" (even the right code is refused until ``retry_after`` seconds have passed)."""

    ok: bool
    reason: str
    attempts_left: int
    retry_after: float

    def __bool__(self) -> bool:
        return self.ok


def _issue_result(r: Json) -> OtpIssue:
    assert isinstance(r, dict)
    ttl_ms = r.get("ttl_ms")
    return OtpIssue(
        issued=bool(r["issued"]),
        reason=str(r["reason"]),
        code=r.get("code"),  # type: ignore[arg-type]
        ttl=ttl_ms / 1000.0 if isinstance(ttl_ms, int) else None,
        retry_after=int(r.get("retry_after_ms") or 0) / 1000.0,  # type: ignore[arg-type]
    )


def _verify_result(r: Json) -> OtpVerify:
    assert isinstance(r, dict)
    return OtpVerify(
        ok=bool(r["ok"]),
        reason=str(r["reason"]),
        attempts_left=int(r["attempts_left"]),  # type: ignore[arg-type]
        retry_after=int(r.get("retry_after_ms") or 0) / 1000.0,  # type: ignore[arg-type]
    )


class _OtpBase:
    """Options, lazy handle creation and argument shaping shared by the async and sync flavours."""

    def __init__(
        self,
        client: Any,
        *,
        name: str = "default",
        secret: Optional[Union[str, bytes]] = None,
        ttl: Optional[Seconds] = None,
        digits: Optional[int] = None,
        max_attempts: Optional[int] = None,
        cooldown: Optional[Seconds] = None,
    ) -> None:
        self._client = client
        self._options: Dict[str, Any] = {
            "name": name,
            "secret": secret,
            "ttl": ttl,
            "digits": digits,
            "max_attempts": max_attempts,
            "cooldown": cooldown,
        }
        config: Dict[str, Any] = {"name": name}
        if secret is None:
            secret = os.environ.get(_SECRET_ENV) or None
        if secret is not None:
            config["secret"] = secret
        if ttl is not None:
            config["ttl_ms"] = to_ms(ttl, "ttl")
        if digits is not None:
            config["digits"] = digits
        if max_attempts is not None:
            config["max_attempts"] = max_attempts
        if cooldown is not None:
            config["cooldown_ms"] = 0 if cooldown == 0 else to_ms(cooldown, "cooldown")
        self._config = config
        # Made on first use, so `client.otp.with_options(secret=...)` works on Redis, where a
        # handle without a secret is refused.
        self._handle_lock = threading.Lock()
        self._handle_obj: Optional[PrimitiveHandle] = None

    @property
    def _handle(self) -> PrimitiveHandle:
        h = self._handle_obj
        if h is None:
            with self._handle_lock:
                if self._handle_obj is None:
                    self._handle_obj = PrimitiveHandle(self._client, "otp", self._config)
                h = self._handle_obj
        return h

    @property
    def name(self) -> str:
        return str(self._options["name"])

    def with_options(self, **options: Any) -> Any:
        """A new instance of the same flavour with these options changed (name, secret, ttl,
        digits, max_attempts, cooldown)."""
        merged = dict(self._options)
        for key in options:
            if key not in merged:
                raise InvalidArgument(f"{key}: unknown otp option")
        merged.update(options)
        return type(self)(self._client, **merged)

    @staticmethod
    def _issue_args(
        subject: str, ttl: Optional[Seconds], digits: Optional[int], code: Optional[str]
    ) -> Dict[str, Any]:
        args: Dict[str, Any] = {"subject": subject}
        if ttl is not None:
            args["ttl_ms"] = to_ms(ttl, "ttl")
        if digits is not None:
            args["digits"] = digits
        if code is not None:
            args["code"] = code
        return args

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


class AsyncOtp(_OtpBase):
    """One-time codes for asyncio code: ``client.otp`` on an AsyncClient."""

    async def issue(
        self, subject: str, ttl: Optional[Seconds] = None, digits: Optional[int] = None, code: Optional[str] = None
    ) -> OtpIssue:
        """Issues a CSPRNG code of ``digits`` digits (or stores ``code``) valid ``ttl`` seconds."""
        return _issue_result(await self._handle.acall("issue", self._issue_args(subject, ttl, digits, code)))

    async def verify(self, subject: str, code: str) -> OtpVerify:
        """Checks ``code`` atomically: right -> used up; wrong -> one failure counted."""
        return _verify_result(await self._handle.acall("verify", {"subject": subject, "code": code}))

    async def revoke(self, subject: str) -> bool:
        """Withdraws the subject's code (with its failure count and cooldown)."""
        r = await self._handle.acall("revoke", {"subject": subject})
        assert isinstance(r, dict)
        return bool(r["revoked"])


class Otp(_OtpBase):
    """One-time codes for blocking code: ``client.otp`` on a sync Client."""

    def issue(
        self, subject: str, ttl: Optional[Seconds] = None, digits: Optional[int] = None, code: Optional[str] = None
    ) -> OtpIssue:
        """Issues a CSPRNG code of ``digits`` digits (or stores ``code``) valid ``ttl`` seconds."""
        return _issue_result(self._handle.call("issue", self._issue_args(subject, ttl, digits, code)))

    def verify(self, subject: str, code: str) -> OtpVerify:
        """Checks ``code`` atomically: right -> used up; wrong -> one failure counted."""
        return _verify_result(self._handle.call("verify", {"subject": subject, "code": code}))

    def revoke(self, subject: str) -> bool:
        """Withdraws the subject's code (with its failure count and cooldown)."""
        r = self._handle.call("revoke", {"subject": subject})
        assert isinstance(r, dict)
        return bool(r["revoked"])


def make_otp(client: Any) -> Union[AsyncOtp, Otp]:
    """``client.otp``: the flavour matching the client (AsyncClient -> AsyncOtp)."""
    return AsyncOtp(client) if client._is_async else Otp(client)
