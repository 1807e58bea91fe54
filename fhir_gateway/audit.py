"""The audit trail of who saw what.

Every access decision, allowed or denied, produces one ``AuditEvent``-shaped record. For now the
records go to the ``fhir_gateway.audit`` logger as structured lines (ids only, never names or
national IDs); the authorization server's issue moves them into an append-only table served back
to patients as FHIR AuditEvent.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from .access import Grant

log = logging.getLogger("fhir_gateway.audit")


def record(
    grant: Grant | None,
    action: str,
    resource_type: str,
    *,
    outcome: str,
    ids: Sequence[str] = (),
    count: int | None = None,
) -> None:
    log.info(
        "audit",
        extra={
            "audit": {
                "subject": grant.subject if grant else None,
                "client": grant.client_id if grant else None,
                "action": action,
                "type": resource_type,
                "ids": list(ids[:50]),
                "count": count if count is not None else len(ids),
                "outcome": outcome,
            }
        },
    )
