"""Several limits in one atomic check (Client.hit_many) and its result type."""

from __future__ import annotations

from typing import Any, List, Sequence, Tuple, Union

from ._native import Limiter, RateLimitResult

Check = Union[Tuple[Any, Union[str, bytes]], Tuple[Any, Union[str, bytes], int]]
"""(limiter, key) or (limiter, key, cost); the limiter is a Limiter or an AsyncLimiter."""


class MultiRateLimitResult:
    """The outcome of hit_many: allowed only when every limit allowed (and then each consumed).

    `results[i]` answers the i-th check (its `allowed` says whether that limit alone would admit
    the request); `deciding` is the result a response should report: the first rejecting one,
    else the one with the least remaining.
    """

    __slots__ = ("allowed", "results", "deciding_index")

    def __init__(self, allowed: bool, results: List[RateLimitResult], deciding_index: int) -> None:
        self.allowed = allowed
        self.results = results
        self.deciding_index = deciding_index

    @property
    def deciding(self) -> RateLimitResult:
        return self.results[self.deciding_index]

    @property
    def degraded(self) -> bool:
        """True when any result was not answered by the store."""
        return any(r.degraded for r in self.results)

    @property
    def retry_after(self) -> float:
        return self.deciding.retry_after

    def headers(self, *args: Any, **kwargs: Any) -> Any:
        """The deciding result's headers (same arguments as RateLimitResult.headers)."""
        return self.deciding.headers(*args, **kwargs)

    def __bool__(self) -> bool:
        return self.allowed

    def __repr__(self) -> str:
        return (
            f"MultiRateLimitResult(allowed={self.allowed}, deciding={self.deciding_index}, "
            f"results={self.results!r})"
        )


def wrap(raw: Tuple[bool, List[RateLimitResult], int]) -> MultiRateLimitResult:
    return MultiRateLimitResult(raw[0], raw[1], raw[2])


def as_checks(checks: Sequence[Check]) -> Sequence[Check]:
    # The native side takes tuples only: lists from JSON-ish code are welcome too.
    if isinstance(checks, (list, tuple)):
        return [tuple(c) if isinstance(c, list) else c for c in checks]
    return checks


__all__ = ["Check", "Limiter", "MultiRateLimitResult"]
