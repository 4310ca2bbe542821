"""Shared fixtures: the shared JSON vectors, and throw-away redis-servers (plain, TLS, unix socket,
password) on free loopback ports, with an admin connection and TLS certificates made in the test."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from typing import Any, Dict, Iterator, Optional, Sequence, Union

import pytest

VECTORS = pathlib.Path(__file__).resolve().parent.parent / "vectors"


def load_vectors(name: str) -> Dict[str, Any]:
    with open(VECTORS / name, encoding="utf-8") as f:
        return json.load(f)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """A redis-server child process; `url` points at it. Options for the transport tests: a TLS
    listener (certs from TlsCerts), a unix socket, a password. restart() keeps the same ports, so
    clients' URLs stay valid; DEBUG is enabled for the fault tests."""

    def __init__(self, *, tcp: bool = True, tls: Optional["TlsCerts"] = None,
                 unix_socket: bool = False, requirepass: str = "",
                 extra_args: Sequence[str] = ()) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            # Never skip: a missing server must fail the run, not hide the Redis tests.
            pytest.fail("redis-server is not installed (apt-get install redis-server)", pytrace=False)
        self.binary = binary
        self.dir = tempfile.TemporaryDirectory(prefix="rk-redis-")
        self.port = _free_port() if tcp else 0
        self.tls_port = _free_port() if tls else 0
        self.tls = tls
        self.socket_path = os.path.join(self.dir.name, "redis.sock") if unix_socket else ""
        self.requirepass = requirepass
        self.extra_args = list(extra_args)
        self.proc: Optional[subprocess.Popen] = None
        self.start()

    def start(self) -> None:
        args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", self.dir.name, "--enable-debug-command", "yes"]
        if self.tls:
            args += ["--tls-port", str(self.tls_port), "--tls-cert-file", self.tls.server_cert,
                     "--tls-key-file", self.tls.server_key, "--tls-ca-cert-file", self.tls.ca_cert,
                     "--tls-auth-clients", "optional"]
        if self.socket_path:
            args += ["--unixsocket", self.socket_path, "--unixsocketperm", "700"]
        if self.requirepass:
            args += ["--requirepass", self.requirepass]
        self.proc = subprocess.Popen(args + self.extra_args, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not self._ready():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"redis-server did not start ({args})", pytrace=False)
            time.sleep(0.02)

    def _ready(self) -> bool:
        if self.port:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                    s.sendall(b"PING\r\n")
                    reply = s.recv(64)
                    # A password-protected server answers -NOAUTH, which still means "up".
                    if not (reply.startswith(b"+PONG") or reply.startswith(b"-NOAUTH")):
                        return False
            except OSError:
                return False
        if self.tls_port and not _can_connect(("127.0.0.1", self.tls_port)):
            return False
        if self.socket_path and not _can_connect(self.socket_path, socket.AF_UNIX):
            return False
        return True

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def tls_url(self) -> str:
        return f"rediss://127.0.0.1:{self.tls_port}/0"

    def unix_url(self, db: int = 0) -> str:
        return f"unix://{self.socket_path}?db={db}"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def command(self, *args: Union[str, bytes], timeout: float = 10.0) -> Any:
        """Runs one command on a fresh plain-TCP (else unix) connection, with AUTH if needed."""
        return admin_command(self, *args, timeout=timeout)

    def _signal(self, sig: int) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def kill(self) -> None:
        """Abrupt death (SIGKILL), like a crashed or OOM-killed server."""
        self._signal(signal.SIGKILL)

    def restart(self) -> None:
        """Stops (if running) and starts again on the same ports."""
        self._signal(signal.SIGTERM)
        self.start()

    def stop(self) -> None:
        self._signal(signal.SIGTERM)
        self.dir.cleanup()


def _can_connect(address: Any, family: int = socket.AF_INET) -> bool:
    try:
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.settimeout(0.2)
            s.connect(address)
            return True
    except OSError:
        return False


def _encode(*args: Union[str, bytes]) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a.encode() if isinstance(a, str) else a
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)


def _read_reply(f: Any) -> Any:
    line = f.readline()
    if not line:
        raise OSError("connection closed")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        return RespError(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)
        return data[:-2]
    if kind == b"*":
        n = int(rest)
        return None if n < 0 else [_read_reply(f) for _ in range(n)]
    raise OSError(f"unexpected reply {line!r}")


class RespError(str):
    """An error reply from the admin connection (returned, not raised)."""


def admin_command(server: "RedisServer", *args: Union[str, bytes], timeout: float = 10.0) -> Any:
    if server.port:
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=timeout)
    else:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        sock.connect(server.socket_path)
    with sock, sock.makefile("rb") as f:
        if server.requirepass:
            sock.sendall(_encode("AUTH", server.requirepass))
            _read_reply(f)
        sock.sendall(_encode(*args))
        return _read_reply(f)


class TlsCerts:
    """A CA, a server certificate for 127.0.0.1/localhost signed by it, a client certificate, and
    an unrelated CA, made with the openssl CLI (EC P-256: fast)."""

    def __init__(self, directory: str) -> None:
        openssl = shutil.which("openssl")
        if openssl is None:
            pytest.fail("the openssl CLI is not installed", pytrace=False)
        p = lambda name: os.path.join(directory, name)  # noqa: E731
        self.ca_cert, self.ca_key = p("ca.crt"), p("ca.key")
        self.server_cert, self.server_key = p("server.crt"), p("server.key")
        self.client_cert, self.client_key = p("client.crt"), p("client.key")
        self.other_ca_cert = p("other-ca.crt")
        with open(p("san.ext"), "w") as f:
            f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
        with open(p("client.ext"), "w") as f:
            f.write("extendedKeyUsage=clientAuth\n")
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        steps = [
            ["req", "-x509", *ec, "-keyout", self.ca_key, "-out", self.ca_cert, "-days", "2",
             "-subj", "/CN=rk-test-ca"],
            ["req", "-x509", *ec, "-keyout", p("other-ca.key"), "-out", self.other_ca_cert,
             "-days", "2", "-subj", "/CN=rk-other-ca"],
            ["req", *ec, "-keyout", self.server_key, "-out", p("server.csr"), "-subj", "/CN=localhost"],
            ["x509", "-req", "-in", p("server.csr"), "-CA", self.ca_cert, "-CAkey", self.ca_key,
             "-CAcreateserial", "-out", self.server_cert, "-days", "2", "-extfile", p("san.ext")],
            ["req", *ec, "-keyout", self.client_key, "-out", p("client.csr"), "-subj", "/CN=rk-client"],
            ["x509", "-req", "-in", p("client.csr"), "-CA", self.ca_cert, "-CAkey", self.ca_key,
             "-CAcreateserial", "-out", self.client_cert, "-days", "2", "-extfile", p("client.ext")],
        ]
        for step in steps:
            subprocess.run([openssl, *step], check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def tls_certs(tmp_path_factory: pytest.TempPathFactory) -> TlsCerts:
    return TlsCerts(str(tmp_path_factory.mktemp("tls")))
