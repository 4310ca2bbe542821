"""Shared fixtures: the shared JSON vectors, and throw-away redis-servers (plain, TLS, unix socket,
password) on free loopback ports, with an admin connection and TLS certificates made in the test."""

from __future__ import annotations

import json
import os
import pathlib
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from typing import Any, Dict, Iterator, List, Optional, Sequence, Union

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
            # Up, and ours: a port found free can be bound by another test's server before this
            # one binds it, and that server would answer just the same. INFO names the process.
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                    request = b"INFO server\r\n"
                    if self.requirepass:
                        request = b"AUTH " + self.requirepass.encode() + b"\r\n" + request
                    s.sendall(request)
                    reply = b""
                    while (found := re.search(rb"process_id:(\d+)\r\n", reply)) is None:
                        chunk = s.recv(65536)
                        if not chunk or reply.startswith(b"-") or len(reply) > 1 << 20:
                            return False
                        reply += chunk
                    if self.proc is None or int(found.group(1)) != self.proc.pid:
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


# --- Redis Cluster -------------------------------------------------------------------------------

CLUSTER_SLOTS = 16384


def _crc16_xmodem(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
    return crc


def key_slot(key: Union[str, bytes]) -> int:
    """The Redis Cluster slot of a key (CRC16-XMODEM mod 16384, hash tags honoured): lets tests
    pick keys that land on a chosen primary without asking the server."""
    k = key.encode() if isinstance(key, str) else key
    start = k.find(b"{")
    if start >= 0:
        end = k.find(b"}", start + 1)
        if end > start + 1:
            k = k[start + 1:end]
    return _crc16_xmodem(k) % CLUSTER_SLOTS


def _parse_info(text: Any) -> Dict[str, str]:
    if isinstance(text, bytes):
        text = text.decode()
    out: Dict[str, str] = {}
    for line in str(text).splitlines():
        if ":" in line and not line.startswith("#"):
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


class ClusterNode(RedisServer):
    """One cluster member: a RedisServer started with --cluster-enabled; `id` is its node id."""

    def __init__(self, node_timeout_ms: int) -> None:
        # A port found free can be taken by another process before redis-server binds it: then
        # start again on new ports (a few times).
        for attempt in range(5):
            try:
                # An explicit bus port: the default (port + 10000) overflows for ephemeral ports.
                super().__init__(extra_args=["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                                             "--cluster-node-timeout", str(node_timeout_ms),
                                             "--cluster-port", str(_free_port()),
                                             # Replicas sync at once (the default waits 5 s for more replicas).
                                             "--repl-diskless-sync-delay", "0"])
                break
            except pytest.fail.Exception:
                if attempt == 4:
                    raise
        self.id = str(self.command("CLUSTER", "MYID").decode())

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.port}"

    def info(self, section: str) -> Dict[str, str]:
        return _parse_info(self.command("INFO", section))

    def cluster_info(self) -> Dict[str, str]:
        return _parse_info(self.command("CLUSTER", "INFO"))


class RedisCluster:
    """A local Redis Cluster of `primaries` primaries with `replicas` replicas each, on free
    loopback ports, made with `redis-cli --cluster create`. `url` is a redis+cluster:// seed list.
    Tests that kill or reshard nodes make their own (see the cluster_factory fixture)."""

    def __init__(self, primaries: int = 3, replicas: int = 1, node_timeout_ms: int = 5000) -> None:
        # node_timeout_ms: 5 s by default, so a busy box's stalls never get a live node flagged as
        # failing (and failed over) mid-test; the failover test asks for 1 s itself.
        cli = shutil.which("redis-cli")
        if cli is None:
            pytest.fail("redis-cli is not installed (apt-get install redis-tools)", pytrace=False)
        self.nodes: List[ClusterNode] = []
        try:
            for _ in range(primaries * (1 + replicas)):
                self.nodes.append(ClusterNode(node_timeout_ms))
            args = [cli, "--cluster", "create", *[n.addr for n in self.nodes],
                    "--cluster-replicas", str(replicas), "--cluster-yes"]
            done = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
            if done.returncode != 0:
                pytest.fail(f"redis-cli --cluster create failed:\n{done.stdout.decode()}", pytrace=False)
            self.wait_ok()
        except BaseException:
            self.stop()
            raise

    @property
    def url(self) -> str:
        live = [n for n in self.nodes if n.running]
        return "redis+cluster://" + ",".join(n.addr for n in live[:2])

    @property
    def seed_url(self) -> str:
        """A plain redis:// URL of one node: a cluster seed for the `cluster=True` option."""
        return f"redis://{self.live_nodes()[0].addr}/0"

    def live_nodes(self) -> List[ClusterNode]:
        return [n for n in self.nodes if n.running]

    def node_by_id(self, node_id: str) -> ClusterNode:
        for n in self.nodes:
            if n.id == node_id:
                return n
        raise KeyError(node_id)

    def topology(self) -> List[Dict[str, Any]]:
        """CLUSTER NODES as seen by a live node: id, addr, role, master (id or '-'), slots, failed."""
        text = self.live_nodes()[0].command("CLUSTER", "NODES")
        rows = []
        for line in text.decode().splitlines():
            parts = line.split()
            flags = parts[2].split(",")
            slots: List[int] = []
            for r in parts[8:]:
                if r.startswith("["):
                    continue  # a slot being migrated/imported
                lo, _, hi = r.partition("-")
                slots.extend(range(int(lo), int(hi or lo) + 1))
            rows.append({"id": parts[0], "addr": parts[1].split("@")[0],
                         "role": "master" if "master" in flags else "replica",
                         "master": parts[3], "slots": slots,
                         "failed": "fail" in flags or "fail?" in flags})
        return rows

    def primaries(self) -> List[ClusterNode]:
        """Live primaries ordered by their lowest slot."""
        rows = [r for r in self.topology() if r["role"] == "master" and r["slots"] and not r["failed"]]
        rows.sort(key=lambda r: min(r["slots"]))
        return [self.node_by_id(r["id"]) for r in rows]

    def primary_of(self, key_or_slot: Union[str, bytes, int]) -> ClusterNode:
        slot = key_or_slot if isinstance(key_or_slot, int) else key_slot(key_or_slot)
        for r in self.topology():
            if r["role"] == "master" and slot in r["slots"] and not r["failed"]:
                return self.node_by_id(r["id"])
        raise KeyError(f"no live primary owns slot {slot}")

    def replicas_of(self, primary: ClusterNode) -> List[ClusterNode]:
        return [self.node_by_id(r["id"]) for r in self.topology()
                if r["role"] == "replica" and r["master"] == primary.id]

    def command(self, key: Union[str, bytes], *args: Union[str, bytes]) -> Any:
        """Runs a single-key command on the primary that owns `key` (admin inspection)."""
        return self.primary_of(key).command(*args)

    def keys(self, pattern: str) -> List[str]:
        """KEYS on every primary: a namespace's keys are spread over the cluster."""
        out: List[str] = []
        for n in self.primaries():
            out.extend(k.decode() if isinstance(k, bytes) else k for k in n.command("KEYS", pattern))
        return out

    def flushall(self) -> None:
        for n in self.primaries():
            n.command("FLUSHALL")

    def kill_primary_of(self, key_or_slot: Union[str, bytes, int]) -> ClusterNode:
        """SIGKILLs the primary owning the key's slot; its replica takes over after the node timeout."""
        victim = self.primary_of(key_or_slot)
        victim.kill()
        return victim

    def migrate_slot(self, slot: int, to_node: ClusterNode, *keys: Union[str, bytes],
                     pause: float = 0.0) -> None:
        """Moves `slot` to `to_node` the way redis-cli --cluster reshard does: IMPORTING/MIGRATING,
        MIGRATE of `keys` (default: every key in the slot), then SETSLOT NODE on every primary.
        With `pause`, the slot stays half-migrated that long (clients then get ASK)."""
        src = self.primary_of(slot)
        if src.id == to_node.id:
            raise ValueError(f"slot {slot} is already on {to_node.addr}")
        self.begin_migration(slot, src, to_node)
        self.migrate_keys(slot, src, to_node, *keys)
        if pause:
            time.sleep(pause)
        self.migrate_keys(slot, src, to_node)  # keys written meanwhile
        self.finish_migration(slot, src, to_node)

    def begin_migration(self, slot: int, src: ClusterNode, dst: ClusterNode) -> None:
        _ok(dst.command("CLUSTER", "SETSLOT", str(slot), "IMPORTING", src.id))
        _ok(src.command("CLUSTER", "SETSLOT", str(slot), "MIGRATING", dst.id))

    def migrate_keys(self, slot: int, src: ClusterNode, dst: ClusterNode, *keys: Union[str, bytes]) -> int:
        """MIGRATEs `keys` (or every key left in the slot) from src to dst; returns how many."""
        moved = 0
        while True:
            batch = list(keys) if keys else list(src.command("CLUSTER", "GETKEYSINSLOT", str(slot), "100"))
            if not batch:
                return moved
            reply = src.command("MIGRATE", "127.0.0.1", str(dst.port), "", "0", "5000", "REPLACE",
                                "KEYS", *batch)
            if isinstance(reply, RespError):
                raise AssertionError(f"MIGRATE failed: {reply}")
            moved += len(batch)
            if keys:
                return moved

    def finish_migration(self, slot: int, src: ClusterNode, dst: ClusterNode) -> None:
        # The destination first, then the source, then everyone else (the documented order).
        _ok(dst.command("CLUSTER", "SETSLOT", str(slot), "NODE", dst.id))
        _ok(src.command("CLUSTER", "SETSLOT", str(slot), "NODE", dst.id))
        for n in self.primaries():
            if n.id not in (src.id, dst.id):
                n.command("CLUSTER", "SETSLOT", str(slot), "NODE", dst.id)

    def wait_ok(self, timeout: float = 20.0) -> None:
        """Until every live node reports cluster_state:ok with all slots covered by live primaries
        and every live replica has finished its sync."""
        deadline = time.monotonic() + timeout
        last = ""
        while True:
            try:
                last = self._not_ok()
            except OSError as e:
                last = f"admin connection failed: {e}"
            if not last:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"cluster not ok after {timeout} s: {last}")
            time.sleep(0.05)

    def _not_ok(self) -> str:
        live = self.live_nodes()
        for n in live:
            info = n.cluster_info()
            if info.get("cluster_state") != "ok" or info.get("cluster_slots_ok") != str(CLUSTER_SLOTS):
                return f"{n.addr}: {info.get('cluster_state')} slots_ok={info.get('cluster_slots_ok')}"
            if int(info.get("cluster_known_nodes", "0")) < len(self.nodes):
                return f"{n.addr}: knows {info.get('cluster_known_nodes')} nodes"
        live_ids = {n.id for n in live}
        for n in live:
            rep = n.info("replication")
            if rep.get("role") == "slave":
                if rep.get("master_link_status") != "up" or rep.get("master_sync_in_progress") != "0":
                    return f"{n.addr}: replica not in sync"
        covered = 0
        for r in self.topology():
            if r["role"] == "master" and r["id"] in live_ids and not r["failed"]:
                covered += len(r["slots"])
        if covered != CLUSTER_SLOTS:
            return f"live primaries cover {covered} slots"
        return ""

    def crossslot_errors(self) -> int:
        """CROSSSLOT errors the live nodes answered so far (INFO errorstats)."""
        total = 0
        for n in self.live_nodes():
            try:
                text = _parse_info(n.command("INFO", "errorstats"))
            except OSError:
                continue
            stat = text.get("errorstat_CROSSSLOT")
            if stat:
                total += int(stat.split("count=")[1].split(",")[0])
        return total

    def stop(self) -> None:
        for n in self.nodes:
            n.kill()
            n.dir.cleanup()


def _ok(reply: Any) -> None:
    if isinstance(reply, RespError):
        raise AssertionError(f"cluster admin command failed: {reply}")


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisCluster]:
    """One cluster for the whole session (3 primaries + 3 replicas): only for tests that do not kill
    or reshard; those use cluster_factory."""
    cluster = RedisCluster()
    try:
        yield cluster
        # Every primitive keeps the keys of one operation in one slot: no test, whatever it did on
        # this cluster, may have made a node answer CROSSSLOT.
        crossslot = cluster.crossslot_errors()
        assert crossslot == 0, f"{crossslot} operations got CROSSSLOT on the shared cluster"
    finally:
        cluster.stop()


@pytest.fixture
def cluster_factory() -> Iterator[Any]:
    """Makes private clusters (killed/resharded freely) and stops them after the test."""
    made: List[RedisCluster] = []

    def make(**kwargs: Any) -> RedisCluster:
        made.append(RedisCluster(**kwargs))
        return made[-1]

    try:
        yield make
        for c in made:
            assert c.crossslot_errors() == 0, "an operation got CROSSSLOT"
    finally:
        for c in made:
            c.stop()


# The stores the primitive suites run on: memory://, one redis-server, and the shared cluster.
BACKENDS = ["memory", "redis", "cluster"]


def evalsha_calls(server: "RedisServer") -> int:
    """EVALSHA calls the server has run so far (INFO commandstats)."""
    info = server.command("INFO", "commandstats")
    text = info.decode() if isinstance(info, bytes) else str(info)
    found = re.search(r"^cmdstat_evalsha:calls=(\d+)", text, re.M)
    return int(found.group(1)) if found else 0


def backend_url(request: pytest.FixtureRequest, backend: str) -> str:
    if backend == "memory":
        return "memory://"
    if backend == "cluster":
        return request.getfixturevalue("redis_cluster").url
    return request.getfixturevalue("redis_server").url
