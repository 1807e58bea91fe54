"""Bridge C-STORE callbacks to a generator through a bounded queue.

During a C-GET (PS3.4 §C.4.3) the PACS sends each instance as a C-STORE sub-operation on the same
association; during a C-MOVE (§C.4.2) on an association to the gateway's storage SCP. pynetdicom
delivers them to an ``EVT_C_STORE`` handler, not to an iterator. A producer thread runs the
request; the handler puts each encoded instance into a queue of ``queue_size`` items and blocks
while it is full. The C-STORE response is sent only when the handler returns, and the PACS sends
the next instance only after that response, so a slow consumer slows the PACS down instead of
filling memory: at most ``queue_size + 2`` instances are held at any time.

The consumer iterates the :class:`QueueRetrieval`; the first item may raise the error that
prevented the retrieval (PacsUnavailable, PacsTimeout), so a caller can look at it before it
commits to a response. Closing early cancels the request at the PACS (C-CANCEL, PS3.7 §9.3.2.3).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from types import TracebackType

from dicomweb.backends.base import RetrieveOutcome
from dicomweb.errors import PacsTimeout

LOG = logging.getLogger(__name__)

_END = object()


class _Failure:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


class QueueRetrieval:
    """A :class:`~dicomweb.backends.base.Retrieval` fed by a producer thread.

    ``run(retrieval)`` executes the DIMSE request in the producer thread; the C-STORE handler
    calls :meth:`put`; ``run`` returns the final :class:`RetrieveOutcome` (or raises).
    ``on_cancel`` is set by the producer to send a C-CANCEL when the consumer gives up.
    """

    def __init__(
        self,
        run: Callable[[QueueRetrieval], RetrieveOutcome],
        *,
        queue_size: int,
        consumer_timeout_s: float,
        name: str = "pacs-retrieve",
    ) -> None:
        self._queue: queue.Queue[object] = queue.Queue(maxsize=queue_size)
        self._cancelled = threading.Event()
        self._consumer_timeout_s = consumer_timeout_s
        self._outcome: RetrieveOutcome | None = None
        self._done = False
        self.received = 0
        self.delivered = 0
        self.on_cancel: Callable[[], None] | None = None
        self._cancel_sent = False
        self._thread = threading.Thread(target=self._produce, args=(run,), name=name, daemon=True)
        self._thread.start()

    # -- producer side ---------------------------------------------------------------------

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def put(self, instance: bytes) -> bool:
        """Hand one received instance to the consumer, waiting while the queue is full.

        Returns ``False`` when the consumer gave up (closed, or took nothing for
        ``consumer_timeout_s``): the handler then refuses the sub-operation and the request is
        cancelled at the PACS.
        """
        self.received += 1
        if self._offer(instance):
            return True
        self._cancel_once()
        return False

    def _offer(self, item: object) -> bool:
        deadline = time.monotonic() + self._consumer_timeout_s
        while not self._cancelled.is_set():
            try:
                self._queue.put(item, timeout=0.05)
                return True
            except queue.Full:
                if time.monotonic() > deadline:
                    LOG.warning("retrieval consumer stalled: cancelling the retrieval")
                    self._cancelled.set()
        return False

    def _cancel_once(self) -> None:
        if self._cancel_sent or self.on_cancel is None:
            return
        self._cancel_sent = True
        try:
            self.on_cancel()
        except Exception:  # the association may already be gone
            LOG.debug("sending C-CANCEL failed", exc_info=True)

    def _produce(self, run: Callable[[QueueRetrieval], RetrieveOutcome]) -> None:
        try:
            outcome = run(self)
        except BaseException as exc:  # handed to the consumer, raised there
            self._outcome = RetrieveOutcome(status=None, received=self.received)
            self._offer(_Failure(exc))
            return
        self._outcome = outcome
        self._offer(_END)

    # -- consumer side ---------------------------------------------------------------------

    @property
    def outcome(self) -> RetrieveOutcome | None:
        """The final status once the last instance has been taken, else ``None``."""
        return self._outcome if self._done else None

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        if self._done:
            raise StopIteration
        item = self._take()
        if item is _END:
            self._done = True
            raise StopIteration
        if isinstance(item, _Failure):
            self._done = True
            raise item.exc
        self.delivered += 1
        return item  # type: ignore[return-value]

    def _take(self) -> object:
        """The next item; if the producer gave up on a stalled consumer, raise PacsTimeout."""
        while True:
            try:
                return self._queue.get(timeout=0.1)
            except queue.Empty:
                if self._thread.is_alive() or not self._queue.empty():
                    continue
                # only a cancelled producer ends without a last item
                self._done = True
                raise PacsTimeout(
                    "the retrieval was cancelled: its consumer took no instance for "
                    f"{self._consumer_timeout_s} s"
                ) from None

    def close(self, timeout: float = 10.0) -> None:
        """Stop early: unblock and cancel the producer, wait for it to free its association."""
        if self._done and not self._thread.is_alive():
            return
        self._cancelled.set()
        self._drain()
        self._thread.join(timeout)
        self._drain()
        if not self._done:
            self._done = True
            if self._outcome is None:
                self._outcome = RetrieveOutcome(status=None, received=self.received)

    def _drain(self) -> None:
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                return

    def __enter__(self) -> QueueRetrieval:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
