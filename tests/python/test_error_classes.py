"""The exception hierarchy: every error is a RedkeeperError, and where a builtin fits, also that."""
import builtins

import pytest

import redkeeper


@pytest.mark.parametrize(
    "cls, builtin, code",
    [
        (redkeeper.InvalidArgument, builtins.ValueError, "ERR_RK_INVALID_ARGUMENT"),
        (redkeeper.ConnectionError, builtins.ConnectionError, "ERR_RK_CONNECTION"),
        (redkeeper.QueueFullError, builtins.ConnectionError, "ERR_RK_QUEUE_FULL"),
        (redkeeper.TimeoutError, builtins.TimeoutError, "ERR_RK_TIMEOUT"),
    ],
)
def test_builtin_bases(cls: type, builtin: type, code: str) -> None:
    assert issubclass(cls, redkeeper.RedkeeperError)
    assert issubclass(cls, builtin)
    assert cls.code == code


def test_connection_error_raised_is_catchable_as_builtin() -> None:
    # A port nobody listens on: the raise policy surfaces the typed error.
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with redkeeper.Client(f"redis://127.0.0.1:{port}", connect_timeout=0.2, command_timeout=0.3) as client:
        limiter = client.limiter("builtin", limit=1, window=60, on_error="raise")
        with pytest.raises(builtins.ConnectionError) as info:
            limiter.hit("k")
        assert isinstance(info.value, redkeeper.ConnectionError)
        assert info.value.code == "ERR_RK_CONNECTION"
