"""The fault proxy itself, against a loopback echo server: each mode does what it says, on
open connections as on new ones, and the proxy stops by itself."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from tests.faults.proxy import FaultProxy


@pytest.fixture
def echo() -> Iterator[int]:
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        with conn:
            conn.settimeout(10)
            try:
                while data := conn.recv(4096):
                    conn.sendall(data)
            except OSError:
                pass

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(timeout=2)
    server.close()


def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    got = b""
    while len(got) < n:
        chunk = sock.recv(n - len(got))
        if not chunk:
            break
        got += chunk
    return got


def test_pass_stall_slow_and_close(echo: int) -> None:
    with FaultProxy("127.0.0.1", echo, lifetime_s=60) as proxy:
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=2) as sock:
            sock.sendall(b"hello")
            assert _recv_exactly(sock, 5) == b"hello"

            proxy.mode = "stall"  # held mid-stream: sent, never answered
            sock.sendall(b"held")
            sock.settimeout(0.5)
            with pytest.raises(TimeoutError):
                sock.recv(10)
            with socket.create_connection(("127.0.0.1", proxy.port), timeout=2) as other:
                other.sendall(b"new")
                other.settimeout(0.5)
                with pytest.raises(TimeoutError):
                    other.recv(10)

            proxy.mode = "pass"  # the held bytes go on
            sock.settimeout(2)
            assert _recv_exactly(sock, 4) == b"held"

            proxy.mode = "slow"
            proxy.slow_bytes_per_s = 400
            start = time.monotonic()
            sock.sendall(b"x" * 200)
            assert _recv_exactly(sock, 200) == b"x" * 200
            assert time.monotonic() - start >= 0.4

            proxy.mode = "close"
            assert _ends(sock)
        try:
            late = socket.create_connection(("127.0.0.1", proxy.port), timeout=2)
        except ConnectionError:  # reset before the handshake was even seen through
            return
        with late:
            assert _ends(late)


def _ends(sock: socket.socket) -> bool:
    """Whether the peer ends the connection (a reset or an end of stream) within 2 s."""
    sock.settimeout(2)
    try:
        sock.sendall(b"x")
        return sock.recv(10) == b""
    except ConnectionError:
        return True


def test_the_proxy_stops_by_itself(echo: int) -> None:
    proxy = FaultProxy("127.0.0.1", echo, lifetime_s=0.3).start()
    proxy.join(timeout=3)
    assert not proxy.running
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", proxy.port), timeout=1).close()
    with pytest.raises(ValueError, match="mode must be"):
        proxy.mode = "bogus"
