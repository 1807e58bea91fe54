"""The gateway's storage SCP: the destination of C-MOVE sub-operations (PS3.4 §C.4.2).

A C-MOVE asks the PACS to send the matching instances, by C-STORE on an association of its own,
to a destination AE the PACS knows by title, host and port. Those C-STOREs reach this SCP, which
must hand each one to the request that caused it. A C-STORE sub-operation carries the Move
Originator AE Title and Message ID (PS3.7 §9.3.1.1, Table 9.3-1): the pair identifies the
waiting C-MOVE, since the gateway numbers its C-MOVE requests uniquely across all its
associations. Some PACS omit the pair; then the instance goes to the only C-MOVE in flight, and
is refused when several are (status 0x0124, Refused: Not authorized).

Only the PACS's own AE title may call this SCP.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable
from typing import cast

from pynetdicom import AE, evt
from pynetdicom.dimse_primitives import C_STORE
from pynetdicom.transport import ThreadedAssociationServer

from dicomweb.backends.contexts import storage_scp_contexts
from dicomweb.backends.exchanges import OUT_OF_RESOURCES, SUCCESS
from dicomweb.backends.pool import NODELAY_HANDLER, make_ae, set_poll
from dicomweb.backends.settings import PacsSettings
from dicomweb.errors import PacsError

LOG = logging.getLogger(__name__)

REFUSED_NOT_AUTHORIZED = 0x0124  # PS3.4 §B.2.3

Sink = Callable[[bytes], bool]


class StorageScp:
    """A storage SCP routing incoming instances to the C-MOVE that asked for them."""

    def __init__(self, settings: PacsSettings) -> None:
        self.settings = settings
        self._ae: AE = make_ae(settings, settings.storage_scp_aet)
        self._ae.supported_contexts = storage_scp_contexts()
        self._ae.require_calling_aet = [settings.called_aet]
        self._server: ThreadedAssociationServer | None = None
        self._sinks: dict[int, Sink] = {}
        self._lock = threading.Lock()
        self._ids = itertools.count(1)

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> None:
        """Listen on ``storage_scp_host:storage_scp_port`` (idempotent)."""
        with self._lock:
            if self._server is not None:
                return
            address = (self.settings.storage_scp_host, self.settings.storage_scp_port)
            try:
                self._server = self._ae.start_server(
                    address,
                    block=False,
                    evt_handlers=[
                        (evt.EVT_C_STORE, self._on_c_store),
                        NODELAY_HANDLER,
                        # the PACS opens these only to send a C-MOVE's instances: poll briskly
                        (evt.EVT_CONN_OPEN, self._on_conn_open),
                    ],
                )
            except OSError as exc:
                raise PacsError(f"the storage SCP cannot listen on {address}: {exc}") from exc

    def _on_conn_open(self, event: evt.Event) -> None:
        set_poll(event.assoc, self.settings.busy_poll_s)

    def stop(self) -> None:
        with self._lock:
            server, self._server = self._server, None
        if server is not None:
            server.shutdown()

    def register(self, sink: Sink) -> int:
        """Reserve a Message ID for a C-MOVE whose instances go to ``sink``."""
        with self._lock:
            while True:
                msg_id = (next(self._ids) - 1) % 0xFFFF + 1
                if msg_id not in self._sinks:
                    self._sinks[msg_id] = sink
                    return msg_id

    def unregister(self, msg_id: int) -> None:
        with self._lock:
            self._sinks.pop(msg_id, None)

    def _sink_for(self, originator_aet: str | None, msg_id: int | None) -> Sink | None:
        with self._lock:
            if msg_id is not None and (originator_aet or "").strip() in ("", self._calling_aet):
                return self._sinks.get(msg_id)
            if msg_id is None and len(self._sinks) == 1:
                return next(iter(self._sinks.values()))
        return None

    @property
    def _calling_aet(self) -> str:
        return self.settings.calling_aet

    def _on_c_store(self, event: evt.Event) -> int:
        """``EVT_C_STORE``: pass the encoded instance on without decoding it (PS3.4 §B.2.3)."""
        request = cast(C_STORE, event.request)
        sink = self._sink_for(
            request.MoveOriginatorApplicationEntityTitle, request.MoveOriginatorMessageID
        )
        if sink is None:
            LOG.warning("refused a C-STORE that no C-MOVE of this gateway is waiting for")
            return REFUSED_NOT_AUTHORIZED
        return SUCCESS if sink(event.encoded_dataset()) else OUT_OF_RESOURCES
