"""The job queue: Dramatiq, over the state database by default or Redis for several hosts.

Why Dramatiq: a message is acknowledged only after its actor returns (late acknowledgement is
its only mode, not an option to remember), retries with exponential backoff and a dead-letter
state are built in, actors are plain functions, and it has brokers for Redis and RabbitMQ.
Celery does the same with ``acks_late`` and ``reject_on_worker_lost`` set, but its transports
that need no server (SQLAlchemy, filesystem) delete a message when it is fetched, so a killed
worker loses it; Huey's consumer drops a task it is killed on; procrastinate needs PostgreSQL
even for a single host.

Brokers (``FHIR_GATEWAY_QUEUE_URL``):

* empty (the default): ``StateBroker``, the messages in the state database's ``job_message``
  table, so one host needs no extra server (SQLite), and hosts sharing a PostgreSQL state
  database share the queue. A worker takes a message by moving its ``visible_at`` a lease
  ahead (a compare-and-set only one worker can win) and deletes it once the job is done: the
  message of a worker killed mid-job is taken again when the lease runs out.
* ``redis://...``: Dramatiq's ``RedisBroker``. A message being processed sits in the
  worker's acknowledgement set; a worker whose heartbeat stops for
  ``FHIR_GATEWAY_QUEUE_HEARTBEAT_S`` has its messages put back on the queue.

Periodic jobs (``Periodic``): each worker ticks once a second; for a job due every N seconds
the period slot is ``now // N``, and the one worker (of any host) whose insert of
``(job, slot)`` into ``periodic_run`` succeeds enqueues that run.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import dramatiq
from dramatiq.broker import Broker, Consumer, MessageProxy
from dramatiq.message import Message
from sqlalchemy import Engine, and_, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from smart_auth.notifications.tables import job_message, periodic_run

log = logging.getLogger(__name__)


def _now_ms() -> int:
    return int(time.time() * 1000)


class StateBroker(Broker):
    """A Dramatiq broker over the state database (see the module's documentation)."""

    def __init__(
        self,
        engine: Engine,
        *,
        lease_s: float = 120.0,
        poll_s: float = 0.2,
        middleware: list[Any] | None = None,
    ) -> None:
        super().__init__(middleware)
        self.engine = engine
        self.lease_ms = int(lease_s * 1000)
        self.poll_s = poll_s
        self.queues: set[str] = set()

    def declare_queue(self, queue_name: str) -> None:
        if queue_name not in self.queues:
            self.emit_before("declare_queue", queue_name)
            self.queues.add(queue_name)
            self.emit_after("declare_queue", queue_name)

    def get_declared_queues(self) -> set[str]:
        return set(self.queues)

    def enqueue(self, message: Message, *, delay: int | None = None) -> Message:
        self.emit_before("enqueue", message, delay)
        with self.engine.begin() as conn:
            conn.execute(
                insert(job_message).values(
                    queue=message.queue_name,
                    body=message.encode().decode(),
                    visible_at=_now_ms() + (delay or 0),
                    deliveries=0,
                    dead=False,
                )
            )
        self.emit_after("enqueue", message, delay)
        return message

    def consume(self, queue_name: str, prefetch: int = 1, timeout: int = 30000) -> Consumer:
        return _StateConsumer(self, queue_name, prefetch, timeout)

    def flush(self, queue_name: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(job_message).where(job_message.c.queue == queue_name))

    def flush_all(self) -> None:
        for name in self.queues:
            self.flush(name)

    def pending(self, queue_name: str | None = None) -> int:
        """Messages not yet done (waiting, delayed or being processed), not dead."""
        m = job_message.c
        stmt = select(m.id).where(m.dead.is_(False))
        if queue_name:
            stmt = stmt.where(m.queue == queue_name)
        with self.engine.connect() as conn:
            return len(conn.execute(stmt).all())

    def join(self, queue_name: str, *, timeout: int | None = None) -> None:
        deadline = time.monotonic() + (timeout or 60000) / 1000
        while self.pending(queue_name):
            if time.monotonic() > deadline:
                raise TimeoutError(f"queue {queue_name} not drained")
            time.sleep(self.poll_s)


class _StateMessage(MessageProxy):
    def __init__(self, message: Message, row_id: int) -> None:
        super().__init__(message)
        self.row_id = row_id


class _StateConsumer(Consumer):
    def __init__(self, broker: StateBroker, queue: str, prefetch: int, timeout: int) -> None:
        self.broker, self.queue = broker, queue
        self.timeout_s = timeout / 1000
        self.slots = threading.Semaphore(max(1, prefetch))

    def _take(self) -> _StateMessage | None:
        m = job_message.c
        now = _now_ms()
        with self.broker.engine.begin() as conn:
            candidates = conn.execute(
                select(m.id, m.visible_at, m.body)
                .where(m.queue == self.queue, m.dead.is_(False), m.visible_at <= now)
                .order_by(m.visible_at, m.id)
                .limit(8)
            ).all()
        for row in candidates:
            with self.broker.engine.begin() as conn:
                won = conn.execute(
                    update(job_message)
                    .where(and_(m.id == row.id, m.visible_at == row.visible_at))
                    .values(visible_at=now + self.broker.lease_ms, deliveries=m.deliveries + 1)
                )
            if won.rowcount == 1:
                return _StateMessage(Message.decode(row.body.encode()), int(row.id))
        return None

    def __next__(self) -> MessageProxy | None:
        if not self.slots.acquire(timeout=self.timeout_s):
            return None
        deadline = time.monotonic() + self.timeout_s
        while True:
            try:
                message = self._take()
            except Exception:  # the state database is away for a moment: try again later
                log.warning("the job queue could not read the state database")
                message = None
            if message is not None:
                return message
            if time.monotonic() >= deadline:
                self.slots.release()
                return None
            time.sleep(self.broker.poll_s)

    def ack(self, message: MessageProxy) -> None:
        assert isinstance(message, _StateMessage)
        with self.broker.engine.begin() as conn:
            conn.execute(delete(job_message).where(job_message.c.id == message.row_id))
        self.slots.release()

    def nack(self, message: MessageProxy) -> None:
        assert isinstance(message, _StateMessage)
        with self.broker.engine.begin() as conn:
            conn.execute(
                update(job_message).where(job_message.c.id == message.row_id).values(dead=True)
            )
        self.slots.release()

    def requeue(self, messages: Iterable[MessageProxy]) -> None:
        """Messages taken but not started when the worker stops: visible again at once."""
        for message in messages:
            assert isinstance(message, _StateMessage)
            with self.broker.engine.begin() as conn:
                conn.execute(
                    update(job_message)
                    .where(job_message.c.id == message.row_id)
                    .values(visible_at=_now_ms())
                )


def make_broker(
    url: str,
    state_engine: Engine,
    *,
    lease_s: float,
    poll_s: float,
    heartbeat_s: float,
    namespace: str = "fhir-gateway",
) -> Broker:
    if not url:
        return StateBroker(state_engine, lease_s=lease_s, poll_s=poll_s)
    if url.startswith(("redis://", "rediss://", "unix://")):
        from dramatiq.brokers.redis import RedisBroker

        # maintenance (putting back the messages of dead workers) on about one fetch in ten
        return RedisBroker(
            url=url,
            namespace=namespace,
            heartbeat_timeout=int(heartbeat_s * 1000),
            maintenance_chance=100_000,
            socket_timeout=10,
            socket_connect_timeout=10,
        )
    raise ValueError("FHIR_GATEWAY_QUEUE_URL: expected empty (the state database) or redis://")


class Periodic:
    """Enqueues each periodic job once per period across every worker and host."""

    def __init__(self, engine: Engine, jobs: list[tuple[str, float, Callable[[], Any]]]) -> None:
        self.engine = engine
        self.jobs = jobs
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self, now: float | None = None) -> list[str]:
        """Enqueue what is due now; answers the names this worker enqueued."""
        now = time.time() if now is None else now
        started = []
        for name, every_s, send in self.jobs:
            slot = int(now // every_s)
            try:
                with self.engine.begin() as conn:
                    conn.execute(insert(periodic_run).values(name=name, slot=slot))
                    conn.execute(
                        delete(periodic_run).where(
                            periodic_run.c.name == name, periodic_run.c.slot < slot - 10
                        )
                    )
            except IntegrityError:
                continue  # another worker has it
            send()
            started.append(name)
        return started

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            try:
                self.tick()
            except Exception:
                log.warning("periodic jobs: the state database did not answer; next tick")

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="periodic", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


__all__ = ["Periodic", "StateBroker", "dramatiq", "make_broker"]
