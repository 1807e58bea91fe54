"""New questionnaire assignments (F18), found by when the HIS sent them: an event source the
worker polls with the HIS change feed (``Runtime.poll_his``), so the ``questionnaire-assigned``
notification is the one message a patient gets for an assignment.

The change feed already sees an assignment row when it is written with status ``sent``; this
source reads the assignments by ``sent_at`` after a durable cursor
(``HisConnector.assignments_after``, an indexed column), which also catches an assignment the
patient opened before the feed's next poll, and, when a deployment starts, those sent within
``max_age`` that are not yet submitted. Each poll looks back ``lookback`` before the cursor for
assignments a HIS transaction committed late. Its events carry the feed's key for the same
assignment (``questionnaire_assignment:<id>:assigned``), so the two together record one event,
and so one delivery per channel, whichever worker or host polls.

The cursor is the state's ``notification_cursor`` row ``questionnaire_assignment_sent``; it
moves only once the events are recorded (``recorded``). A deployment that ran the assignment
mail sweep of earlier versions starts where that sweep stood (``questionnaire_sweep``), and
the assignments that sweep mailed (``questionnaire_notice``) are not announced again.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable

from sqlalchemy import select

from fhir_gateway.his.connector import Assignment, AssignmentCursor, HisConnector
from smart_auth.questionnaires.tables import questionnaire_notice, questionnaire_sweep

from .events import QUESTIONNAIRE_ASSIGNED, Event
from .store import Store, utcnow

#: The cursor's name in ``notification_cursor`` (beside the change feed's, one per table).
CURSOR = "questionnaire_assignment_sent"
#: The assignment mail sweep's cursor of earlier versions, where this source starts.
OLD_CURSOR = "assignments"


def assigned(assignment: Assignment) -> Event:
    """The event of an assignment, keyed as the change feed keys it (``events.from_change``)."""
    return Event(
        f"questionnaire_assignment:{assignment.id}:assigned",
        QUESTIONNAIRE_ASSIGNED,
        assignment.patient_id,
        "Questionnaire",
        str(assignment.questionnaire_id),
    )


class AssignmentSource:
    """``EventSource`` of the questionnaires the HIS sent (see the module)."""

    name = CURSOR

    def __init__(
        self,
        store: Store,
        his: HisConnector,
        *,
        lookback: dt.timedelta,
        max_age: dt.timedelta,
        batch: int = 500,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self.store, self.his = store, his
        self.lookback, self.max_age = lookback, max_age
        self.batch, self.clock = batch, clock
        self._last = threading.local()  # each polling thread's own last position

    def poll(self) -> list[Event]:
        oldest = self.clock() - self.max_age
        cursor = self.store.cursor(CURSOR) or self._old_cursor()
        position: AssignmentCursor = (
            (oldest, 0) if cursor is None else (max(cursor[0] - self.lookback, oldest), 0)
        )
        found: list[Assignment] = []
        reached = cursor
        while True:
            page = self.his.assignments_after(position, self.batch)
            found += [a for a in page if a.status != "submitted" and a.sent_at >= oldest]
            for a in page:
                if reached is None or a.position > reached:
                    reached = a.position
            if len(page) < self.batch:
                break
            position = page[-1].position
        self._last.reached = reached
        mailed = self._mailed_before([a.id for a in found])
        return [assigned(a) for a in found if a.id not in mailed]

    def recorded(self) -> None:
        """The events of this thread's last poll are recorded: the cursor moves past them."""
        reached = getattr(self._last, "reached", None)
        if reached is not None:
            self.store.advance(CURSOR, reached)

    def _old_cursor(self) -> AssignmentCursor | None:
        s = questionnaire_sweep.c
        with self.store.engine.connect() as conn:
            row = conn.execute(select(s.sent_at, s.his_id).where(s.name == OLD_CURSOR)).first()
        return None if row is None else (row.sent_at, int(row.his_id))

    def _mailed_before(self, ids: list[int]) -> set[int]:
        if not ids:
            return set()
        n = questionnaire_notice.c
        with self.store.engine.connect() as conn:
            return set(
                conn.execute(select(n.assignment_id).where(n.assignment_id.in_(ids))).scalars()
            )
