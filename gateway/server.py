"""Running the gateway under gunicorn, sized from the machine.

Workers default to 2 x cores + 1 (gunicorn's own advice for sync work); each worker is a
``gthread`` worker so HTTP keep-alive works for API clients. The app is built in each worker
(no preload), so database pools are never shared across a fork.
"""

from __future__ import annotations

import os
import secrets
from typing import Any

from gunicorn.app.base import BaseApplication  # type: ignore[import-untyped]

from .settings import PREFIX, Settings


def gunicorn_options(settings: Settings, **overrides: Any) -> dict[str, Any]:
    host = overrides.get("host") or settings.host
    port = overrides.get("port") or settings.port
    workers = overrides.get("workers") or settings.workers or (2 * (os.cpu_count() or 1) + 1)
    return {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": "gthread",
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
