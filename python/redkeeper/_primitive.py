"""PrimitiveHandle: the generic door to a script-based primitive of the C++ core.

Each primitive module (tokens.py, cache.py, locks.py, ...) is a typed wrapper over one handle:
``handle.call(op, args)`` (sync; the GIL is released while an op waits) and
``await handle.acall(op, args)`` (asyncio; settled before returning when the op completed inline,
else through the event loop's bridge). Arguments and results are JSON-shaped: dict (str keys),
list/tuple, str, bytes (bytearray/memoryview accepted), int (64-bit), float (finite), bool, None.
Errors are redkeeper's typed exceptions (InvalidArgument names the argument path).
"""

from __future__ import annotations

import asyncio
import datetime
import math
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Union

from ._bridge import bridge_for
from ._native import InvalidArgument, PendingCall

Seconds = Union[int, float, str, datetime.timedelta]
"""Seconds as a number, a duration string such as "15m", or a datetime.timedelta."""


def to_ms(value: Seconds, param: str, *, allow_zero: bool = False) -> Union[int, str]:
    """A duration option in whole milliseconds (rounded up), errors named after the Python parameter.
    Duration strings ("15m", "24h") go to the core as they are: it parses them like the limiter."""
    if isinstance(value, datetime.timedelta):
        value = value.total_seconds()
    if isinstance(value, str):
        if not value.strip():
            raise InvalidArgument(f"{param}: must not be empty")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidArgument(f"{param}: must be seconds (int or float), got {type(value).__name__}")
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise InvalidArgument(f"{param}: must be a finite number of seconds {bound}, got {value!r}")
    return math.ceil(value * 1000)

if TYPE_CHECKING:
    from ._client import _ClientBase
    from ._native import NativePrimitive

# What call()/acall() return: JSON values, with bytes where the op returns raw bytes.
Json = Union[None, bool, int, float, str, bytes, List[Any], Dict[str, Any]]

__all__ = ["Json", "PrimitiveHandle"]


class PrimitiveHandle:
    """One configured primitive of one client (``kind`` is "tokens", "cache", "lock", ...)."""

    __slots__ = ("client", "kind", "config", "_native", "_inline")

    def __init__(
        self, client: "_ClientBase", kind: str, config: Optional[Mapping[str, Any]] = None
    ) -> None:
        self.client = client
        self.kind = kind
        self.config: Dict[str, Any] = dict(config) if config else {}
        self._native: "NativePrimitive" = client._native.primitive(kind, self.config)
        self._inline: bool = client._native.completes_inline

    def call(self, op: str, args: Optional[Dict[str, Any]] = None) -> Json:
        """Runs ``op`` and returns its result; blocks (GIL released) while the op waits."""
        return self._native.call(op, args)

    async def acall(self, op: str, args: Optional[Dict[str, Any]] = None) -> Json:
        """Runs ``op`` without blocking the event loop.

        Cancelling the awaiting task abandons the result (the op itself still runs to completion
        in the core, like a request already sent); the loop's bridge skips cancelled futures.
        """
        if self._inline:
            # Inline completions (most ops on memory://) return here with no future and no loop
            # lookup.
            result = self._native._start(op, args)
            if type(result) is not PendingCall:
                return result  # type: ignore[no-any-return]
            loop = asyncio.get_running_loop()
            future: "asyncio.Future[Json]" = loop.create_future()
            result._attach(bridge_for(loop), future)
            return await future
        # Redis: the bridge is known before the op starts, so the ops of one loop turn are sent
        # together (LoopBridge::cork_for_turn).
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._native._call_async(bridge_for(loop), future, op, args)
        return await future

    def __repr__(self) -> str:
        return f"PrimitiveHandle(kind={self.kind!r})"
