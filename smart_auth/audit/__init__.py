"""The durable, append-only audit trail (acceptance point 16).

``init_app(app, settings)`` starts one ``AuditWriter`` over the state database (journaling
each record on the host before the request is answered, see ``writer``) and makes
``access.audit.record`` write into it for every request of that app (a per-request
context variable, so several apps in one process never mix their trails). A decision the
request's surface did not record (the HIS or the PACS failed after it) is recorded as the
answer leaves (``access.audit.settle``).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from access import audit
from smart_auth.state import shared_engine

from .writer import AuditWriter


def init_app(app: Any, settings: Any) -> AuditWriter:
    """Wire the writer into ``app`` (a Flask app; only its hooks are used here)."""
    state = shared_engine(app.extensions, settings.state_url)
    writer = AuditWriter(
        state,
        journal_dir=journal_dir(settings.state_url, settings),
        sync=getattr(settings, "audit_journal_sync", "fdatasync"),
    )
    writer.start()
    app.extensions["audit_writer"] = writer
    from . import routes

    routes.init_app(app, settings)  # its routes, and what they serve for the statement

    @app.before_request
    def _audit_sink() -> None:
        from flask import g

        g.audit_token = audit.use(writer)

    @app.after_request
    def _audit_settle(response: Any) -> Any:
        # a decision its surface did not record (an upstream failed after it, a later
        # refusal): recorded now, before the answer leaves (``access.audit.settle``)
        audit.settle(response.status_code)
        return response

    @app.teardown_request
    def _audit_reset(_exc: BaseException | None) -> None:
        from flask import g

        token = g.pop("audit_token", None)
        if token is not None:
            audit.reset(token)

    return writer


def journal_dir(state_url: str, settings: Any = None) -> Path | None:
    """This host's journal directory for the state database ``state_url``: one subdirectory
    per database (a digest of its URL without the password), so that a drain never writes one
    database's records into another. None for an in-memory SQLite database, which dies with
    its process anyway."""
    url = make_url(state_url)
    if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
        return None
    configured = getattr(settings, "audit_journal_dir", "") if settings is not None else ""
    if configured:
        base = Path(configured)
    elif url.get_backend_name() == "sqlite" and url.database:
        base = Path(f"{url.database}.audit-journal")
    else:
        # in the gateway's data directory (absolute: the settings resolve it), never in the
        # working directory; a caller without settings gets the XDG default's place
        data_dir = getattr(settings, "data_dir", "") if settings is not None else ""
        home = Path(data_dir) if data_dir else Path.home() / ".local/share/fhir-gateway"
        base = home / "audit-journal"
    digest = hashlib.sha256(url.render_as_string(hide_password=True).encode()).hexdigest()
    return base / digest[:16]
