"""Transports and bad endpoints, from Client and AsyncClient: TLS (verified with the CA, wrong CA,
explicit opt-out, server name, client certificates), unix socket with db, ACL users, wrong
password, wrong db index, a port with no server, a server that sends garbage or hangs up
mid-reply: each works, or fails with a clear typed error, well within its timeouts."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
import uuid
from typing import Any, Callable, Iterator

import pytest

import redkeeper
from conftest import RedisServer, TlsCerts

QUICK = dict(command_timeout=2.0, connect_timeout=1.0)
SETTLE_S = 5.0  # generous bound on any single op here; the point is "settles", not speed


def _ping(kind: str, url: str, **options: Any) -> float:
    if kind == "sync":
        with redkeeper.Client(url, **QUICK, **options) as client:
            return client.ping()

    async def run() -> float:
        async with redkeeper.AsyncClient(url, **QUICK, **options) as client:
            return await asyncio.wait_for(client.ping(), SETTLE_S)

    return asyncio.run(run())


def _hit(kind: str, url: str, on_error: str = "raise", **options: Any) -> redkeeper.RateLimitResult:
    prefix = options.pop("prefix", "rk")
    if kind == "sync":
        with redkeeper.Client(url, prefix=prefix, **QUICK, **options) as client:
            return client.limiter("t", limit=5, window=60, on_error=on_error).hit("k")

    async def run() -> redkeeper.RateLimitResult:
        async with redkeeper.AsyncClient(url, prefix=prefix, **QUICK, **options) as client:
            limiter = client.limiter("t", limit=5, window=60, on_error=on_error)
            return await asyncio.wait_for(limiter.hit("k"), SETTLE_S)

    return asyncio.run(run())


kinds = pytest.mark.parametrize("kind", ["sync", "async"])


# ------------------------------------------------------------------------------------------ TLS

@pytest.fixture(scope="module")
def tls_server(tls_certs: TlsCerts) -> Iterator[RedisServer]:
    server = RedisServer(tls=tls_certs)  # client certificates optional here
    yield server
    server.stop()


@kinds
def test_tls_verified_with_the_ca(kind: str, tls_server: RedisServer, tls_certs: TlsCerts) -> None:
    assert _ping(kind, tls_server.tls_url, tls_ca_file=tls_certs.ca_cert) >= 0
    result = _hit(kind, tls_server.tls_url, tls_ca_file=tls_certs.ca_cert, prefix="tls" + kind)
    assert (result.allowed, result.remaining, result.degraded) == (True, 4, False)


@kinds
def test_tls_wrong_ca_is_a_connection_error(kind: str, tls_server: RedisServer, tls_certs: TlsCerts) -> None:
    start = time.monotonic()
    with pytest.raises(redkeeper.ConnectionError) as info:
        _ping(kind, tls_server.tls_url, tls_ca_file=tls_certs.other_ca_cert)
    assert "certificate" in str(info.value).lower(), str(info.value)
    assert time.monotonic() - start < SETTLE_S
    # The limiter's failure policy sees the same: degraded with "open", the error with "raise".
    assert _hit(kind, tls_server.tls_url, on_error="open", tls_ca_file=tls_certs.other_ca_cert).degraded
    with pytest.raises(redkeeper.ConnectionError):
        _hit(kind, tls_server.tls_url, tls_ca_file=tls_certs.other_ca_cert)


@kinds
def test_tls_verify_false_is_an_explicit_opt_out(kind: str, tls_server: RedisServer,
                                                 tls_certs: TlsCerts) -> None:
    # The wrong CA, or none at all: without verification the handshake still succeeds.
    assert _ping(kind, tls_server.tls_url, tls_ca_file=tls_certs.other_ca_cert, tls_verify=False) >= 0
    assert _ping(kind, tls_server.tls_url, tls_verify=False) >= 0


def test_tls_default_trust_store_rejects_a_private_ca(tls_server: RedisServer) -> None:
    with pytest.raises(redkeeper.ConnectionError):
        _ping("sync", tls_server.tls_url)


def test_tls_server_name_is_verified(tls_server: RedisServer, tls_certs: TlsCerts) -> None:
    assert _ping("sync", tls_server.tls_url, tls_ca_file=tls_certs.ca_cert, tls_server_name="localhost") >= 0
    with pytest.raises(redkeeper.ConnectionError):
        _ping("sync", tls_server.tls_url, tls_ca_file=tls_certs.ca_cert,
              tls_server_name="redis.example.com")


def test_tls_client_certificate_required(tls_certs: TlsCerts) -> None:
    server = RedisServer(tls=tls_certs, extra_args=["--tls-auth-clients", "yes"])
    try:
        with pytest.raises(redkeeper.ConnectionError):
            _ping("async", server.tls_url, tls_ca_file=tls_certs.ca_cert)
        assert _ping("async", server.tls_url, tls_ca_file=tls_certs.ca_cert,
                     tls_cert_file=tls_certs.client_cert, tls_key_file=tls_certs.client_key) >= 0
    finally:
        server.stop()


def test_tls_bad_files_are_invalid_arguments_at_construction(tls_certs: TlsCerts) -> None:
    with pytest.raises(redkeeper.InvalidArgument, match="ca_file"):
        redkeeper.Client("rediss://127.0.0.1:1/0", tls_ca_file="/nonexistent/ca.pem")
    with pytest.raises(redkeeper.InvalidArgument, match="key_file"):
        redkeeper.AsyncClient("rediss://127.0.0.1:1/0", tls_cert_file=tls_certs.client_cert)


# ------------------------------------------------------------------------- unix socket, db, ACL

@kinds
def test_unix_socket_with_db_index(kind: str) -> None:
    server = RedisServer(tcp=False, unix_socket=True)
    try:
        result = _hit(kind, server.unix_url(db=2))
        assert (result.allowed, result.remaining) == (True, 4)
        # The state went to db 2, under the documented layout, and nowhere else.
        dbsize = "redis.call('SELECT', ARGV[1]) return redis.call('DBSIZE')"
        assert server.command("EVAL", dbsize, "0", "0") == 0
        assert server.command("EVAL", dbsize, "0", "2") >= 1
        assert _hit(kind, server.unix_url(db=2)).remaining == 3
        assert _hit(kind, server.unix_url(db=3)).remaining == 4
    finally:
        server.stop()


@pytest.fixture(scope="module")
def acl_server() -> Iterator[RedisServer]:
    server = RedisServer(requirepass="admin-pw")
    assert server.command("ACL", "SETUSER", "alice", "on", ">p@ss word", "~app:*", "+@all") == "OK"
    yield server
    server.stop()


@kinds
def test_acl_user_with_percent_encoded_password(kind: str, acl_server: RedisServer) -> None:
    url = f"redis://alice:p%40ss%20word@127.0.0.1:{acl_server.port}/0"
    assert _ping(kind, url) >= 0
    assert _hit(kind, url, prefix="app").allowed
    assert _ping(kind, f"redis://:admin-pw@127.0.0.1:{acl_server.port}/0") >= 0


@kinds
def test_acl_denied_keys_are_a_script_error_even_when_failing_open(kind: str,
                                                                   acl_server: RedisServer) -> None:
    # alice may only touch app:*; the default prefix "rk" is refused. That is a misconfiguration,
    # not an outage: fail-open must not hide it.
    url = f"redis://alice:p%40ss%20word@127.0.0.1:{acl_server.port}/0"
    for on_error in ("open", "raise"):
        with pytest.raises(redkeeper.ScriptError, match="NOPERM"):
            _hit(kind, url, on_error=on_error)


@kinds
def test_wrong_password_is_a_connection_error_without_the_password(kind: str,
                                                                   acl_server: RedisServer) -> None:
    with pytest.raises(redkeeper.ConnectionError) as info:
        _ping(kind, f"redis://alice:not-her-password@127.0.0.1:{acl_server.port}/0")
    assert "WRONGPASS" in str(info.value)
    assert "not-her-password" not in str(info.value)
    with pytest.raises(redkeeper.ConnectionError, match="NOAUTH"):
        _ping(kind, f"redis://127.0.0.1:{acl_server.port}/0")


@kinds
def test_wrong_db_index_is_a_connection_error(kind: str, redis_server) -> None:
    with pytest.raises(redkeeper.ConnectionError) as info:
        _ping(kind, f"redis://127.0.0.1:{redis_server.port}/99")
    assert "SELECT" in str(info.value) and "out of range" in str(info.value), str(info.value)


@kinds
def test_port_with_no_server_is_a_connection_error(kind: str) -> None:
    with socket.socket() as s:  # a port that was free a moment ago: connect is refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    start = time.monotonic()
    with pytest.raises(redkeeper.ConnectionError) as info:
        _ping(kind, f"redis://127.0.0.1:{port}/0")
    assert str(port) in str(info.value)
    assert time.monotonic() - start < SETTLE_S
    assert _hit(kind, f"redis://127.0.0.1:{port}/0", on_error="open").degraded


# ------------------------------------------------------------------------- misbehaving servers

def _commands(data: bytes) -> list:
    """Command names in a buffer of RESP requests (the handshake's: PING, AUTH, SELECT...)."""
    lines = data.split(b"\r\n")
    names, i = [], 0
    while i < len(lines):
        if lines[i].startswith(b"*") and i + 2 < len(lines):
            names.append(lines[i + 2].upper())
            i += 1 + 2 * int(lines[i][1:])
        else:
            i += 1
    return names


class FakeServer:
    """A TCP server that completes the client's handshake like Redis would, then answers the first
    real command with `reply` and hangs up."""

    def __init__(self, reply: bytes) -> None:
        self.reply = reply
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                try:
                    handshake = conn.recv(4096)
                    conn.sendall(b"".join(b"+PONG\r\n" if name == b"PING" else b"+OK\r\n"
                                          for name in _commands(handshake)))
                    if conn.recv(4096):
                        conn.sendall(self.reply)
                except OSError:
                    pass

    def close(self) -> None:
        self.sock.close()


@pytest.mark.parametrize(
    "reply, error, words",
    [
        (b"HTTP/1.1 400 Bad Request\r\n\r\n", redkeeper.ProtocolError, "protocol error"),
        (b"$100\r\nonly part of the bulk", redkeeper.ConnectionError, "closed the connection"),
    ],
    ids=["garbage", "closed-mid-reply"],
)
@kinds
def test_misbehaving_server_is_a_typed_error(kind: str, reply: bytes, error: type, words: str) -> None:
    fake = FakeServer(reply)
    try:
        start = time.monotonic()
        with pytest.raises(error) as info:
            _ping(kind, f"redis://127.0.0.1:{fake.port}/0")
        assert words in str(info.value), str(info.value)
        assert time.monotonic() - start < SETTLE_S
    finally:
        fake.close()
