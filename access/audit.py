"""The audit trail of who saw what.

Every access decision, allowed or denied, produces one ``AuditRecord`` shaped after FHIR R4
AuditEvent (http://hl7.org/fhir/R4/auditevent.html): who (the grant's subject), which client,
which patients, what (action, resource type, ids) and the outcome. Ids only, never names or
national IDs.

Where the request runs with a sink (``use``; ``smart_auth.audit`` installs its durable,
append-only writer per request) the record goes there; otherwise it is a structured line on
the ``access.audit`` logger.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, get_args

from .policy import Grant

log = logging.getLogger("access.audit")

#: Most entity ids and patients kept on one record (a search page lists at most this many).
MAX_IDS = 50

#: The one outcome vocabulary of every surface: the decision allowed the interaction (and it
#: was carried out), refused it (401/403), found nothing the caller may see (404, the same
#: answer as for a missing resource), carried out part of it (a STOW-RS with refused
#: instances), or failed after it was allowed.
Outcome = Literal["allowed", "denied", "not-found", "partial", "failed"]
OUTCOMES = frozenset(get_args(Outcome))
#: The subject of a record made without a grant (a refused result-code attempt).
ANONYMOUS = "anonymous"


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One access decision."""

    recorded: dt.datetime
    subject: str
    client_id: str | None
    action: str
    resource_type: str
    outcome: str
    ids: tuple[str, ...]
    count: int
    patients: frozenset[int]


class AuditSink(Protocol):
    def append(self, record: AuditRecord) -> None:
        """Keep the record durably (or hand it to something that will)."""
        ...


_sink: contextvars.ContextVar[AuditSink | None] = contextvars.ContextVar("audit_sink", default=None)


def use(sink: AuditSink | None) -> contextvars.Token[AuditSink | None]:
    """Send this context's records to ``sink``; ``reset`` with the token undoes it."""
    return _sink.set(sink)


def reset(token: contextvars.Token[AuditSink | None]) -> None:
    _sink.reset(token)


def current() -> AuditSink | None:
    """This context's sink: what a streamed response keeps, to record the end of a request
    whose body is produced after the request's own context (and its sink) is gone."""
    return _sink.get()


def record(
    grant: Grant | None,
    action: str,
    resource_type: str,
    *,
    outcome: Outcome,
    ids: Sequence[str] = (),
    count: int | None = None,
    patients: Iterable[int] | None = None,
) -> None:
    """Record one decision. ``patients``: the HIS patient ids it concerned; when not given, a
    grant limited to a few patients (a patient's own, a result code's) stands for them."""
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown audit outcome {outcome!r}")
    if patients is None and grant is not None and grant.patients is not None:
        patients = grant.patients if len(grant.patients) <= MAX_IDS else ()
    entry = AuditRecord(
        recorded=dt.datetime.now(dt.UTC).replace(tzinfo=None),
        subject=grant.subject if grant else ANONYMOUS,
        client_id=grant.client_id if grant else None,
        action=action,
        resource_type=resource_type,
        outcome=outcome,
        ids=tuple(ids[:MAX_IDS]),
        count=count if count is not None else len(ids),
        patients=frozenset(list(patients or ())[:MAX_IDS]),
    )
    sink = _sink.get()
    if sink is not None:
        sink.append(entry)
        return
    log.info(
        "audit",
        extra={
            "audit": {
                "subject": entry.subject,
                "client": entry.client_id,
                "action": action,
                "type": resource_type,
                "ids": list(entry.ids),
                "count": entry.count,
                "outcome": outcome,
                "patients": sorted(entry.patients),
            }
        },
    )


def patients_of(resources: Iterable[Mapping[str, Any]]) -> frozenset[int]:
    """HIS patient ids the resources belong to: a Patient's own id, else the ``subject`` or
    ``patient`` reference, or an Appointment's participating patients (patient compartment,
    http://hl7.org/fhir/R4/compartmentdefinition-patient.html)."""
    found: set[int] = set()
    for resource in resources:
        if resource.get("resourceType") == "Patient":
            refs = [f"Patient/{resource.get('id', '')}"]
        else:
            nodes = [resource.get("subject") or resource.get("patient")]
            nodes += [
                p.get("actor") for p in resource.get("participant") or () if isinstance(p, dict)
            ]
            refs = [n.get("reference", "") for n in nodes if isinstance(n, dict)]
        for ref in refs:
            kind, _, rid = str(ref).partition("/")
            if kind == "Patient" and rid.isdigit():
                found.add(int(rid))
    return frozenset(found)
