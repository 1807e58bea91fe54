"""Client-side deadlines for database engines: no statement waits longer than its bound.

A server-side ``statement_timeout`` only helps while the server still answers. A HIS that hangs
(a stuck server, a stalled proxy or firewall that still acknowledges packets) leaves the driver
waiting on its socket for ever: psycopg waits without limit, and TCP keepalive or a TCP user
timeout never fire while the peer's kernel acknowledges. So every statement, and the pre-ping
of a pooled connection, is watched here: one watchdog thread per process keeps the deadlines,
and a statement still running at its deadline has its connection cut (the socket shut down, or
``sqlite3.Connection.interrupt``). The driver then fails at once with a disconnect error, the
pool discards that connection, and the caller sees ``HisUnreachable`` (503).

Arming a deadline costs a lock and a heap push per statement; the thread sleeps between
deadlines.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)

_INFO_KEY = "gateway_deadline"
_CUT_KEY = "gateway_deadline_cut"


class _Watchdog:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int]] = []
        self._armed: dict[int, Callable[[], None]] = {}
        self._ids = itertools.count()
        self._thread: threading.Thread | None = None

    def arm(self, seconds: float, cut: Callable[[], None]) -> int:
        token = next(self._ids)
        with self._cond:
            self._armed[token] = cut
            if len(self._heap) > 4 * len(self._armed) + 1024:
                # statements disarmed in time, not yet popped: keep the heap small
                self._heap = [entry for entry in self._heap if entry[1] in self._armed]
                heapq.heapify(self._heap)
            heapq.heappush(self._heap, (time.monotonic() + seconds, token))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="db-deadlines", daemon=True)
                self._thread.start()
            elif self._heap[0][1] == token:
                self._cond.notify()
        return token

    def disarm(self, token: int) -> None:
        with self._cond:
            self._armed.pop(token, None)

    def _run(self) -> None:
        while True:
            due: list[Callable[[], None]] = []
            with self._cond:
                while self._heap and self._heap[0][1] not in self._armed:
                    heapq.heappop(self._heap)  # disarmed in time
                now = time.monotonic()
                while self._heap and self._heap[0][0] <= now:
                    _, token = heapq.heappop(self._heap)
                    cut = self._armed.pop(token, None)
                    if cut is not None:
                        due.append(cut)
                if not due:
                    wait = self._heap[0][0] - now if self._heap else 60.0
                    self._cond.wait(timeout=wait)
                    continue
            for cut in due:
                try:
                    cut()
                except Exception:  # a connection already gone: nothing left to cut
                    log.debug("cutting a timed-out database connection failed", exc_info=True)


_WATCHDOG = _Watchdog()


def _cutter(dbapi_conn: Any) -> Callable[[], None]:
    """How to make a blocked driver call on ``dbapi_conn`` return at once."""
    pgconn = getattr(dbapi_conn, "pgconn", None)
    if pgconn is not None:  # psycopg 3
        fd = pgconn.socket

        def cut() -> None:
            _shutdown_fd(fd)

        return cut
    sock = getattr(dbapi_conn, "_sock", None)
    if isinstance(sock, socket.socket):  # PyMySQL

        def cut_sock() -> None:
            sock.shutdown(socket.SHUT_RDWR)

        return cut_sock
    interrupt = getattr(dbapi_conn, "interrupt", None)
    if callable(interrupt):  # sqlite3
        return interrupt  # type: ignore[no-any-return]
    return lambda: None


def _shutdown_fd(fd: int) -> None:
    # A socket object over the same descriptor, detached afterwards so the driver keeps
    # owning (and closing) it; shutdown acts on the connection, not on this object.
    sock = socket.socket(fileno=fd)
    try:
        sock.shutdown(socket.SHUT_RDWR)
    finally:
        sock.detach()


def pg_socket_args(timeout_s: float) -> dict[str, Any]:
    """libpq settings that notice a silently dead link (no RST) within about ``timeout_s``."""
    idle = max(1, round(timeout_s / 2))
    return {
        "keepalives": 1,
        "keepalives_idle": idle,
        "keepalives_interval": idle,
        "keepalives_count": 2,
        "tcp_user_timeout": int(timeout_s * 1000),
    }


def client_bound(timeout_s: float) -> float:
    """The client-side deadline for a server whose own timeout is ``timeout_s``: a little
    later, so the server's answer comes first while it still can answer."""
    return timeout_s + min(1.0, timeout_s / 2)


def server_connect_args(url: str, timeout_s: float) -> dict[str, Any]:
    """Connection arguments that bound every wait on a database server by ``timeout_s``:
    connecting (libpq, PyMySQL), each statement (PostgreSQL's ``statement_timeout``; PyMySQL's
    socket read and write timeouts: no answer within the timeout is a dead server), and a link
    that dies silently (TCP keepalive and ``tcp_user_timeout`` on PostgreSQL)."""
    args: dict[str, Any] = {"connect_timeout": max(1, round(timeout_s))}
    backend = make_url(url).get_backend_name()
    if backend == "postgresql":
        args["options"] = f"-c statement_timeout={int(timeout_s * 1000)}"
        args.update(pg_socket_args(timeout_s))
    elif backend in ("mysql", "mariadb"):
        args["read_timeout"] = timeout_s
        args["write_timeout"] = timeout_s
    return args


def bound_waits(engine: Engine, seconds: float) -> Engine:
    """Cut any statement or pre-ping of ``engine`` that runs longer than ``seconds``."""

    @event.listens_for(engine, "before_cursor_execute")
    def _arm(conn: Any, cursor: Any, statement: Any, params: Any, context: Any, many: Any) -> None:
        info = conn.info  # the pooled connection's own: the cutter is made once per connection
        cut = info.get(_CUT_KEY)
        if cut is None:
            cut = info[_CUT_KEY] = _cutter(conn.connection.dbapi_connection)
        info[_INFO_KEY] = _WATCHDOG.arm(seconds, cut)

    @event.listens_for(engine, "after_cursor_execute")
    def _disarm(
        conn: Any, cursor: Any, statement: Any, params: Any, context: Any, many: Any
    ) -> None:
        token = conn.info.pop(_INFO_KEY, None)
        if token is not None:
            _WATCHDOG.disarm(token)

    @event.listens_for(engine, "handle_error")
    def _disarm_on_error(ctx: Any) -> None:
        conn = ctx.connection
        if conn is not None:
            token = conn.info.pop(_INFO_KEY, None)
            if token is not None:
                _WATCHDOG.disarm(token)

    dialect = engine.dialect
    ping = dialect.do_ping

    def guarded_ping(dbapi_conn: Any) -> bool:
        token = _WATCHDOG.arm(seconds, _cutter(dbapi_conn))
        try:
            return ping(dbapi_conn)
        finally:
            _WATCHDOG.disarm(token)

    dialect.do_ping = guarded_ping  # type: ignore[method-assign,assignment]
    return engine
