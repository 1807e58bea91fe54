"""Two gateway hosts behind a load balancer, on one machine.

Each host is a network namespace of its own, joined to the root namespace by a veth pair on a
bridge (a /24 of 10.x.y chosen free per run): the hosts reach each other and the root
namespace's bridge address, never its loopback. In the root namespace run what the hosts share:

* the state database and the HIS on PostgreSQL, reached through its Unix socket (a path in the
  file system, so every network namespace sees it);
* Redis (a ``redis-server`` of the run's own, listening on the bridge address);
* the PACS (the tests' Orthanc on loopback, reached through a TCP forwarder on the bridge
  address: Orthanc answers DICOM only from the hosts it declares, and the forwarder's is
  loopback);
* HAProxy on loopback, in front of both hosts: round robin with health checks, or pinned to
  one host by the ``X-Gateway-Host: a|b`` request header.

Every name (namespaces, links, bridge) carries the pid of the process that made it, so
leftovers of a run that was killed are swept by the next; everything a run makes is removed
when it ends, whatever happened.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import requests

PREFIX = "fgw"
GATEWAY_PORT = 8080
HOSTS = ("a", "b")
#: The header that pins a request to one host at the load balancer.
PIN = "X-Gateway-Host"


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True, timeout=15)


def netns_unavailable() -> str | None:
    """Why network namespaces cannot be made here, or None when they can."""
    if shutil.which("ip") is None:
        return "iproute2's ip is not installed"
    if os.geteuid() != 0:
        return "making network namespaces needs root"
    probe = f"{PREFIX}probe{os.getpid():x}"[:15]
    made = _ip("netns", "add", probe, check=False)
    if made.returncode != 0:
        return f"ip netns add is not permitted here: {made.stderr.strip()[:200]}"
    _ip("netns", "del", probe, check=False)
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _sweep() -> None:
    """Remove the namespaces and bridges of earlier runs whose process is gone."""
    pattern = re.compile(rf"^{PREFIX}[nb]([0-9a-f]{{6}})")
    names = [line.split()[0] for line in _ip("netns", "list").stdout.splitlines() if line]
    for name in names:
        m = pattern.match(name)
        if m and not _alive(int(m.group(1), 16)):
            # a gateway its run left behind (that run was killed before tearing down)
            for pid in _ip("netns", "pids", name, check=False).stdout.split():
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)
            _ip("netns", "del", name, check=False)
    for line in _ip("-o", "link", "show", "type", "bridge").stdout.splitlines():
        name = line.split(":")[1].strip().split("@")[0]
        m = pattern.match(name)
        if m and not _alive(int(m.group(1), 16)):
            _ip("link", "del", name, check=False)


def _free_subnet() -> str:
    used = _ip("-4", "-o", "addr", "show").stdout + _ip("-4", "route", "show").stdout
    for _ in range(200):
        subnet = f"10.{random.randint(200, 254)}.{random.randint(0, 255)}"
        if f"{subnet}." not in used:
            return subnet
    raise RuntimeError("no free 10.x.y.0/24 for the test network")


@dataclass
class Network:
    """A bridge in the root namespace and one namespace per host, each on a veth pair."""

    tag: str
    subnet: str
    bridge: str
    namespaces: dict[str, str] = field(default_factory=dict)

    @property
    def bridge_ip(self) -> str:
        return f"{self.subnet}.1"

    def host_ip(self, host: str) -> str:
        return f"{self.subnet}.{10 + HOSTS.index(host)}"


@contextlib.contextmanager
def network() -> Iterator[Network]:
    _sweep()
    tag = f"{os.getpid():06x}{secrets.token_hex(2)[:3]}"
    net = Network(tag, _free_subnet(), f"{PREFIX}b{tag}")
    try:
        _ip("link", "add", net.bridge, "type", "bridge")
        _ip("addr", "add", f"{net.bridge_ip}/24", "dev", net.bridge)
        _ip("link", "set", net.bridge, "up")
        for host in HOSTS:
            ns, outer, inner = f"{PREFIX}n{tag}{host}", f"{PREFIX}v{tag}{host}", f"eth{host}"
            _ip("netns", "add", ns)
            net.namespaces[host] = ns
            _ip("link", "add", outer, "type", "veth", "peer", "name", inner, "netns", ns)
            _ip("link", "set", outer, "master", net.bridge, "up")
            _ip("-n", ns, "addr", "add", f"{net.host_ip(host)}/24", "dev", inner)
            _ip("-n", ns, "link", "set", inner, "up")
            _ip("-n", ns, "link", "set", "lo", "up")
        yield net
    finally:
        for ns in net.namespaces.values():
            _ip("netns", "del", ns, check=False)  # takes its end of the veth pair along
        for host in HOSTS:
            _ip("link", "del", f"{PREFIX}v{tag}{host}", check=False)
        _ip("link", "del", net.bridge, check=False)


def free_port(address: str) -> int:
    with socket.socket() as s:
        s.bind((address, 0))
        return int(s.getsockname()[1])


def wait_http(url: str, log: Path, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(requests.RequestException):
            if requests.get(url, timeout=1).ok:
                return
        time.sleep(0.2)
    text = log.read_text(errors="replace")[-3000:] if log.exists() else "(no log)"
    raise AssertionError(f"{url} did not answer: {text}")


def stop_process(proc: subprocess.Popen[bytes], *, group: bool = False) -> None:
    """SIGTERM, then SIGKILL after a bounded wait; ``group``: the whole process group."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        if group:
            os.killpg(proc.pid, signal.SIGTERM)
        else:
            proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            if group:
                os.killpg(proc.pid, signal.SIGKILL)
            else:
                proc.kill()
        proc.wait(timeout=10)


class Redis:
    """A ``redis-server`` of this run, on the bridge address, keeping nothing on disk."""

    def __init__(self, address: str, workdir: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed")
        self.port = free_port(address)
        self.url = f"redis://{address}:{self.port}/0"
        self.log = workdir / "redis.log"
        args = [binary, "--bind", address, "--port", str(self.port), "--save", ""]
        args += [
            "--protected-mode",
            "no",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
            "--logfile",
            str(self.log),
        ]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        import redis

        deadline = time.monotonic() + 15
        while True:
            try:
                redis.Redis(host=address, port=self.port, socket_timeout=1).ping()
                return
            except redis.RedisError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise
                time.sleep(0.1)

    def stop(self) -> None:
        stop_process(self.proc)


HAPROXY_CONFIG = """\
global
    maxconn 512

defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    # a connection refused by a dead host is tried again, on the other one
    retries 2
    option redispatch
    retry-on conn-failure

frontend gateway
    bind 127.0.0.1:{port}
    option forwardfor
    use_backend host_a if {{ req.hdr({pin}) -m str a }}
    use_backend host_b if {{ req.hdr({pin}) -m str b }}
    default_backend hosts

backend hosts
    balance roundrobin
    option httpchk GET /health/live
    default-server check inter 300ms fall 1 rise 1
    server a {a}:{gw_port}
    server b {b}:{gw_port}

backend host_a
    server a {a}:{gw_port}

backend host_b
    server b {b}:{gw_port}
"""


class Balancer:
    """HAProxy on loopback in front of both hosts."""

    def __init__(self, net: Network, workdir: Path) -> None:
        binary = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin")
        if binary is None:
            raise RuntimeError("haproxy is not installed")
        self.port = free_port("127.0.0.1")
        self.url = f"http://127.0.0.1:{self.port}"
        config = workdir / "haproxy.cfg"
        config.write_text(
            HAPROXY_CONFIG.format(
                port=self.port,
                pin=PIN,
                a=net.host_ip("a"),
                b=net.host_ip("b"),
                gw_port=GATEWAY_PORT,
            )
        )
        check = subprocess.run(
            [binary, "-c", "-q", "-f", str(config)], capture_output=True, text=True, timeout=30
        )
        if check.returncode != 0:
            raise RuntimeError(f"haproxy refused its configuration: {check.stderr[-1000:]}")
        self.log = workdir / "haproxy.log"
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [binary, "-db", "-f", str(config)], stdout=out, stderr=subprocess.STDOUT
            )

    def stop(self) -> None:
        stop_process(self.proc)


class GatewayHost:
    """``fhir-gateway serve`` (gunicorn) inside one host's namespace."""

    def __init__(self, name: str, net: Network, env: dict[str, str], workdir: Path) -> None:
        self.name = name
        self.namespace = net.namespaces[name]
        self.address = net.host_ip(name)
        self.env = env
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://{self.address}:{GATEWAY_PORT}"

    def start(self) -> None:
        self.launch()
        self.wait_ready()

    def wait_ready(self) -> None:
        wait_http(f"{self.url}/health/ready", self.workdir / f"server-{self.starts}.log")

    def launch(self) -> None:
        """Start the server without waiting for it (hosts boot side by side)."""
        self.starts += 1
        log = self.workdir / f"server-{self.starts}.log"
        cli = str(Path(sys.executable).parent / "fhir-gateway")
        with log.open("wb") as out:
            # a session of its own: the master and its workers are one process group
            self.proc = subprocess.Popen(
                ["ip", "netns", "exec", self.namespace, cli, "serve"],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def kill(self) -> None:
        """SIGKILL the gunicorn master and every worker at once, as a host dies."""
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, group=True)


def stop_hosts(hosts: list[GatewayHost]) -> None:
    """SIGTERM every host at once, then wait for each (gunicorn's graceful stop, bounded)."""
    for host in hosts:
        if host.proc is not None and host.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(host.proc.pid, signal.SIGTERM)
    for host in hosts:
        host.stop()
