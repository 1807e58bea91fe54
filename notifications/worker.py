"""Building the jobs from the settings, and the worker process (``fhir-gateway worker``)."""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import dramatiq
from dramatiq.broker import Broker

from access.policy import AccessPolicy
from fhir_gateway.fhir.interactions import FhirService
from fhir_gateway.his.connector import HisConnector
from mappers import IdentifierSystems, MapContext
from smart_auth.accounts import mail_sender, sms_sender
from smart_auth.audit.writer import AuditWriter
from smart_auth.state import create_state, make_state_engine

from . import subscriptions as subs
from .assignments import AssignmentSource
from .endpoints import EndpointRules
from .jobs import QUEUE, ImageArrivals, Jobs, JobSettings, Runtime, declare
from .queue import Periodic, make_broker
from .store import Store, default_preferences

log = logging.getLogger(__name__)


@dataclass
class Notifications:
    runtime: Runtime
    broker: Broker
    jobs: Jobs
    periodic: Periodic
    subscriptions: subs.SubscriptionRuntime
    subscription_jobs: subs.SubscriptionJobs


def subscription_runtime(
    settings: Any, engine: Any, his: HisConnector, rules: EndpointRules | None = None
) -> subs.SubscriptionRuntime:
    """The FHIR Subscriptions' runtime: resources are read for a subscriber through the same
    access policy and mapping as the API's, and each delivery is audited in the state
    database's trail."""
    base = settings.identifier_base.rstrip("/")
    systems = IdentifierSystems.from_base(
        base, cnp=settings.cnp_system, pesel=settings.pesel_system
    )
    fhir = FhirService(
        his,
        AccessPolicy(settings.base_url),
        MapContext(systems=systems),
        base_url=settings.base_url,
        secret=secrets.token_bytes(32),  # signs no paging link here: a read is all it does
    )
    return subs.SubscriptionRuntime(
        store=subs.SubscriptionStore(engine),
        grants=subs.Grants(engine),
        fhir=fhir,
        rules=rules or EndpointRules.of(settings),
        limits=subs.Limits.of(settings),
        base_url=settings.base_url,
        audit_sink=AuditWriter(engine),  # not started: each record is written at once
    )


def link_of(settings: Any) -> str:
    if settings.notify_link_url:
        return str(settings.notify_link_url)
    return settings.base_url.removesuffix("/fhir") + "/account/"


def build(
    settings: Any,
    *,
    his: HisConnector,
    pacs: ImageArrivals | None = None,
    sources: tuple[Any, ...] = (),
    periodic: tuple[tuple[str, float, Callable[[], None]], ...] = (),
    rules: EndpointRules | None = None,
) -> Notifications:
    """The runtime, broker, actors and periodic jobs of these settings, over the HIS
    connector ``his``; ``pacs`` (built by the caller, which knows the PACS backends) enables
    the image-arrival poll; new questionnaire assignments are a source of their own
    (``assignments``), polled with the HIS feed; ``sources`` are further event sources;
    ``periodic`` further periodic jobs, ``(name, every_s, function)``, each run once
    per period across every worker and host."""
    engine = make_state_engine(settings.state_url, timeout_s=settings.state_timeout_s)
    create_state(engine)
    store = Store(engine, default_preferences(settings))
    assignments = AssignmentSource(
        store,
        his,
        lookback=dt.timedelta(seconds=settings.questionnaires_lookback_s),
        max_age=dt.timedelta(days=settings.questionnaires_max_age_days),
    )
    runtime = Runtime(
        store=store,
        his=his,
        mail=mail_sender(settings),
        sms=sms_sender(settings),
        settings=JobSettings(
            lease_s=settings.queue_lease_s,
            settle_s=settings.notify_his_settle_s,
            pacs_lookback_days=settings.notify_pacs_lookback_days,
            reminder_before_h=settings.notify_reminder_before_h,
            max_attempts=settings.notify_max_attempts,
            min_backoff_s=settings.notify_min_backoff_s,
            max_backoff_s=settings.notify_max_backoff_s,
            link=link_of(settings),
            questionnaire_link=settings.questionnaires_link,
        ),
        pacs=pacs,
        sources=(assignments, *sources),
    )
    broker = make_broker(
        settings.queue_url,
        engine,
        lease_s=settings.queue_lease_s,
        poll_s=settings.queue_poll_s,
        heartbeat_s=settings.queue_heartbeat_s,
        namespace=settings.queue_namespace,
    )
    jobs = declare(broker, runtime)
    subscriptions = subscription_runtime(settings, engine, his, rules)
    subscription_jobs = subs.declare(broker, subscriptions, QUEUE)
    runtime.after_record = subscriptions.match
    # other periodic work (an export, a report): one actor each
    others = [
        (
            name,
            every_s,
            dramatiq.actor(broker=broker, actor_name=name, queue_name=QUEUE, max_retries=0)(
                fn
            ).send,
        )
        for name, every_s, fn in periodic
    ]
    ticker = Periodic(
        engine,
        [
            ("poll_his", settings.notify_his_poll_s, jobs.poll_his.send),
            ("remind", settings.notify_reminder_every_s, jobs.remind.send),
            ("sweep", settings.notify_sweep_every_s, jobs.sweep.send),
            ("subscription_tick", settings.subscription_tick_s, subscription_jobs.tick.send),
            *(
                [("poll_pacs", settings.notify_pacs_poll_s, jobs.poll_pacs.send)]
                if pacs is not None
                else []
            ),
            *others,
        ],
    )
    return Notifications(runtime, broker, jobs, ticker, subscriptions, subscription_jobs)


def run(
    settings: Any,
    *,
    his: HisConnector,
    threads: int | None = None,
    pacs: ImageArrivals | None = None,
    stop: threading.Event | None = None,
    rules: EndpointRules | None = None,
) -> None:
    """Run jobs until SIGTERM or SIGINT (or ``stop``): the Dramatiq worker's threads and the
    periodic ticker. A job running when the process is killed is run again (see
    ``notifications.queue``)."""
    built = build(settings, his=his, pacs=pacs, rules=rules)
    worker = dramatiq.Worker(
        built.broker, worker_threads=threads or settings.queue_threads, worker_timeout=1000
    )
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
    worker.start()
    built.periodic.start()
    log.info("worker started: %d threads", worker.worker_threads)
    try:
        stop.wait()
    finally:
        built.periodic.stop()
        worker.stop(timeout=10_000)
        built.broker.close()
        log.info("worker stopped")
