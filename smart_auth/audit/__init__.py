"""The durable, append-only audit trail (acceptance point 16).

``init_app(app, settings)`` starts one ``AuditWriter`` over the state database and makes
``access.audit.record`` write into it for every request of that app (a per-request
context variable, so several apps in one process never mix their trails).
"""

from __future__ import annotations

from typing import Any

from access import audit
from smart_auth.state import shared_engine

from .writer import AuditWriter


def init_app(app: Any, settings: Any) -> AuditWriter:
    """Wire the writer into ``app`` (a Flask app; only its hooks are used here)."""
    state = shared_engine(app.extensions, settings.state_url)
    writer = AuditWriter(state)
    writer.start()
    app.extensions["audit_writer"] = writer
    from . import routes

    routes.init_app(app, settings)  # its routes, and what they serve for the statement

    @app.before_request
    def _audit_sink() -> None:
        from flask import g

        g.audit_token = audit.use(writer)

    @app.teardown_request
    def _audit_reset(_exc: BaseException | None) -> None:
        from flask import g

        token = g.pop("audit_token", None)
        if token is not None:
            audit.reset(token)

    return writer
