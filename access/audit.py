"""The audit trail of who saw what.

Every access decision, allowed or denied, produces one ``AuditRecord`` shaped after FHIR R4
AuditEvent (http://hl7.org/fhir/R4/auditevent.html): who (the grant's subject), which client,
which patients, what (action, resource type, ids) and the outcome. Ids only, never names or
national IDs.

Where the request runs with a sink (``use``; ``smart_auth.audit`` installs its durable,
append-only writer per request) the record goes there; otherwise it is a structured line on
the ``access.audit`` logger.

Nothing decided goes unrecorded. Within a request that has a sink, ``AccessPolicy.decide``
notes each decision it is asked for (``noted``); a surface records the outcome itself, and
where a request is answered without any record (the HIS or the PACS failed after the
decision, a bad parameter was found later), ``settle`` records the first decision with the
outcome its answer's status means, before the answer leaves. So every access decision is in
the trail, whatever path the request took.

So an answer leaves one record carrying its final outcome, with one exception: a retrieval
that was allowed (and recorded ``allowed``) and that the PACS then failed, before its first
byte or amid its stream (which is then cut), gains a second record, ``failed`` or ``partial``
(``dicomweb.web.context.unfinished``), written to the sink it was allowed under even where
its body is produced after the request's ledger is gone. The soak (``bench/soak.py``) holds
the trail to this rule.

An interaction whose outcome cannot be known when the process dies in its middle (a STOW-RS
storing into the PACS) is announced first: ``intend`` has the sink journal a record of
outcome ``unknown`` under a key that the final ``record(..., intent=...)`` reuses, so that a
killed worker leaves that record behind instead of nothing.
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
#: instances), or failed after it was allowed; or whose end nobody saw (``unknown``: the
#: process carrying it out died in its middle, see ``intend``).
Outcome = Literal["allowed", "denied", "not-found", "partial", "failed", "unknown"]
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


class IntentSink(AuditSink, Protocol):
    """A sink that can keep a record before the interaction it describes is carried out."""

    def intend(self, record: AuditRecord) -> str:
        """Keep ``record`` (outcome ``unknown``) durably; the key ``complete`` replaces it by."""
        ...

    def complete(self, key: str, record: AuditRecord) -> None:
        """Keep ``record`` in place of the intent ``key``."""
        ...


@dataclass(frozen=True, slots=True)
class Intent:
    """An announced interaction (``intend``): the key its final record replaces."""

    key: str
    sink: IntentSink


@dataclass(slots=True)
class _Ledger:
    """What one request decided and recorded so far (``use`` starts one per request)."""

    sink: AuditSink | None
    decision: tuple[Grant, str, str] | None = None
    recorded: int = 0


_ledger: contextvars.ContextVar[_Ledger | None] = contextvars.ContextVar(
    "audit_ledger", default=None
)


def use(sink: AuditSink | None) -> contextvars.Token[_Ledger | None]:
    """Send this context's records to ``sink`` (and keep its ledger of decisions, see
    ``settle``); ``reset`` with the token undoes it."""
    return _ledger.set(_Ledger(sink))


def reset(token: contextvars.Token[_Ledger | None]) -> None:
    _ledger.reset(token)


def noted(grant: Grant, resource_type: str, interaction: str) -> None:
    """``AccessPolicy.decide`` was asked about ``interaction`` on ``resource_type``."""
    ledger = _ledger.get()
    if ledger is not None and ledger.decision is None:
        ledger.decision = (grant, resource_type, interaction)


#: The outcome a status means for a decision its surface did not record itself.
_BY_STATUS = {401: "denied", 403: "denied", 404: "not-found"}


def settle(status: int) -> bool:
    """Record the request's first decision if nothing was recorded for it, with the outcome
    the answer's ``status`` means (a failure for anything but 401, 403 and 404: the request
    was allowed and did not succeed); whether a record was made."""
    ledger = _ledger.get()
    if ledger is None or ledger.decision is None or ledger.recorded:
        return False
    grant, resource_type, interaction = ledger.decision
    outcome: Outcome = _BY_STATUS.get(status, "failed")  # type: ignore[assignment]
    if 200 <= status < 300:
        outcome = "allowed"  # a success its surface forgot to record: still a decision
    record(grant, interaction, resource_type, outcome=outcome)
    return True


def current() -> AuditSink | None:
    """This context's sink: what a streamed response keeps, to record the end of a request
    whose body is produced after the request's own context (and its sink) is gone."""
    ledger = _ledger.get()
    return ledger.sink if ledger is not None else None


def record(
    grant: Grant | None,
    action: str,
    resource_type: str,
    *,
    outcome: Outcome,
    ids: Sequence[str] = (),
    count: int | None = None,
    patients: Iterable[int] | None = None,
    intent: Intent | None = None,
) -> None:
    """Record one decision. ``patients``: the HIS patient ids it concerned; when not given, a
    grant limited to a few patients (a patient's own, a result code's) stands for them.
    ``intent``: the announcement (``intend``) this record replaces."""
    entry = _entry(grant, action, resource_type, outcome, ids, count, patients)
    ledger = _ledger.get()
    sink = ledger.sink if ledger is not None else None
    if ledger is not None:
        ledger.recorded += 1
    if intent is not None:
        intent.sink.complete(intent.key, entry)
        return
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


def intend(
    grant: Grant | None,
    action: str,
    resource_type: str,
    *,
    ids: Sequence[str] = (),
    patients: Iterable[int] | None = None,
) -> Intent | None:
    """Announce an interaction about to be carried out: where the sink can (``IntentSink``),
    a record of outcome ``unknown`` is kept before it starts, and the ``record`` given the
    returned intent replaces it; should nothing replace it (the process died), it stays. None
    where the sink keeps nothing ahead (``record`` then works as without an intent)."""
    ledger = _ledger.get()
    sink = ledger.sink if ledger is not None else None
    if sink is None or not hasattr(sink, "intend"):
        return None
    entry = _entry(grant, action, resource_type, "unknown", ids, None, patients)
    keeper: IntentSink = sink  # type: ignore[assignment]
    return Intent(keeper.intend(entry), keeper)


def _entry(
    grant: Grant | None,
    action: str,
    resource_type: str,
    outcome: str,
    ids: Sequence[str],
    count: int | None,
    patients: Iterable[int] | None,
) -> AuditRecord:
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown audit outcome {outcome!r}")
    if patients is None and grant is not None and grant.patients is not None:
        patients = grant.patients if len(grant.patients) <= MAX_IDS else ()
    return AuditRecord(
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
