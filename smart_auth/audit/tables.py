"""The append-only audit trail tables (acceptance point 16).

One ``audit_event`` row per access decision, allowed or denied, shaped after FHIR R4 AuditEvent
(http://hl7.org/fhir/R4/auditevent.html): ``recorded``, the agent (``subject``, ``client_id``),
the ``action`` and ``resource_type`` asked for, the ``outcome`` and the entity ids seen. The
patients a decision concerned go to ``audit_patient`` (indexed, so a patient's own history is
one index range). Ids only, never names or national IDs.

Append-only three ways: no code path updates or deletes these rows; on SQLite ``BEFORE UPDATE``
/ ``BEFORE DELETE`` triggers ``RAISE(ABORT)``; on PostgreSQL row triggers (and a ``TRUNCATE``
statement trigger) raise an exception.
"""

from __future__ import annotations

from sqlalchemy import DDL, Column, DateTime, ForeignKey, Index, Integer, String, Table, Text, event

from smart_auth.state import metadata

audit_event = Table(
    "audit_event",
    metadata,
    #: a random UUID (hex) made by the writer, so a batch needs no round trip for its keys
    Column("id", String(32), primary_key=True),
    Column("recorded", DateTime, nullable=False),
    #: read | search | $everything | ... (the FHIR or DICOMweb interaction)
    Column("action", String(32), nullable=False),
    Column("resource_type", String(64), nullable=False),
    #: allowed | denied | not-found
    Column("outcome", String(16), nullable=False),
    #: the grant's subject (``patient:<account>``, ``system:<client>`` ...; ``anonymous``)
    Column("subject", String(128)),
    Column("client_id", String(128)),
    #: FHIR ids of what was seen, comma separated (at most 50), and how many there were
    Column("entity_ids", Text, nullable=False, default=""),
    Column("count", Integer, nullable=False, default=0),
)
Index("ix_audit_event_subject", audit_event.c.subject, audit_event.c.recorded)

audit_patient = Table(
    "audit_patient",
    metadata,
    Column("event_id", ForeignKey("audit_event.id"), primary_key=True),
    Column("his_patient_id", Integer, primary_key=True),
)
Index("ix_audit_patient_patient", audit_patient.c.his_patient_id, audit_patient.c.event_id)

_MESSAGE = "the audit trail is append-only"

for _table in (audit_event, audit_patient):
    _name = _table.name
    for _verb in ("UPDATE", "DELETE"):
        event.listen(
            _table,
            "after_create",
            DDL(
                f"CREATE TRIGGER {_name}_no_{_verb.lower()} BEFORE {_verb} ON {_name} "
                f"BEGIN SELECT RAISE(ABORT, '{_MESSAGE}'); END"
            ).execute_if(dialect="sqlite"),
        )
    event.listen(
        _table,
        "after_create",
        DDL(
            "CREATE OR REPLACE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN RAISE EXCEPTION '{_MESSAGE}'; END $$"
        ).execute_if(dialect="postgresql"),
    )
    event.listen(
        _table,
        "after_create",
        DDL(
            f"CREATE TRIGGER {_name}_append_only BEFORE UPDATE OR DELETE ON {_name} "
            "FOR EACH ROW EXECUTE FUNCTION audit_append_only()"
        ).execute_if(dialect="postgresql"),
    )
    event.listen(
        _table,
        "after_create",
        DDL(
            f"CREATE TRIGGER {_name}_no_truncate BEFORE TRUNCATE ON {_name} "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only()"
        ).execute_if(dialect="postgresql"),
    )
