"""The assignment mail (F18): when the HIS assigns a questionnaire, the patient gets one email,
in their language, with a link to it and no health data.

``AssignmentMail.run`` is one sweep (``fhir-gateway questionnaires notify`` runs it, and code
may call it): it lists the assignments the HIS sent since the durable cursor
(``HisConnector.assignments_after``, an indexed column), takes each on by inserting its row in
``questionnaire_notice`` (the primary key is the assignment: of two sweeps, on two workers or
hosts, or the same one run twice, exactly one inserts it and mails), sends the mail, and
records how it went. The cursor then moves on; each sweep looks back a little before it
(``lookback``) for assignments a HIS transaction committed late, the notice rows making that
harmless.

A mail that could not be sent (the SMTP server refused or did not answer) is tried again by
later sweeps, at most ``max_attempts`` times; a claim left unsent by a sweep that died is taken
over after ``reclaim_after``. Only in that last case can a patient receive the mail twice (the
sweep died after sending, before recording it). Assignments already submitted, or sent before
``max_age`` (the first sweep of a deployment does not mail the HIS's history), are not mailed.
"""

from __future__ import annotations

import datetime as dt
import logging
import smtplib
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from fhir_gateway.his.connector import (
    Assignment,
    AssignmentCursor,
    Contacts,
    HisConnector,
    HisUnreachable,
)
from mappers.ids import resource_id
from smart_auth.accounts.i18n import LANGUAGES
from smart_auth.accounts.mail import MailSender, Message
from smart_auth.accounts.tables import account, identity

from . import wording
from .tables import questionnaire_notice as notice
from .tables import questionnaire_sweep as sweep_table

log = logging.getLogger(__name__)

#: The one cursor of the assignment sweep.
CURSOR = "assignments"


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


@dataclass
class SweepReport:
    """What one sweep did: assignments read, mails sent, assignments another sweep had
    already taken, left without mail (submitted, too old), without an address, failed."""

    seen: int = 0
    sent: int = 0
    taken: int = 0
    skipped: int = 0
    no_address: int = 0
    failed: int = 0
    retried: int = 0
    outcomes: dict[int, str] = field(default_factory=dict)


class AssignmentMail:
    """Mails each new questionnaire assignment of the HIS once."""

    def __init__(
        self,
        state: Engine,
        his: HisConnector,
        mail: MailSender,
        link: Callable[[str], str],
        *,
        clock: Callable[[], dt.datetime] = _utc_now,
        batch: int = 200,
        lookback: dt.timedelta = dt.timedelta(minutes=10),
        max_age: dt.timedelta = dt.timedelta(days=30),
        reclaim_after: dt.timedelta = dt.timedelta(minutes=15),
        max_attempts: int = 5,
    ) -> None:
        self.state, self.his, self.mail, self.link = state, his, mail, link
        self.clock = clock
        self.batch = batch
        self.lookback, self.max_age = lookback, max_age
        self.reclaim_after, self.max_attempts = reclaim_after, max_attempts

    # --- the sweep ----------------------------------------------------------------------------

    def run(self) -> SweepReport:
        report = SweepReport()
        now = self.clock()
        cursor = self._cursor()
        oldest = now - self.max_age
        if cursor is None:
            position: AssignmentCursor = (oldest, 0)
        else:
            position = (max(cursor[0] - self.lookback, oldest), 0)
        reached = cursor
        while True:
            page = self.his.assignments_after(position, self.batch)
            known = self._known([a.id for a in page])
            for assignment in page:
                report.seen += 1
                if assignment.id in known:
                    report.taken += 1  # (a look-back or another sweep saw it first)
                else:
                    self._one(assignment, oldest, report)
                if reached is None or assignment.position > reached:
                    reached = assignment.position
            if len(page) < self.batch:
                break
            position = page[-1].position
        self._retry(report, now)
        if reached is not None and reached != cursor:
            self._advance(reached)
        return report

    def _known(self, ids: list[int]) -> set[int]:
        """Those of ``ids`` a sweep has taken on already (one query for a page)."""
        if not ids:
            return set()
        n = notice.c
        with self.state.connect() as conn:
            return set(
                conn.execute(select(n.assignment_id).where(n.assignment_id.in_(ids))).scalars()
            )

    def _one(self, assignment: Assignment, oldest: dt.datetime, report: SweepReport) -> None:
        if assignment.status == "submitted" or assignment.sent_at < oldest:
            report.skipped += 1
            return
        if not self._claim(assignment):
            report.taken += 1
            return
        self._count(report, assignment.id, self._deliver(assignment.id, assignment.patient_id))

    def _retry(self, report: SweepReport, started: dt.datetime) -> None:
        """Mails that failed in an earlier sweep, and claims a sweep left unsent, taken on
        again (compare and set: one sweep wins each)."""
        now = self.clock()
        n = notice.c
        with self.state.connect() as conn:
            rows = conn.execute(
                select(n.assignment_id, n.his_patient_id, n.outcome, n.claimed_at)
                .where(
                    n.attempts < self.max_attempts,
                    or_(
                        and_(n.outcome == "failed", n.claimed_at < started),
                        and_(n.outcome == "pending", n.claimed_at < now - self.reclaim_after),
                    ),
                )
                .order_by(n.assignment_id)
                .limit(self.batch)
            ).all()
        for row in rows:
            with self.state.begin() as conn:
                won = conn.execute(
                    update(notice)
                    .where(
                        n.assignment_id == row.assignment_id,
                        n.outcome == row.outcome,
                        n.claimed_at == row.claimed_at,
                    )
                    .values(claimed_at=now, outcome="pending", attempts=n.attempts + 1)
                ).rowcount
            if won == 1:
                report.retried += 1
                outcome = self._deliver(row.assignment_id, row.his_patient_id)
                self._count(report, row.assignment_id, outcome)

    @staticmethod
    def _count(report: SweepReport, assignment_id: int, outcome: str) -> None:
        report.outcomes[assignment_id] = outcome
        if outcome == "sent":
            report.sent += 1
        elif outcome == "no-address":
            report.no_address += 1
        else:
            report.failed += 1

    # --- one assignment -----------------------------------------------------------------------

    def _claim(self, assignment: Assignment) -> bool:
        try:
            with self.state.begin() as conn:
                conn.execute(
                    insert(notice).values(
                        assignment_id=assignment.id,
                        his_patient_id=assignment.patient_id,
                        claimed_at=self.clock(),
                        outcome="pending",
                        attempts=1,
                    )
                )
        except IntegrityError:
            return False  # another sweep has it
        return True

    def _deliver(self, assignment_id: int, patient_id: int) -> str:
        try:
            contacts = self.his.contacts(patient_id)
        except HisUnreachable:
            log.warning("questionnaire mail: the HIS did not answer; tried again later")
            return self._record(assignment_id, "failed")
        if not contacts.email:
            return self._record(assignment_id, "no-address")
        language = self._language(patient_id, contacts)
        link = self.link(
            resource_id("QuestionnaireResponse", "questionnaire_assignment", assignment_id)
        )
        message = Message(
            to=contacts.email,
            subject=wording.subject(language),
            body=wording.body(language, link),
            language=language,
        )
        try:
            self.mail.send(message)
        except (OSError, smtplib.SMTPException) as exc:
            log.warning(
                "questionnaire mail not sent; tried again later",
                extra={"error": type(exc).__name__},
            )
            return self._record(assignment_id, "failed")
        return self._record(assignment_id, "sent")

    def _record(self, assignment_id: int, outcome: str) -> str:
        values: dict[str, object] = {"outcome": outcome}
        if outcome == "sent":
            values["sent_at"] = self.clock()
        with self.state.begin() as conn:
            conn.execute(
                update(notice).where(notice.c.assignment_id == assignment_id).values(**values)
            )
        return outcome

    def _language(self, patient_id: int, contacts: Contacts) -> str:
        """The language the patient chose for their account, else the HIS's, else English."""
        with self.state.connect() as conn:
            chosen = conn.execute(
                select(account.c.language)
                .join(identity, identity.c.account_id == account.c.id)
                .where(identity.c.his_patient_id == patient_id, identity.c.relation == "self")
                .order_by(account.c.id)
            ).first()
        for language in (chosen.language if chosen else None, contacts.language):
            if language in LANGUAGES:
                return str(language)
        return "en"

    # --- the cursor ---------------------------------------------------------------------------

    def _cursor(self) -> AssignmentCursor | None:
        s = sweep_table.c
        with self.state.connect() as conn:
            row = conn.execute(select(s.sent_at, s.his_id).where(s.name == CURSOR)).first()
        return (row.sent_at, int(row.his_id)) if row is not None else None

    def _advance(self, reached: AssignmentCursor) -> None:
        """Move the cursor forward to ``reached`` (never back: another sweep may be ahead)."""
        s = sweep_table.c
        sent_at, his_id = reached
        now = self.clock()
        with self.state.begin() as conn:
            moved = conn.execute(
                update(sweep_table)
                .where(
                    s.name == CURSOR,
                    or_(s.sent_at < sent_at, and_(s.sent_at == sent_at, s.his_id < his_id)),
                )
                .values(sent_at=sent_at, his_id=his_id, updated_at=now)
            ).rowcount
            exists = moved or conn.execute(select(s.name).where(s.name == CURSOR)).first()
        if exists:
            return
        try:
            with self.state.begin() as conn:
                conn.execute(
                    insert(sweep_table).values(
                        name=CURSOR, sent_at=sent_at, his_id=his_id, updated_at=now
                    )
                )
        except IntegrityError:
            pass  # another sweep made it first; the next sweep moves it on
