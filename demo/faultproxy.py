"""A TCP fault proxy on loopback: put it between the gateway and any upstream (a HIS database,
a PACS, an SMTP server) and switch how it behaves while connections are open.

Modes (``FaultProxy.mode``, switchable at any time, applying to open connections too):

``pass``
    forward bytes both ways as they come.
``stall``
    accept connections and keep them open, but forward nothing in either direction: what a
    peer sends is held (the proxy's kernel acknowledges it, so TCP keepalive and user timeouts
    see a healthy peer). A query already sent waits for an answer that never comes; a
    connection opened meanwhile hangs in its handshake. This is a hung server, not a dead one.
``close``
    close every open connection (with a reset) and reset each new one at once: a server that
    went away.
``slow``
    forward at most ``slow_bytes_per_s`` bytes per second in each direction: a dripping link.

It listens on 127.0.0.1 (or ``listen_host``, e.g. a bridge address that network namespaces
reach) on a free port (``proxy.port``), and stops by itself after
``lifetime_s`` at the latest. One thread serves every connection with a selector, in rounds of
at most ``_TICK`` seconds, so mode switches apply within that time. Use it as a context
manager::

    with FaultProxy("127.0.0.1", 5432) as proxy:
        url = f"postgresql+psycopg://postgres@127.0.0.1:{proxy.port}/test"
        ...
        proxy.mode = "stall"

Nothing here is specific to one protocol: the tests of the HIS and the PACS and the soak
benchmark (`bench/soak.py`) use it as it is.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from types import TracebackType

MODES = ("pass", "stall", "close", "slow")
_TICK = 0.02
_CHUNK = 65536
#: Bytes buffered towards one side before the proxy stops reading from the other.
_HIGH_WATER = 1 << 20


@dataclass(eq=False)
class _Side:
    sock: socket.socket
    outbox: bytearray = field(default_factory=bytearray)
    eof: bool = False  # nothing more will come to be sent to this side
    shut: bool = False  # this side's sending half is shut down


@dataclass(eq=False)
class _Pair:
    client: _Side
    upstream: _Side

    def sides(self) -> tuple[tuple[_Side, _Side], tuple[_Side, _Side]]:
        return ((self.client, self.upstream), (self.upstream, self.client))


def _reset(sock: socket.socket) -> None:
    """Close with RST (SO_LINGER 0): the peer sees the connection reset, not a clean end."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


class FaultProxy:
    """A loopback TCP proxy in front of ``upstream_host:upstream_port`` (see the module)."""

    def __init__(
        self,
        upstream_host: str,
        upstream_port: int,
        *,
        mode: str = "pass",
        slow_bytes_per_s: int = 256,
        lifetime_s: float = 600.0,
        listen_host: str = "127.0.0.1",
    ) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.mode = mode
        self.slow_bytes_per_s = slow_bytes_per_s
        self.lifetime_s = lifetime_s
        self._listener = socket.create_server((listen_host, 0))
        self._listener.setblocking(False)
        self.port: int = self._listener.getsockname()[1]
        self._pairs: list[_Pair] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"fault-proxy-{self.port}")
        self.accepted = 0

    # --- control ---------------------------------------------------------------------------------

    @property
    def mode(self) -> str:
        return self._mode

    @mode.setter
    def mode(self, value: str) -> None:
        if value not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        self._mode = value

    @property
    def open_connections(self) -> int:
        return len(self._pairs)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def join(self, timeout: float | None = None) -> None:
        """Wait for the proxy to stop (by ``stop()`` or at the end of its lifetime)."""
        self._thread.join(timeout)

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- the loop --------------------------------------------------------------------------------

    def _run(self) -> None:
        sel = selectors.DefaultSelector()
        sel.register(self._listener, selectors.EVENT_READ, None)
        deadline = time.monotonic() + self.lifetime_s
        last = time.monotonic()
        try:
            while not self._stop.is_set() and time.monotonic() < deadline:
                now = time.monotonic()
                budget = (
                    max(1, int(self.slow_bytes_per_s * (now - last)))
                    if self._mode == "slow"
                    else _CHUNK
                )
                last = now
                if self._mode == "close":
                    for pair in self._pairs:
                        self._drop(sel, pair)
                    self._pairs.clear()
                self._interest(sel)
                for key, mask in sel.select(_TICK):
                    if key.data is None:
                        self._accept(sel)
                    else:
                        pair, side = key.data
                        self._serve(sel, pair, side, mask, budget)
                if self._mode == "slow":
                    time.sleep(_TICK)
        finally:
            for pair in self._pairs:
                self._drop(sel, pair)
            self._pairs.clear()
            sel.close()
            self._listener.close()

    def _accept(self, sel: selectors.BaseSelector) -> None:
        try:
            client, _ = self._listener.accept()
        except BlockingIOError:
            return
        self.accepted += 1
        if self._mode == "close":
            _reset(client)
            return
        try:
            upstream = socket.create_connection(self.upstream, timeout=5)
        except OSError:
            _reset(client)
            return
        client.setblocking(False)
        upstream.setblocking(False)
        pair = _Pair(_Side(client), _Side(upstream))
        self._pairs.append(pair)

    def _interest(self, sel: selectors.BaseSelector) -> None:
        """What each socket waits for this round: nothing at all while stalled."""
        moving = self._mode != "stall"
        for pair in self._pairs:
            for side, other in pair.sides():
                if moving and side.eof and not side.outbox and not side.shut:
                    side.shut = True
                    with contextlib.suppress(OSError):
                        side.sock.shutdown(socket.SHUT_WR)
                events = 0
                if moving and not other.eof and len(other.outbox) < _HIGH_WATER:
                    events |= selectors.EVENT_READ
                if moving and side.outbox:
                    events |= selectors.EVENT_WRITE
                key = sel.get_map().get(side.sock)
                if events == 0:
                    if key is not None:
                        sel.unregister(side.sock)
                elif key is None:
                    sel.register(side.sock, events, (pair, side))
                elif key.events != events:
                    sel.modify(side.sock, events, (pair, side))

    def _serve(
        self, sel: selectors.BaseSelector, pair: _Pair, side: _Side, mask: int, budget: int
    ) -> None:
        other = pair.upstream if side is pair.client else pair.client
        try:
            if mask & selectors.EVENT_READ:
                data = side.sock.recv(min(budget, _CHUNK))
                if data:
                    other.outbox += data
                else:
                    other.eof = True
            if mask & selectors.EVENT_WRITE and side.outbox:
                sent = side.sock.send(side.outbox[:budget])
                del side.outbox[:sent]
        except OSError:
            self._drop(sel, pair)
            self._pairs.remove(pair)
            return
        if (
            pair.client.eof
            and pair.upstream.eof
            and not (pair.client.outbox or pair.upstream.outbox)
        ):
            self._drop(sel, pair)
            self._pairs.remove(pair)

    @staticmethod
    def _drop(sel: selectors.BaseSelector, pair: _Pair) -> None:
        for side in (pair.client, pair.upstream):
            with contextlib.suppress(KeyError, ValueError):
                sel.unregister(side.sock)
            _reset(side.sock)
