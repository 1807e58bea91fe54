"""The jobs: poll the HIS change feed, the PACS and the reminders, sweep stalled deliveries,
and deliver one message. ``declare`` binds them to a broker as Dramatiq actors.

Every job is idempotent: polling records events by unique key, and a delivery is sent only by
the worker that claims it (``store.Store.claim``), so a message redelivered after a worker was
killed, or enqueued twice, sends nothing twice.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import smtplib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import dramatiq
from dramatiq.broker import Broker

from fhir_gateway.his.connector import (
    CHANGE_SOURCES,
    Change,
    ChangePosition,
    HisConnector,
    HisUnreachable,
)
from mappers.ids import resource_id
from smart_auth.accounts.mail import MailSender, Message
from smart_auth.accounts.sms import Sms, SmsSender

from . import messages
from .events import (
    QUESTIONNAIRE_ASSIGNED,
    Event,
    EventSource,
    due_event,
    from_change,
    images_event,
)
from .store import Store, utcnow

log = logging.getLogger(__name__)

QUEUE = "notifications"
#: The job that records an event found outside the worker (``notifications.booking``).
RECORD = "record_event"


class ImageArrivals(Protocol):
    """Which of these accession numbers the PACS holds images for."""

    def present(self, accession_numbers: Sequence[str]) -> set[str]: ...


class PacsArrivals:
    """``ImageArrivals`` over a PACS backend: one C-FIND (or QIDO) at study level for all the
    accession numbers at once."""

    def __init__(self, backend: Any) -> None:
        self.backend = backend

    def present(self, accession_numbers: Sequence[str]) -> set[str]:
        if not accession_numbers:
            return set()
        found = self.backend.find_studies(
            {
                "AccessionNumber": list(accession_numbers),
                "NumberOfStudyRelatedInstances": "",
            }
        )
        wanted = set(accession_numbers)
        out = set()
        for ds in found:
            accession = str(ds.get("AccessionNumber", "") or "")
            count = ds.get("NumberOfStudyRelatedInstances", None)
            if accession in wanted and (count is None or str(count) == "" or int(count) > 0):
                out.add(accession)
        return out


@dataclass
class JobSettings:
    lease_s: float = 120.0
    batch: int = 500
    settle_s: float = 10.0
    pacs_lookback_days: int = 14
    reminder_before_h: float = 24.0
    max_attempts: int = 6
    min_backoff_s: float = 5.0
    max_backoff_s: float = 900.0
    #: the page a message links to (the portal), never a resource's address
    link: str = "http://127.0.0.1:8080/account/"
    #: the page of one questionnaire (``{id}``: its QuestionnaireResponse id) a
    #: questionnaire-assigned message links to instead; empty: ``link``
    questionnaire_link: str = ""


@dataclass
class Runtime:
    """What the jobs work with; ``enqueue_delivery`` is set by ``declare``."""

    store: Store
    his: HisConnector
    mail: MailSender
    sms: SmsSender
    settings: JobSettings
    pacs: ImageArrivals | None = None
    sources: Sequence[EventSource] = ()
    enqueue_delivery: Callable[[int], None] = field(default=lambda _id: None)
    #: told of every event found (new or seen before): the FHIR Subscriptions match them
    after_record: Callable[[Sequence[Any]], Any] = field(default=lambda _events: None)

    # --- finding events ------------------------------------------------------------------

    def _record(self, events: Sequence[Any]) -> int:
        found = [e for e in events if e is not None]
        new = self.store.record(found)
        for delivery_id in new:
            self.enqueue_delivery(delivery_id)
        self.after_record(found)
        return len(new)

    def poll_his(self) -> int:
        """Read every change source from its cursor to the end; answers new deliveries. A
        source without a cursor starts at the present."""
        created = 0
        for source in CHANGE_SOURCES:
            if self.store.cursor(source) is None:
                # the first poll: what changed before notifications were switched on is
                # history, not news
                self.store.advance(source, (utcnow(), 0))
                continue
            # read again the last ``settle_s`` before the cursor: a HIS transaction that
            # stamped its rows earlier but committed after the last poll is still seen (its
            # events' keys make the rows already handled record nothing)
            at, _his_id = self.store.cursor(source) or (utcnow(), 0)
            after: ChangePosition = (at - dt.timedelta(seconds=self.settings.settle_s), 0)
            while True:
                changes = self.his.changes(source, after, self.settings.batch)
                if not changes:
                    break
                events = [e for e in map(from_change, changes) if e is not None]
                known = self.store.known([e.key for e in events])
                created += self._record([e for e in events if e.key not in known])
                self.store.advance(source, changes[-1].position)
                after = changes[-1].position
                if len(changes) < self.settings.batch:
                    break
        for other in self.sources:
            created += self._record(list(other.poll()))
            recorded = getattr(other, "recorded", None)
            if recorded is not None:  # a source that moves its cursor once its events are kept
                recorded()
        return created

    def remind(self, now: dt.datetime | None = None) -> int:
        now = now or utcnow()
        until = now + dt.timedelta(hours=self.settings.reminder_before_h)
        upcoming = self.his.appointments_starting(now, until, self.settings.batch)
        return self._record([due_event(c) for c in upcoming])

    def poll_pacs(self, now: dt.datetime | None = None) -> int:
        if self.pacs is None:
            return 0
        since = (now or utcnow()) - dt.timedelta(days=self.settings.pacs_lookback_days)
        orders = self.his.open_imaging_orders(since, self.settings.batch)
        known = self.store.known([images_event(o).key for o in orders])
        waiting: dict[str, Change] = {
            str(o.detail["accession_number"]): o for o in orders if images_event(o).key not in known
        }
        arrived = self.pacs.present(sorted(waiting))
        return self._record([images_event(waiting[a]) for a in sorted(arrived)])

    def sweep(self) -> int:
        stalled = self.store.stalled(older_than_s=self.settings.lease_s)
        for delivery_id in stalled:
            self.enqueue_delivery(delivery_id)
        return len(stalled)

    # --- delivering ----------------------------------------------------------------------

    def backoff_ms(self, attempts: int) -> int:
        base = self.settings.min_backoff_s * (2 ** max(0, attempts - 1))
        delay = min(self.settings.max_backoff_s, base)
        return int(delay * 1000 * random.uniform(0.8, 1.0))

    def link(self, event: Event) -> str:
        """Where a message points: the portal, or for a questionnaire the page of that one
        (``questionnaire_link``) where the deployment has such a page."""
        template = self.settings.questionnaire_link
        if event.kind != QUESTIONNAIRE_ASSIGNED or not template:
            return self.settings.link
        assignment = event.key.split(":")[1]
        fhir_id = resource_id("QuestionnaireResponse", "questionnaire_assignment", int(assignment))
        return template.replace("{id}", fhir_id)

    def deliver(self, delivery_id: int) -> str:
        """Send one delivery if this worker wins its claim; answers what became of it.
        Raises ``dramatiq.Retry`` (with the backoff) when the provider failed and attempts
        remain."""
        claimed = self.store.claim(delivery_id, self.settings.lease_s)
        if claimed is None:
            held = self.store.lease_left(delivery_id)
            if held is not None:
                # another worker holds it (or held it and died): look again after its lease
                raise dramatiq.Retry(delay=int(held * 1000) + 500)
            return "not-claimed"  # sent, skipped or given up
        event = claimed.event
        language = self.store.language(event.patient_id)
        try:
            contacts = self.his.contacts(event.patient_id)
        except HisUnreachable:
            self.store.retry_later(delivery_id, "HIS unreachable")
            raise dramatiq.Retry(delay=self.backoff_ms(claimed.attempts)) from None
        link = self.link(event)
        try:
            if claimed.channel == "email":
                if not contacts.email:
                    self.store.skipped(delivery_id, "no email address")
                    return "skipped"
                self.mail.send(
                    Message(
                        to=contacts.email,
                        subject=messages.subject(language),
                        body=messages.mail_body(event.kind, language, link),
                        language=language,
                    )
                )
            else:
                if not contacts.mobile:
                    self.store.skipped(delivery_id, "no mobile number")
                    return "skipped"
                self.sms.send(
                    Sms(contacts.mobile, messages.text(event.kind, language, link), language)
                )
        except smtplib.SMTPRecipientsRefused:
            self.store.undeliverable(delivery_id, "recipient refused")
            log.warning("notification %s undeliverable: recipient refused", delivery_id)
            return "undeliverable"
        except Exception as exc:  # the provider failed: its kind only, never an address
            reason = f"{type(exc).__name__}"
            if claimed.attempts >= self.settings.max_attempts:
                self.store.undeliverable(delivery_id, reason)
                log.warning(
                    "notification %s undeliverable after %s attempts (%s)",
                    delivery_id,
                    claimed.attempts,
                    reason,
                )
                return "undeliverable"
            self.store.retry_later(delivery_id, reason)
            delay = self.backoff_ms(claimed.attempts)
            log.info(
                "notification %s: provider failed (%s), retry in %d ms", delivery_id, reason, delay
            )
            raise dramatiq.Retry(delay=delay) from None
        self.store.sent(delivery_id)
        return "sent"


@dataclass
class Jobs:
    broker: Broker
    deliver: Any
    record: Any
    poll_his: Any
    poll_pacs: Any
    remind: Any
    sweep: Any


def declare(broker: Broker, runtime: Runtime) -> Jobs:
    """The actors of ``runtime`` on ``broker`` (one queue). Polls are not retried (the next
    period polls again); a delivery is retried by raising ``Retry`` with its own backoff, up
    to ``max_attempts``."""

    def _poll(name: str, fn: Callable[[], int]) -> Any:
        def run() -> None:
            try:
                found = fn()
            except HisUnreachable:
                log.warning("%s: the HIS did not answer; the next period tries again", name)
                return
            if found:
                log.info("%s: %d new", name, found)

        run.__name__ = name
        return dramatiq.actor(broker=broker, actor_name=name, queue_name=QUEUE, max_retries=0)(run)

    def deliver(delivery_id: int) -> None:
        runtime.deliver(delivery_id)

    deliver_actor = dramatiq.actor(
        broker=broker,
        actor_name="deliver",
        queue_name=QUEUE,
        max_retries=runtime.settings.max_attempts + 1,
        time_limit=int(runtime.settings.lease_s * 1000 * 0.8),
    )(deliver)

    def enqueue(delivery_id: int) -> None:
        deliver_actor.send(delivery_id)

    def record(event: dict[str, Any]) -> None:
        """Record an event another process found (the web app's bookings): as the polls
        record theirs, its deliveries enqueued; a key seen before records nothing."""
        runtime._record([Event(**event)])

    runtime.enqueue_delivery = enqueue
    return Jobs(
        broker=broker,
        deliver=deliver_actor,
        record=dramatiq.actor(
            broker=broker,
            actor_name=RECORD,
            queue_name=QUEUE,
            max_retries=runtime.settings.max_attempts,
        )(record),
        poll_his=_poll("poll_his", runtime.poll_his),
        poll_pacs=_poll("poll_pacs", runtime.poll_pacs),
        remind=_poll("remind", runtime.remind),
        sweep=_poll("sweep", runtime.sweep),
    )
