"""FastAPI/Starlette rate limiting on redkeeper: a dependency (rate_limit), an ASGI middleware with
per-path rules (RateLimitMiddleware), a handler decorator (limit) and request key helpers.

Only Starlette is needed (FastAPI builds on it); nothing else in the package imports this module.

    rk = redkeeper.AsyncClient("redis://localhost:6379/0")
    login = rate_limit(rk, "5/15minutes", key=by_ip, name="login")

    @app.post("/login", dependencies=[Depends(login)])
    async def do_login(): ...

Every limit of one rate_limit() (several rates, or Limit(...) entries with their own keys) is
checked in one round trip: either all of them consume, or, when any rejects, none does. A rejected
request gets 429, a JSON body {"error": "rate_limited", "detail": ..., "retry_after": seconds},
Retry-After and the configured header draft; allowed responses carry the draft headers too.
"""

import functools
import inspect
import math
import re
from typing import (
    Any,
    Awaitable,
    Callable,
    Dict,
    Iterable,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    Union,
)

try:
    from starlette.concurrency import run_in_threadpool
    from starlette.exceptions import HTTPException
    from starlette.requests import HTTPConnection, Request
    from starlette.responses import JSONResponse, Response
    from starlette.types import ASGIApp, Message, Receive, Scope, Send
except ImportError as exc:  # pragma: no cover - exercised only without Starlette installed
    raise ImportError(
        "redkeeper.fastapi needs Starlette (or FastAPI): pip install 'redkeeper[fastapi]'"
    ) from exc

from . import _native
from ._client import AsyncClient, AsyncLimiter, Client, Duration
from ._native import InvalidArgument, RateLimitResult, RedkeeperError

__all__ = [
    "Limit",
    "RateLimit",
    "RateLimitExceeded",
    "RateLimitMiddleware",
    "by_ip",
    "by_route",
    "by_user",
    "combine",
    "configure",
    "limit",
    "rate_limit",
    "rate_limit_exceeded_handler",
]

KeyValue = Union[str, bytes, None]
KeyFunc = Callable[[HTTPConnection], Union[KeyValue, Awaitable[KeyValue]]]
CostFunc = Callable[[HTTPConnection], Union[int, Awaitable[int]]]

_HEADER_STANDARDS = {"draft-6": "draft-6", "draft-7": "draft-7", "draft-8": "draft-8",
                     "none": "none", None: "none", False: "none"}
_ON_ERROR = ("open", "closed", "raise")

_default_client: Optional[AsyncClient] = None


def configure(client: Optional[AsyncClient]) -> None:
    """Sets the client used by rate_limit(), limit() and RateLimitMiddleware when none is given.

    Call it before those are created: they resolve their client when they are built, so a missing
    client fails at start-up, not on the first request. None clears the default."""
    global _default_client
    _default_client = None if client is None else _check_client(client)


def _check_client(client: Any) -> AsyncClient:
    if client is None:
        if _default_client is None:
            raise InvalidArgument(
                "client: no client given and none configured; pass client= or call "
                "redkeeper.fastapi.configure(redkeeper.AsyncClient(url)) first")
        return _default_client
    if isinstance(client, Client):
        # A sync client would block the event loop on every Redis round trip.
        raise InvalidArgument(
            "client: redkeeper.Client is synchronous and would block the event loop; "
            "use redkeeper.AsyncClient")
    if not isinstance(client, AsyncClient):
        raise InvalidArgument(f"client: expected a redkeeper.AsyncClient, got {type(client).__name__}")
    return client


# ---------------------------------------------------------------------------------------------
# Keys

def _peer(conn: HTTPConnection) -> str:
    client = conn.scope.get("client")
    return client[0] if client else ""


class _ByIp:
    """Key = the client's address; proxy headers are read only when the peer is a trusted proxy.

    The walk through X-Forwarded-For and the IPv6 grouping are the core's (redkeeper.client_ip and
    redkeeper.ip_key), so a Node service keys the same client the same way."""

    __slots__ = ("_trusted", "_subnet", "_ipv6_subnet")

    def __init__(self, trusted: Union[None, str, Iterable[str]], subnet: int) -> None:
        if isinstance(trusted, str):
            trusted = [t for t in (part.strip() for part in trusted.split(",")) if t]
        elif trusted is None:
            trusted = []
        else:
            trusted = list(trusted)
        if any(t in ("*", "0.0.0.0/0", "::/0") for t in trusted):
            raise InvalidArgument(
                "trusted: trusting every address would let any client pick its own key through "
                "X-Forwarded-For; list your proxies' addresses or networks")
        if isinstance(subnet, bool) or not isinstance(subnet, int) or not 1 <= subnet <= 128:
            raise InvalidArgument(f"subnet: expected an IPv6 prefix length from 1 to 128, got {subnet!r}")
        # Validates every entry now, at start-up (the core's error names `trusted`).
        _native.client_ip("127.0.0.1", None, trusted)
        self._trusted: Optional[List[str]] = trusted or None
        self._subnet = subnet
        # /128 is one address: keyed by the bare address, as before, rather than "addr/128".
        self._ipv6_subnet = 0 if subnet == 128 else subnet

    def __call__(self, conn: HTTPConnection) -> str:
        peer = _peer(conn)
        if not peer:
            return "unknown"
        try:
            ip = peer if self._trusted is None else _native.client_ip(
                peer, conn.headers.getlist("x-forwarded-for") or None, self._trusted)
            return _native.ip_key(ip, self._ipv6_subnet)
        except InvalidArgument:
            # A peer that is not an IP (a unix socket, Starlette's "testclient") is its own key.
            return peer

    def __repr__(self) -> str:
        return f"by_ip(trusted={self._trusted!r}, subnet={self._subnet})"


_by_ip_default: Optional[_ByIp] = None


def by_ip(request: Optional[HTTPConnection] = None, *, trusted: Union[None, str, Iterable[str]] = None,
          subnet: int = 56) -> Any:
    """Key by client IP, IPv6 grouped to its /`subnet` (one home or VPS gets one bucket).

    `key=by_ip` uses the socket peer and ignores X-Forwarded-For. Behind proxies pass their
    addresses: `key=by_ip(trusted=["10.0.0.0/8"])` (IPs, CIDRs, or the keywords "loopback",
    "private", "linklocal", "uniquelocal"); X-Forwarded-For is then walked from the right while the
    hop is trusted, so a client cannot choose its own key by sending the header. Both steps are
    redkeeper.client_ip(peer, xff, trusted) and redkeeper.ip_key(ip, ipv6_subnet) from the core;
    `subnet=128` keys each IPv6 address alone (ip_key's ipv6_subnet=0)."""
    global _by_ip_default
    if request is not None:
        if not isinstance(request, HTTPConnection):
            raise InvalidArgument("request: by_ip takes a request; pass trusted=... by keyword")
        if _by_ip_default is None:
            _by_ip_default = _ByIp(None, 56)
        return _by_ip_default(request)
    return _ByIp(trusted, subnet)


def by_user(get_user: Callable[[HTTPConnection], Any], *, fallback: Optional[KeyFunc] = None) -> KeyFunc:
    """Key by authenticated user: `get_user(request)` (sync or async) returns the user id, or None
    for an anonymous request, which is then keyed by `fallback` (e.g. by_ip) or not limited by this
    limit at all when there is no fallback."""
    if not callable(get_user):
        raise InvalidArgument("get_user: expected a callable taking the request")

    async def user_key(conn: HTTPConnection) -> KeyValue:
        user = get_user(conn)
        if inspect.isawaitable(user):
            user = await user
        if user is None:
            if fallback is None:
                return None
            return await _resolve(fallback(conn))
        return "user:" + str(user)

    return user_key


def by_route(conn: HTTPConnection) -> str:
    """Key by route: method plus the route's path template ("GET /items/{id}") inside FastAPI
    routes; in middleware, before routing, the request path."""
    route = conn.scope.get("route")
    path = getattr(route, "path", None) or conn.scope.get("path", "")
    return f"{conn.scope.get('method', 'WS')} {path}"


def _escape(part: Union[str, bytes]) -> str:
    text = part.decode("utf-8", "surrogateescape") if isinstance(part, bytes) else str(part)
    # Escaped so ("a|b", "c") and ("a", "b|c") never share a bucket.
    return text.replace("\\", "\\\\").replace("|", "\\|")


def combine(*keys: KeyFunc) -> KeyFunc:
    """One key from several: combine(by_route, by_ip) limits each IP on each route separately.
    If any part is None (e.g. an anonymous by_user) the combined key is None."""
    if not keys or not all(callable(k) for k in keys):
        raise InvalidArgument("keys: combine() takes one or more key functions")

    async def combined(conn: HTTPConnection) -> KeyValue:
        parts = []
        for key in keys:
            value = await _resolve(key(conn))
            if value is None:
                return None
            parts.append(_escape(value))
        return "|".join(parts)

    return combined


async def _resolve(value: Any) -> Any:
    if inspect.isawaitable(value):
        return await value
    return value


# ---------------------------------------------------------------------------------------------
# Limits


class Limit:
    """One limit inside rate_limit(): a rate ("100/day") or limit + window, with its own key, cost,
    algorithm or name when they differ from the rate_limit() defaults."""

    __slots__ = ("rate", "limit", "window", "key", "cost", "algorithm", "name", "block_duration")

    def __init__(self, rate: Optional[str] = None, *, limit: Optional[int] = None,
                 window: Optional[Duration] = None, key: Optional[KeyFunc] = None,
                 cost: Union[None, int, CostFunc] = None, algorithm: Optional[str] = None,
                 name: Optional[str] = None, block_duration: Optional[Duration] = None) -> None:
        self.rate = rate
        self.limit = limit
        self.window = window
        self.key = key
        self.cost = cost
        self.algorithm = algorithm
        self.name = name
        self.block_duration = block_duration

    def __repr__(self) -> str:
        what = self.rate if self.rate is not None else f"{self.limit}/{self.window}"
        return f"Limit({what!r})"


class _Bound:
    """A Limit resolved against a client: its limiter, key function and cost."""

    __slots__ = ("limiter", "key", "cost", "cost_is_int")

    def __init__(self, limiter: AsyncLimiter, key: KeyFunc, cost: Union[int, CostFunc]) -> None:
        self.limiter = limiter
        self.key = key
        self.cost = cost
        self.cost_is_int = isinstance(cost, int)


class Decision:
    """What a check decided: `allowed`, the deciding `result` (the rejecting limit, else the one
    with the least remaining), every limit's `results`, and the response `headers`."""

    __slots__ = ("allowed", "result", "results", "headers", "retry_after", "unavailable")

    def __init__(self, allowed: bool, result: Optional[RateLimitResult],
                 results: Sequence[RateLimitResult], headers: Dict[str, str], retry_after: int,
                 unavailable: bool = False) -> None:
        self.allowed = allowed
        self.result = result
        self.results = results
        self.headers = headers
        self.retry_after = retry_after
        self.unavailable = unavailable


def _rate_tag(limiter: AsyncLimiter) -> str:
    ms = limiter.window_ms
    window = f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"
    return f"{limiter.limit}-{window}"


_NAME_BAD = re.compile(r"[^A-Za-z0-9_.-]+")


def _sanitize_name(text: str) -> str:
    return _NAME_BAD.sub("_", text).strip("_")[:40] or "root"


class RateLimit:
    """Built by rate_limit(). A FastAPI dependency (`Depends(obj)`, `dependencies=[Depends(obj)]`)
    that returns the deciding RateLimitResult (also at `request.state.rate_limit`) and raises
    RateLimitExceeded (429) when a limit is reached."""

    def __init__(self, client: Optional[AsyncClient], rates: Sequence[Union[str, Limit]], *,
                 key: KeyFunc = by_ip, algorithm: str = "sliding_window",
                 cost: Union[int, CostFunc] = 1, name: Optional[str] = None,
                 headers: Union[str, None, bool] = "draft-7", legacy_headers: bool = False,
                 on_error: str = "open", block_duration: Optional[Duration] = None,
                 local_block_cache: Union[bool, int] = 0, limit: Optional[int] = None,
                 window: Optional[Duration] = None, status_code: int = 429,
                 message: str = "Too many requests, please try again later.",
                 _default_name: Optional[str] = None) -> None:
        self.client = _check_client(client)
        if headers not in _HEADER_STANDARDS:
            raise InvalidArgument(
                f"headers: unknown header standard {headers!r}; use 'draft-6', 'draft-7', "
                "'draft-8' or None")
        self.standard = _HEADER_STANDARDS[headers]
        self.legacy = bool(legacy_headers)
        if on_error not in _ON_ERROR:
            raise InvalidArgument(f"on_error: expected 'open', 'closed' or 'raise', got {on_error!r}")
        self.on_error = on_error
        if not callable(key):
            raise InvalidArgument("key: expected a function of the request (e.g. by_ip)")
        _check_cost(cost)
        if not isinstance(status_code, int) or not 400 <= status_code <= 599:
            raise InvalidArgument("status_code: expected an HTTP error status (400-599)")
        self.status_code = status_code
        self.message = message
        if isinstance(local_block_cache, bool):
            local_block_cache = 10000 if local_block_cache else 0
        if not isinstance(local_block_cache, int) or local_block_cache < 0:
            raise InvalidArgument("local_block_cache: expected True/False or a number of entries >= 0")

        specs: List[Limit] = []
        for rate in rates:
            if isinstance(rate, Limit):
                specs.append(rate)
            elif isinstance(rate, str):
                specs.append(Limit(rate))
            else:
                raise InvalidArgument(f"rate: expected a string like '5/minute' or a Limit, got {rate!r}")
        if limit is not None or window is not None:
            specs.append(Limit(limit=limit, window=window))
        if not specs:
            raise InvalidArgument("rate: give at least one rate, e.g. rate_limit(client, '5/minute')")

        base = name if name is not None else _default_name
        self.limits: List[_Bound] = []
        used: set = set()
        for i, spec in enumerate(specs):
            limiter_on_error = "open" if on_error == "open" else "raise"
            extra: Dict[str, Any] = {}
            if local_block_cache:
                extra["local_block_cache"] = local_block_cache
            # A throw-away name first, to learn the parsed limit/window for the derived name.
            probe = self.client.limiter(
                "probe", spec.limit, spec.window, spec.algorithm or algorithm,
                spec.block_duration if spec.block_duration is not None else block_duration,
                limiter_on_error, rate=spec.rate)
            if spec.name is not None:
                limiter_name = spec.name
            elif base is not None:
                limiter_name = base if len(specs) == 1 else f"{base}.{_rate_tag(probe)}"
            else:
                limiter_name = _rate_tag(probe)
            if limiter_name in used:
                limiter_name = f"{limiter_name}.{i}"
            used.add(limiter_name)
            limiter = self.client.limiter(
                limiter_name, spec.limit, spec.window, spec.algorithm or algorithm,
                spec.block_duration if spec.block_duration is not None else block_duration,
                limiter_on_error, rate=spec.rate, **extra)
            spec_cost = spec.cost if spec.cost is not None else cost
            _check_cost(spec_cost, limiter.limit)
            spec_key = spec.key if spec.key is not None else key
            if not callable(spec_key):
                raise InvalidArgument("key: expected a function of the request (e.g. by_ip)")
            self.limits.append(_Bound(limiter, spec_key, spec_cost))
        self._single = self.limits[0] if len(self.limits) == 1 else None

    @property
    def limiters(self) -> List[AsyncLimiter]:
        return [b.limiter for b in self.limits]

    async def check(self, conn: HTTPConnection) -> Optional[Decision]:
        """Hits every limit that applies to the request (one round trip). None when no limit
        applies (every key function returned None)."""
        single = self._single
        try:
            if single is not None:
                key = single.key(conn)
                if inspect.isawaitable(key):
                    key = await key
                if key is None:
                    return None
                cost = single.cost if single.cost_is_int else await _resolve(single.cost(conn))
                result = await single.limiter.hit(key, cost)
                return self._decide(result.allowed, result, (result,))
            checks = []
            for bound in self.limits:
                key = await _resolve(bound.key(conn))
                if key is None:
                    continue
                cost = bound.cost if bound.cost_is_int else await _resolve(bound.cost(conn))
                checks.append((bound.limiter, key, cost))
            if not checks:
                return None
            if len(checks) == 1:
                limiter, key, cost = checks[0]
                result = await limiter.hit(key, cost)
                return self._decide(result.allowed, result, (result,))
            many = await self.client.hit_many(checks)
            return self._decide(many.allowed, many.deciding, many.results)
        except (InvalidArgument, _native.ClientClosed):
            raise  # a bug in the app (bad key or cost, closed client), never a store outage
        except RedkeeperError:
            if self.on_error == "raise":
                raise
            if self.on_error == "open":  # only reachable when the failure is outside the limiter
                return Decision(True, None, (), {}, 0)
            return Decision(False, None, (), {"Retry-After": "1"}, 1, unavailable=True)

    def _decide(self, allowed: bool, result: RateLimitResult,
                results: Sequence[RateLimitResult]) -> Decision:
        if result.degraded:
            # Fail-open answers were not made by the store: no numbers to advertise.
            return Decision(allowed, result, results, {}, 0)
        headers = result.headers(self.standard, self.legacy)
        if self.standard == "draft-8" and len(results) > 1:
            # Draft 8 lists every policy in one field; the other drafts describe one limit.
            lists: Dict[str, List[str]] = {"RateLimit": [], "RateLimit-Policy": []}
            for r in results:
                for name, value in r.headers("draft-8", False).items():
                    if name in lists:
                        lists[name].append(value)
            for name, values in lists.items():
                headers[name] = ", ".join(values)
        retry_after = 0
        if not allowed:
            # Every rejecting limit has to clear before the request can pass.
            retry_ms = max(r.retry_after_ms for r in results if not r.allowed) if any(
                not r.allowed for r in results) else result.retry_after_ms
            retry_after = max(0, math.ceil(retry_ms / 1000))
            headers["Retry-After"] = str(retry_after)
        return Decision(allowed, result, results, headers, retry_after)

    def _exceeded(self, decision: Decision) -> "RateLimitExceeded":
        if decision.unavailable:
            return RateLimitExceeded(decision, 503, "Rate limiting is unavailable; try again shortly.",
                                     "rate_limit_unavailable")
        return RateLimitExceeded(decision, self.status_code, self.message)

    async def __call__(self, request: Request, response: Response) -> Optional[RateLimitResult]:
        decision = await self.check(request)
        if decision is None:
            return None
        request.state.rate_limit = decision.result
        if not decision.allowed:
            _ensure_handler(request)
            raise self._exceeded(decision)
        if decision.headers:
            response.headers.update(decision.headers)
        return decision.result

    def __repr__(self) -> str:
        return f"<redkeeper.fastapi.RateLimit {[b.limiter.name for b in self.limits]}>"


def _check_cost(cost: Any, limit: Optional[int] = None) -> None:
    if callable(cost):
        return
    if isinstance(cost, bool) or not isinstance(cost, int) or cost < 1:
        raise InvalidArgument(f"cost: expected an integer >= 1 or a function of the request, got {cost!r}")
    if limit is not None and cost > limit:
        raise InvalidArgument(f"cost: {cost} is more than the limit {limit}; no request could pass")


def rate_limit(client: Union[AsyncClient, str, Limit, None] = None, *rates: Union[str, Limit],
               key: KeyFunc = by_ip, algorithm: str = "sliding_window",
               cost: Union[int, CostFunc] = 1, name: Optional[str] = None,
               headers: Union[str, None, bool] = "draft-7", legacy_headers: bool = False,
               on_error: str = "open", block_duration: Optional[Duration] = None,
               local_block_cache: Union[bool, int] = 0, limit: Optional[int] = None,
               window: Optional[Duration] = None, status_code: int = 429,
               message: str = "Too many requests, please try again later.") -> RateLimit:
    """A dependency enforcing one or more rates, e.g. `rate_limit(rk, "5/minute", "100/day")`.

    `client` may be omitted (`rate_limit("5/minute")`) once configure() set a default. `key`: a
    function of the request (by_ip, by_user(...), by_route, combine(...)). `cost`: units per request,
    or a function of the request. `headers`: "draft-6" | "draft-7" | "draft-8" | None;
    `legacy_headers` adds X-RateLimit-*. `on_error` when the store cannot answer: "open" (allow),
    "closed" (503) or "raise". `local_block_cache=True` answers already-rejected keys in-process.
    Limiters are named `name` (one rate) or `name.<limit>-<window>`; unnamed ones share state with
    other unnamed limits of the same rate, so name limits that must count separately."""
    if not isinstance(client, (str, Limit)):
        return RateLimit(client, rates, key=key, algorithm=algorithm, cost=cost, name=name,
                         headers=headers, legacy_headers=legacy_headers, on_error=on_error,
                         block_duration=block_duration, local_block_cache=local_block_cache,
                         limit=limit, window=window, status_code=status_code, message=message)
    return RateLimit(None, (client,) + rates, key=key, algorithm=algorithm, cost=cost, name=name,
                     headers=headers, legacy_headers=legacy_headers, on_error=on_error,
                     block_duration=block_duration, local_block_cache=local_block_cache,
                     limit=limit, window=window, status_code=status_code, message=message)


# ---------------------------------------------------------------------------------------------
# 429 responses


class RateLimitExceeded(HTTPException):
    """Raised by the dependency when a limit is reached. Its default handler answers with
    `body`, `status_code` and `headers`; register your own with
    `app.add_exception_handler(RateLimitExceeded, handler)` to change the response."""

    def __init__(self, decision: Decision, status_code: int, message: str,
                 error: str = "rate_limited") -> None:
        super().__init__(status_code=status_code, detail=message, headers=decision.headers)
        self.decision = decision
        self.result = decision.result
        self.retry_after = decision.retry_after
        self.body = {"error": error, "detail": message, "retry_after": decision.retry_after}


async def rate_limit_exceeded_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RateLimitExceeded)
    return JSONResponse(exc.body, status_code=exc.status_code, headers=exc.headers)


def _ensure_handler(conn: HTTPConnection) -> None:
    # Starlette keeps the live exception-handler table in the scope. Adding ours there (unless the
    # app registered one) gives the documented JSON body with no set-up call; without that table
    # the default HTTPException handler still answers the status and headers, with {"detail": ...}.
    tables = conn.scope.get("starlette.exception_handlers")
    if tables:
        tables[0].setdefault(RateLimitExceeded, rate_limit_exceeded_handler)


def _rejection(decision: Decision, policy: RateLimit) -> Response:
    exc = policy._exceeded(decision)
    return JSONResponse(exc.body, status_code=exc.status_code, headers=exc.headers)


# ---------------------------------------------------------------------------------------------
# Decorator


def limit(*rates: Union[str, Limit], client: Optional[AsyncClient] = None,
          **options: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorates a route handler: `@app.get(...)` above, `@limit("5/minute")` below it.

    The request is found among the handler's arguments (a Starlette endpoint's `request`, or any
    argument that is a Request); when the handler does not take one, the decorated function asks
    FastAPI for it through extra parameters added to its signature, so the handler's own signature
    can stay as it is. Rejections return the 429 JSON response; allowed responses get the headers.
    Options are those of rate_limit()."""
    policy = RateLimit(client, rates, **options)

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        signature = inspect.signature(func)
        params = list(signature.parameters.values())
        takes_request = any(p.annotation is Request or p.name == "request" for p in params)
        is_async = inspect.iscoroutinefunction(func)

        @functools.wraps(func)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            request = kwargs.pop("_rk_request", None)
            response = kwargs.pop("_rk_response", None)
            if request is None:
                request = _find_request(args, kwargs)
            decision = await policy.check(request)
            if decision is not None:
                request.state.rate_limit = decision.result
                if not decision.allowed:
                    return _rejection(decision, policy)
            if is_async:
                answer = await func(*args, **kwargs)
            else:
                answer = await run_in_threadpool(func, *args, **kwargs)
            if decision is not None and decision.headers:
                target = answer if isinstance(answer, Response) else response
                if target is not None:
                    for name, value in decision.headers.items():
                        target.headers.setdefault(name, value)
            return answer

        extra = []
        if not takes_request:
            extra.append(inspect.Parameter("_rk_request", inspect.Parameter.KEYWORD_ONLY,
                                           annotation=Request))
        extra.append(inspect.Parameter("_rk_response", inspect.Parameter.KEYWORD_ONLY,
                                       annotation=Response))
        # Keyword-only parameters go before a **kwargs one to keep the signature valid.
        var_kw = [p for p in params if p.kind is inspect.Parameter.VAR_KEYWORD]
        rest = [p for p in params if p.kind is not inspect.Parameter.VAR_KEYWORD]
        wrapper.__signature__ = signature.replace(parameters=rest + extra + var_kw)  # type: ignore[attr-defined]
        wrapper.rate_limit = policy  # type: ignore[attr-defined]
        return wrapper

    return decorate


def _find_request(args: Tuple[Any, ...], kwargs: Mapping[str, Any]) -> HTTPConnection:
    for value in list(args) + list(kwargs.values()):
        if isinstance(value, HTTPConnection):
            return value
    raise InvalidArgument(
        "request: @limit found no Request among the handler's arguments; add `request: Request` "
        "to the handler, or put @limit below the route decorator")


# ---------------------------------------------------------------------------------------------
# Middleware


class _Rule:
    __slots__ = ("pattern", "method", "path", "prefix", "policy")

    def __init__(self, pattern: str, policy: Optional[RateLimit]) -> None:
        self.pattern = pattern
        method, _, path = pattern.strip().rpartition(" ")
        self.method = method.strip().upper() or None
        if not path.startswith("/"):
            raise InvalidArgument(f"rules: pattern {pattern!r} must be a path starting with '/'")
        self.prefix = path.endswith("*")
        self.path = path.rstrip("*").rstrip("/") if self.prefix else path
        self.policy = policy

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method != method:
            return False
        if not self.prefix:
            return path == self.path
        return path == self.path or path.startswith(self.path + "/") or self.path == ""


class RateLimitMiddleware:
    """ASGI middleware limiting HTTP requests by path.

        app.add_middleware(RateLimitMiddleware, client=rk, rate="100/15minutes", key=by_ip,
                           rules={"POST /login": "5/15minutes", "/uploads/*": "20/minute",
                                  "/health": None})

    Matching, on the request path (before routing): a pattern is an exact path ("/login"), or a
    prefix ending in "/*" ("/api/*" matches "/api" and everything under "/api/"), optionally
    preceded by a method ("POST /login"). An exact pattern beats any prefix, a longer prefix beats
    a shorter one, and a pattern with a method beats the same pattern without one. Paths no rule
    matches use `rate` (or are not limited when `rate` is None); a rule whose value is None exempts
    its paths. A rule's value is a rate, a list of rates / Limit objects (checked together), or a
    RateLimit from rate_limit(). Each rule counts separately (limiter named after its pattern,
    unless `name` is given). Other keyword options are those of rate_limit() and apply to every
    rule built here. WebSocket and lifespan traffic passes through."""

    def __init__(self, app: ASGIApp, client: Optional[AsyncClient] = None,
                 rate: Union[None, str, Limit, Sequence[Union[str, Limit]], RateLimit] = None,
                 key: KeyFunc = by_ip,
                 rules: Optional[Mapping[str, Union[None, str, Limit, Sequence[Union[str, Limit]], RateLimit]]] = None,
                 name: Optional[str] = None, **options: Any) -> None:
        self.app = app
        self.client = _check_client(client)
        if rules is not None and not isinstance(rules, Mapping):
            raise InvalidArgument("rules: expected a mapping of path pattern to rate")
        if rate is None and not rules:
            raise InvalidArgument("rate: give a default rate, rules, or both")
        prefix = f"{name}." if name else ""
        self.default = self._policy(rate, key, f"{prefix}default", options)
        exact: Dict[Tuple[Optional[str], str], _Rule] = {}
        prefixes: List[_Rule] = []
        for pattern, value in (rules or {}).items():
            if not isinstance(pattern, str):
                raise InvalidArgument(f"rules: pattern {pattern!r} is not a string")
            rule = _Rule(pattern, None)
            rule.policy = self._policy(value, key, prefix + _sanitize_name(pattern), options)
            if rule.prefix:
                prefixes.append(rule)
            else:
                exact[(rule.method, rule.path)] = rule
        # Longest prefix first; at equal length a method-specific rule first.
        prefixes.sort(key=lambda r: (-len(r.path), r.method is None))
        self.exact = exact
        self.prefixes = prefixes

    def _policy(self, value: Any, key: KeyFunc, default_name: str,
                options: Dict[str, Any]) -> Optional[RateLimit]:
        if value is None:
            return None
        if isinstance(value, RateLimit):
            return value
        if isinstance(value, (str, Limit)):
            value = [value]
        if not isinstance(value, (list, tuple)):
            raise InvalidArgument(f"rules: expected a rate, a list of rates or a RateLimit, got {value!r}")
        return RateLimit(self.client, value, key=key, _default_name=default_name, **options)

    def policy_for(self, method: str, path: str) -> Optional[RateLimit]:
        """The RateLimit applying to a request (None: not limited)."""
        rule = self.exact.get((method, path)) or self.exact.get((None, path))
        if rule is None:
            for candidate in self.prefixes:
                if candidate.matches(method, path):
                    rule = candidate
                    break
        if rule is None:
            return self.default
        return rule.policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = self.policy_for(scope["method"], scope["path"])
        if policy is None:
            await self.app(scope, receive, send)
            return
        decision = await policy.check(HTTPConnection(scope))
        if decision is None:
            await self.app(scope, receive, send)
            return
        scope.setdefault("state", {})["rate_limit"] = decision.result
        if not decision.allowed:
            await _rejection(decision, policy)(scope, receive, send)
            return
        if not decision.headers:
            await self.app(scope, receive, send)
            return
        raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in decision.headers.items()]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", ())) + raw
            await send(message)

        await self.app(scope, receive, send_with_headers)


# Auth state and idempotency integrations live in their own modules and load on first use.
_LAZY = {
    "SessionMiddleware": "redkeeper.fastapi_sessions",
    "regenerate_session": "redkeeper.fastapi_sessions",
    "session_id": "redkeeper.fastapi_sessions",
    "require_valid_token": "redkeeper.fastapi_tokens",
    "IdempotencyMiddleware": "redkeeper.fastapi_idempotency",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'redkeeper.fastapi' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
