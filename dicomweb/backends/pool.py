"""A bounded pool of DICOM associations (PS3.8 §7.1 A-ASSOCIATE, §7.2 A-RELEASE, §7.3 A-ABORT).

Opening an association costs a TCP connection and an A-ASSOCIATE round trip (about 10 ms on
loopback against Orthanc, several times that across a hospital network), so the gateway keeps a
few open. The pool:

* hands each association to one request at a time (DIMSE messages of two requests must never
  interleave on one association: pynetdicom would mix up their responses);
* keys associations by their presentation contexts: the query association (Verification, FIND,
  MOVE) and one per set of storage SOP classes for C-GET and C-STORE;
* holds at most ``pool_size`` associations, leased or idle, closing the least recently used
  idle one to make room;
* never reuses an association the PACS has dropped (Orthanc closes idle ones after
  ``DicomScpTimeout``; pynetdicom notices the closed socket) or one idle for longer than
  ``max_idle_s``;
* sets ``TCP_NODELAY`` on every socket, through pynetdicom's ``EVT_CONN_OPEN`` notification,
  which fires after ``connect()`` and before the A-ASSOCIATE-RQ is sent (and, on the storage
  SCP, for every accepted connection). pynetdicom never sets it itself, and Nagle's algorithm
  then delays every small DIMSE message by the peer's delayed-ACK timer (40 ms and more);
* shortens pynetdicom's network poll while an association is leased (:func:`set_poll`): its
  network thread sleeps 1 ms whenever it finds nothing to do, so every wait for the PACS's next
  PDU, and every response the gateway sends, can lose up to a millisecond. A C-GET, one round
  trip per instance, was bound by those sleeps (measured: 500 CT instances in 2.96 s with the
  default, 1.67-2.4 s with a 0-20 µs poll). Idle associations go back to the default so that
  they cost nothing;
* parks the association's reactor thread while the association is idle (:func:`park_reactor`):
  pynetdicom's every ``send_*()`` first waits for that thread, which polls once a millisecond, to
  pause, and so lost up to a millisecond before each request reached the PACS (measured in one
  process: a series C-FIND against Orthanc on loopback, median 2.55 ms, 2.22 ms parked). A
  parked reactor is already paused, and costs no CPU while it waits. It does not look at what
  the PACS sends meanwhile, nor at pynetdicom's network timeout (``max_idle_s`` bounds idle
  time instead), so an idle association is reused only while its protocol machine is still in
  the data-transfer state (:func:`is_ready`);
* works around two pynetdicom 3.0 faults that show exactly under a gateway's load: a race that
  lets the association's own reactor thread swallow a response (:func:`guard_reactor`), and
  sockets left open when a connection fails or is reset (:class:`GatewayAE`).
"""

from __future__ import annotations

import logging
import queue
import socket
import threading
import time
import weakref
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from pynetdicom import AE, evt
from pynetdicom import _config as _pynetdicom_config
from pynetdicom.association import Association
from pynetdicom.pdu_primitives import SCP_SCU_RoleSelectionNegotiation
from pynetdicom.presentation import PresentationContext
from pynetdicom.transport import AddressInformation, AssociationSocket

from dicomweb.backends.settings import IDLE_POLL_S, PacsSettings
from dicomweb.errors import PacsTimeout, PacsUnavailable

LOG = logging.getLogger(__name__)

# pynetdicom formats every C-FIND/C-GET/C-MOVE request and response identifier for its INFO log
# before the logger looks at its level: names, birth dates and IDs of patients ready for a log
# line (``fhir_gateway.logs`` also holds the pynetdicom logger at WARNING), and a millisecond of
# a QIDO request spent on text nobody reads.
_pynetdicom_config.LOG_REQUEST_IDENTIFIERS = False
_pynetdicom_config.LOG_RESPONSE_IDENTIFIERS = False

ContextBuilder = Callable[
    [], tuple[list[PresentationContext], list[SCP_SCU_RoleSelectionNegotiation]]
]


def set_tcp_nodelay(event: evt.Event) -> None:
    """``EVT_CONN_OPEN`` handler: disable Nagle's algorithm on the association's socket."""
    wrapper = event.assoc.dul.socket
    sock = getattr(wrapper, "socket", None) if wrapper is not None else None
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


NODELAY_HANDLER = (evt.EVT_CONN_OPEN, set_tcp_nodelay)


def set_poll(assoc: Association, interval_s: float) -> None:
    """Set how long pynetdicom's DUL thread sleeps when it finds no PDU to read or send.

    pynetdicom 3.0 reads ``DULServiceProvider._run_loop_delay`` on every turn of its loop, so a
    change takes effect at once; an older or newer pynetdicom without it is left as it is.
    """
    dul = getattr(assoc, "dul", None)
    if dul is not None and hasattr(dul, "_run_loop_delay"):
        dul._run_loop_delay = interval_s


def park_reactor(assoc: Association) -> None:
    """Let a requestor association's reactor thread stop at its checkpoint until the next request.

    pynetdicom's ``send_*()`` clears ``_reactor_checkpoint`` and then sleeps in 100 µs steps until
    the reactor, waking every millisecond, reports ``_is_paused``; when the call is done it sets
    the checkpoint again. Clearing it when the association goes back to the pool lets the
    reactor reach the checkpoint within a millisecond, off the request path, and wait there: the
    next ``send_*()`` finds it paused already. ``release()`` and ``abort()`` work from there as
    well (they are ``send_*()`` calls and ``abort()`` sets the checkpoint itself).
    """
    checkpoint = getattr(assoc, "_reactor_checkpoint", None)
    if isinstance(checkpoint, threading.Event) and hasattr(assoc, "_is_paused"):
        checkpoint.clear()


def wake_reactor(assoc: Association) -> None:
    """Undo :func:`park_reactor`: the reactor serves what the peer sent (release, abort)."""
    checkpoint = getattr(assoc, "_reactor_checkpoint", None)
    if isinstance(checkpoint, threading.Event):
        checkpoint.set()


def is_ready(assoc: Association) -> bool:
    """An association that can carry a request now: established, its network thread running,
    and its protocol machine in Sta6 (PS3.8 §9.2, data transfer), not releasing or aborting
    because of something the peer sent while the reactor was parked."""
    if not assoc.is_established or not assoc.dul.is_alive():
        return False
    machine = getattr(assoc.dul, "state_machine", None)
    return getattr(machine, "current_state", "Sta6") == "Sta6"


class GatewayAE(AE):
    """pynetdicom's AE, remembering the socket of each requestor association so that the pool
    can close it when the association is over. pynetdicom 3.0 leaves it open when ``connect()``
    fails (``_shutdown_socket`` skips ``close()`` once ``shutdown()`` raises on a socket that
    never connected) and when the peer resets the connection (the DUL thread stops without
    closing it): one leaked descriptor each time, exactly while the PACS is going away.
    """

    def __init__(self, ae_title: str) -> None:
        super().__init__(ae_title)
        self._sockets: weakref.WeakKeyDictionary[Association, socket.socket] = (
            weakref.WeakKeyDictionary()
        )
        self._sockets_lock = threading.Lock()

    def _create_socket(
        self, assoc: Association, address: AddressInformation, tls_args: Any
    ) -> AssociationSocket:
        wrapper = super()._create_socket(assoc, address, tls_args)
        if wrapper.socket is not None:
            with self._sockets_lock:
                self._sockets[assoc] = wrapper.socket
        return wrapper

    def close_socket(self, assoc: Association) -> None:
        """Close the socket of a finished association (once its threads are done)."""
        with self._sockets_lock:
            raw = self._sockets.pop(assoc, None)
        if raw is not None:
            raw.close()


class _RequestorQueue(queue.Queue):  # type: ignore[type-arg]
    """The DIMSE message queue of a requestor association, closed to its own reactor thread.

    pynetdicom 3.0's association reactor polls this queue every millisecond
    (``get_msg(block=False)``) to serve incoming requests, and pauses while a ``send_*()``
    call waits for its response. The pause is racy: if the reactor has just passed its
    checkpoint when the caller checks ``_is_paused``, it takes the caller's response off the
    queue and drops it, and the caller waits for the DIMSE timeout. Measured here: about one
    C-STORE in 2,000 with three threads storing at once (pynetdicom issues #435, #842). On the
    gateway's requestor associations every response and every C-GET sub-operation is read by
    the caller (blocking), so the reactor is simply never given a message.
    """

    def __init__(self, reactor: threading.Thread) -> None:
        super().__init__()
        self._reactor = reactor

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        if not block and threading.current_thread() is self._reactor:
            raise queue.Empty
        return super().get(block, timeout)


def guard_reactor(assoc: Association) -> None:
    """Install :class:`_RequestorQueue` on a newly established requestor association."""
    old = assoc.dimse.msg_queue
    guarded = _RequestorQueue(assoc)
    while True:
        try:
            guarded.put(old.get_nowait())
        except queue.Empty:
            break
    assoc.dimse.msg_queue = guarded


def make_ae(settings: PacsSettings, ae_title: str) -> GatewayAE:
    """An application entity with the settings' timeouts and PDU size."""
    ae = GatewayAE(ae_title)
    ae.connection_timeout = settings.connect_timeout_s
    ae.acse_timeout = settings.acse_timeout_s
    ae.dimse_timeout = settings.dimse_timeout_s
    ae.network_timeout = settings.network_timeout_s
    ae.maximum_pdu_size = settings.max_pdu_size
    return ae


@dataclass(eq=False)
class Lease:
    """One association lent to one request. Set ``discard`` when its state is uncertain."""

    assoc: Association
    key: Hashable
    reused: bool
    discard: bool = False
    idle_since: float = field(default_factory=time.monotonic)

    @property
    def alive(self) -> bool:
        return is_ready(self.assoc)


class AssociationPool:
    """At most ``settings.pool_size`` associations to one PACS, leased one request at a time."""

    def __init__(self, settings: PacsSettings, ae: GatewayAE) -> None:
        self.settings = settings
        self.ae = ae
        self._slots = threading.BoundedSemaphore(settings.pool_size)
        self._lock = threading.Lock()
        self._idle: list[Lease] = []
        self._leased = 0
        self._closed = False
        self.opened = 0  # associations opened since start (observability and tests)

    def acquire(self, key: Hashable, build: ContextBuilder) -> Lease:
        """Lend an association with the contexts of ``key`` (``build`` makes them if needed).

        Raises PacsTimeout when no association frees up within ``pool_wait_s``, and
        PacsUnavailable or PacsTimeout when a new association cannot be opened.
        """
        if not self._slots.acquire(timeout=self.settings.pool_wait_s):
            raise PacsTimeout(f"no free PACS association within {self.settings.pool_wait_s} s")
        try:
            lease = self._take_idle(key)
            if lease is None:
                lease = Lease(self._open(build), key, reused=False)
            set_poll(lease.assoc, self.settings.busy_poll_s)
            return lease
        except BaseException:
            with self._lock:
                self._leased -= 1
            self._slots.release()
            raise

    def release(self, lease: Lease) -> None:
        """Take an association back: kept idle if still established, else closed."""
        with self._lock:
            self._leased -= 1
            keep = lease.alive and not lease.discard and not self._closed
            if keep:
                set_poll(lease.assoc, IDLE_POLL_S)
                park_reactor(lease.assoc)
                lease.idle_since = time.monotonic()
                lease.reused = True
                self._idle.append(lease)
        if not keep:
            self._retire(lease.assoc, graceful=not lease.discard)
        self._slots.release()

    def close(self) -> None:
        """Release every idle association (A-RELEASE); leased ones close when released."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for lease in idle:
            self._retire(lease.assoc, graceful=True, wait=True)

    @property
    def idle_count(self) -> int:
        with self._lock:
            return len(self._idle)

    def _take_idle(self, key: Hashable) -> Lease | None:
        """An idle, live association for ``key``; makes room by closing stale or LRU ones."""
        now = time.monotonic()
        stale: list[Lease] = []
        found: Lease | None = None
        with self._lock:
            self._leased += 1
            for lease in list(self._idle):
                too_old = now - lease.idle_since > self.settings.max_idle_s
                if too_old or not lease.alive:
                    self._idle.remove(lease)
                    stale.append(lease)
                elif found is None and lease.key == key:
                    self._idle.remove(lease)
                    found = lease
            if found is None:
                while self._idle and self._leased + len(self._idle) > self.settings.pool_size:
                    stale.append(self._idle.pop(0))  # least recently used first
        for lease in stale:
            self._retire(lease.assoc, graceful=True)
        return found

    def _open(self, build: ContextBuilder) -> Association:
        contexts, roles = build()
        s = self.settings
        started = time.monotonic()
        assoc = self.ae.associate(
            s.host,
            s.port,
            contexts=contexts,
            ae_title=s.called_aet,
            ext_neg=list(roles) or None,
            evt_handlers=[NODELAY_HANDLER],
        )
        if assoc.is_established:
            guard_reactor(assoc)
            self.opened += 1
            return assoc
        self._retire(assoc, graceful=False)
        elapsed = time.monotonic() - started
        where = f"{s.called_aet}@{s.host}:{s.port}"
        if assoc.is_rejected:
            raise PacsUnavailable(f"the PACS {where} rejected the association ({_reason(assoc)})")
        if elapsed >= 0.9 * min(s.connect_timeout_s, s.acse_timeout_s):
            raise PacsTimeout(f"the PACS {where} did not answer within {elapsed:.1f} s")
        raise PacsUnavailable(f"cannot connect to the PACS {where}")

    def _retire(self, assoc: Association, *, graceful: bool, wait: bool = False) -> None:
        """Close an association and its socket, off the request path unless ``wait``:
        pynetdicom's A-RELEASE takes ~13 ms and its A-ABORT ~110 ms (it waits for its
        threads). Until that is done the PACS may briefly see one association more than
        ``pool_size``."""
        if wait:
            self._close(assoc, graceful=graceful)
        else:
            threading.Thread(
                target=self._close, args=(assoc,), kwargs={"graceful": graceful}, daemon=True
            ).start()

    def _close(self, assoc: Association, *, graceful: bool) -> None:
        if assoc.is_established and not is_ready(assoc):
            # The peer released or aborted, or the connection dropped, while the reactor was
            # parked: let pynetdicom's reactor answer it and end the association itself.
            wake_reactor(assoc)
            assoc.join(2)
        try:
            if assoc.is_established and graceful:
                assoc.release()
            elif assoc.is_established:
                assoc.abort()
        except Exception:  # closing is best effort: the peer may already be gone
            LOG.debug("closing an association failed", exc_info=True)
        for thread in (assoc, assoc.dul):
            if thread.ident is not None and thread is not threading.current_thread():
                thread.join(5)
        self.ae.close_socket(assoc)


def _reason(assoc: Association) -> str:
    primitive = getattr(assoc.acceptor, "primitive", None)
    if primitive is None:
        return "no reason given"
    parts = [getattr(primitive, name, "") for name in ("result_str", "source_str", "reason_str")]
    return ", ".join(str(p) for p in parts if p) or "no reason given"
