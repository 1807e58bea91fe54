"""Running the gateway under gunicorn, sized from the machine.

Workers default to 2 x cores + 1 (gunicorn's own advice for sync work); each worker is a
``gthread`` worker so HTTP keep-alive works for API clients. The app is built in each worker
(no preload), so database pools are never shared across a fork.

Liveness never waits behind API requests: ``LiveThreadWorker`` serves ``/health/live`` on a
thread of its own in every worker, so while every API thread waits on a hung HIS (for at
most HIS_TIMEOUT_S, but an orchestrator probes every few seconds) the worker still says it
lives, and is not restarted for a fault that is the HIS's.
"""

from __future__ import annotations

import errno
import os
import secrets
import selectors
import socket
import time
from concurrent import futures
from functools import partial
from typing import Any

from gunicorn.app.base import BaseApplication  # type: ignore[import-untyped]
from gunicorn.workers.gthread import TConn, ThreadWorker  # type: ignore[import-untyped]

from .settings import PREFIX, Settings


def gunicorn_options(settings: Settings, **overrides: Any) -> dict[str, Any]:
    host = overrides.get("host") or settings.host
    port = overrides.get("port") or settings.port
    workers = overrides.get("workers") or settings.workers or (2 * (os.cpu_count() or 1) + 1)
    return {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": "gateway.server.LiveThreadWorker",
        "threads": max(1, settings.threads),
        "keepalive": 5,
        "timeout": 60,
        "graceful_timeout": 20,
        "max_requests": 0,
        "accesslog": None,  # the app logs each request itself, without query strings
        "errorlog": "-",
        "loglevel": settings.log_level.lower(),
        "preload_app": False,
        "proc_name": "fhir-gateway",
        "worker_exit": _worker_exit,
        # gunicorn's control socket defaults to one path per user: every instance on a host
        # would share it, and one could be steered through another's. The gateway needs none.
        "control_socket_disable": True,
    }


#: The start of a liveness request line (GET or HEAD).
_LIVE_REQUESTS = (b"GET /health/live", b"HEAD /health/live")
_PEEK = max(len(r) for r in _LIVE_REQUESTS)


class LiveThreadWorker(ThreadWorker):  # type: ignore[misc]
    """gunicorn's ``gthread`` worker with one more thread, kept for ``/health/live``.

    A new connection waits on the worker's poller (not on an API thread) until its first
    bytes arrive; the request line is then peeked at without being consumed: a liveness
    request goes to the liveness thread, anything else to the API threads as usual. Over TLS
    terminated by gunicorn itself the bytes cannot be read this way and every request takes
    the API threads (TLS is best terminated in front of the gateway).
    """

    def init_process(self) -> None:
        self.live_pool = futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="live")
        super().init_process()

    def accept(self, listener: socket.socket) -> None:
        try:
            client_sock, client_addr = listener.accept()
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        conn = TConn(self.cfg, client_sock, client_addr, listener.getsockname())
        # As gunicorn does with a connection whose request is slow to come, but at once.
        conn.timeout = time.monotonic() + self.cfg.keepalive
        self.pending_conns.append(conn)
        self.poller.register(
            conn.sock, selectors.EVENT_READ, partial(self.on_pending_socket_readable, conn)
        )

    def enqueue_req(self, conn: Any) -> None:
        if not _asks_liveness(conn):
            super().enqueue_req(conn)
            return
        fs = self.live_pool.submit(self.handle, conn)
        fs.add_done_callback(lambda fut: self.method_queue.defer(self.finish_request, conn, fut))

    def handle_quit(self, sig: Any, frame: Any) -> None:
        self.live_pool.shutdown(wait=False)
        super().handle_quit(sig, frame)


def _asks_liveness(conn: Any) -> bool:
    """Whether the next request on ``conn`` is a liveness probe (peeked, not consumed)."""
    unreader = getattr(conn.parser, "unreader", None)  # none before the first request, or h2
    buffered = unreader.buf.getvalue() if unreader is not None else b""
    if buffered:
        head = buffered[:_PEEK]
    else:
        try:
            head = conn.sock.recv(_PEEK, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except (OSError, ValueError):  # nothing there yet, closed, or TLS: the usual way
            return False
    return head.startswith(_LIVE_REQUESTS)


def _worker_exit(server: Any, worker: Any) -> None:
    """Close the worker's PACS associations before Python's shutdown waits for their threads."""
    from .app import shutdown

    app = getattr(worker, "wsgi", None)
    if app is not None and hasattr(app, "extensions"):
        shutdown(app)


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from .app import create_app

        return create_app()


def run(settings: Settings, **overrides: Any) -> None:
    """Serve; without a configured secret, one is made here so every worker shares it."""
    if not settings.secret_key:
        os.environ[f"{PREFIX}SECRET_KEY"] = secrets.token_urlsafe(32)
    _Gunicorn(gunicorn_options(settings, **overrides)).run()
