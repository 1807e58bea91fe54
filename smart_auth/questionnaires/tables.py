"""State tables of the questionnaire assignment mail sweep of earlier versions (F18), kept for
the notifications (``notifications.assignments``) to read once when a deployment upgrades.

``questionnaire_notice``: one row per HIS assignment that sweep mailed (or was mailing): not
announced again. ``questionnaire_sweep``: where that sweep stood in the HIS (the (sent_at, id)
of the last assignment seen): where the notifications' own cursor starts.
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Index, Integer, String, Table

from smart_auth.state import metadata

questionnaire_notice = Table(
    "questionnaire_notice",
    metadata,
    Column("assignment_id", Integer, primary_key=True, autoincrement=False),
    Column("his_patient_id", Integer, nullable=False),
    #: when a sweep took it on (a claim older than the reclaim delay, unsent, is taken over)
    Column("claimed_at", DateTime, nullable=False),
    #: pending | sent | no-address | failed
    Column("outcome", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("sent_at", DateTime),
)
Index("ix_questionnaire_notice_outcome", questionnaire_notice.c.outcome)

questionnaire_sweep = Table(
    "questionnaire_sweep",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("sent_at", DateTime, nullable=False),
    Column("his_id", Integer, nullable=False),
    Column("updated_at", DateTime, nullable=False),
)
