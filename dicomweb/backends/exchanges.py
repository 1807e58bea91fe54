"""One DIMSE exchange on one association: send a request, consume every response (PS3.7 §9).

pynetdicom reports a response that never came (DIMSE timeout, A-ABORT, closed connection) as an
empty status dataset. :func:`lost` tells the two cases apart by the time spent: the DIMSE
timeout raises :class:`~dicomweb.errors.PacsTimeout`; anything sooner means the association
ended, reported as :class:`Dropped` so that the caller may retry on a new association.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator

from pydicom.dataset import Dataset
from pynetdicom import evt
from pynetdicom.association import Association

from dicomweb.backends import wire
from dicomweb.backends.base import InstanceStatus, RetrieveOutcome, status_category
from dicomweb.backends.contexts import FIND_MODEL, GET_MODEL, MAX_CONTEXTS, MOVE_MODEL
from dicomweb.backends.query import Elements, identifier_dataset
from dicomweb.backends.retrieval import QueueRetrieval
from dicomweb.errors import PacsStatusError, PacsTimeout

SUCCESS = 0x0000
PROCESSING_FAILURE = 0x0110  # PS3.7 §C.4.2
SOP_CLASS_NOT_SUPPORTED = 0x0122  # PS3.4 §B.2.3: no accepted presentation context
OUT_OF_RESOURCES = 0xA700  # PS3.4 §B.2.3 Refused: Out of Resources
CANNOT_UNDERSTAND = 0xC000  # PS3.4 §B.2.3 Error: Cannot understand

Responses = Iterable[tuple[Dataset, Dataset | None]]


class Dropped(Exception):
    """The association ended without a response: the PACS aborted or closed it."""


def lost(what: str, started: float, dimse_timeout_s: float) -> Exception:
    """Classify an empty response: the DIMSE timeout expired, or the association ended."""
    if time.monotonic() - started >= 0.9 * dimse_timeout_s:
        return PacsTimeout(f"no {what} response within {dimse_timeout_s} s")
    return Dropped(what)


def c_echo(assoc: Association, msg_id: int, dimse_timeout_s: float) -> int:
    """C-ECHO (PS3.7 §9.1.5): the status, 0x0000 when the peer is alive."""
    started = time.monotonic()
    status = assoc.send_c_echo(msg_id=msg_id)
    if "Status" not in status:
        raise lost("C-ECHO", started, dimse_timeout_s)
    return int(status.Status)


def c_find(assoc: Association, ident: Elements, msg_id: int, dimse_timeout_s: float) -> list:
    """C-FIND (PS3.7 §9.1.2): every Pending identifier; consumed to the final response, so the
    association is free for the next request. A Failure or Cancel raises PacsStatusError.

    The request is written by :mod:`dicomweb.backends.wire` where it can be, else by
    pynetdicom's ``send_c_find`` from the same identifier as a Dataset."""
    results: list[Dataset] = []
    started = time.monotonic()
    responses = wire.send_find(assoc, ident, FIND_MODEL, msg_id)
    if responses is None:
        responses = assoc.send_c_find(identifier_dataset(ident), FIND_MODEL, msg_id=msg_id)
    for status, found in responses:
        if "Status" not in status:
            raise lost("C-FIND", started, dimse_timeout_s)
        category = status_category(int(status.Status))
        if category == "Pending":
            if found is not None:
                results.append(found)
        elif category in ("Failure", "Cancel"):
            raise PacsStatusError("the PACS failed the C-FIND", status=int(status.Status))
    return results


def c_get(
    assoc: Association, ident: Dataset, msg_id: int, sink: QueueRetrieval, dimse_timeout_s: float
) -> RetrieveOutcome:
    """C-GET (PS3.7 §9.1.3): sub-operation C-STOREs arrive on this association and go to
    ``sink`` as Part-10 bytes (``encoded_dataset``: no decode, no re-encode)."""

    def on_c_store(event: evt.Event) -> int:
        return SUCCESS if sink.put(event.encoded_dataset()) else OUT_OF_RESOURCES

    sink.on_cancel = lambda: assoc.send_c_cancel(msg_id, query_model=GET_MODEL)
    assoc.bind(evt.EVT_C_STORE, on_c_store)
    try:
        started = time.monotonic()
        responses = assoc.send_c_get(ident, GET_MODEL, msg_id=msg_id)
        return final_outcome(responses, sink, started, dimse_timeout_s)
    finally:
        assoc.unbind(evt.EVT_C_STORE, on_c_store)
        sink.on_cancel = None


def c_move(
    assoc: Association,
    ident: Dataset,
    destination: str,
    msg_id: int,
    sink: QueueRetrieval,
    dimse_timeout_s: float,
) -> RetrieveOutcome:
    """C-MOVE (PS3.7 §9.1.4) to ``destination``; the storage SCP feeds ``sink``."""
    sink.on_cancel = lambda: assoc.send_c_cancel(msg_id, query_model=MOVE_MODEL)
    try:
        started = time.monotonic()
        responses = assoc.send_c_move(ident, destination, MOVE_MODEL, msg_id=msg_id)
        return final_outcome(responses, sink, started, dimse_timeout_s)
    finally:
        sink.on_cancel = None


def final_outcome(
    responses: Responses, sink: QueueRetrieval, started: float, dimse_timeout_s: float
) -> RetrieveOutcome:
    """Consume C-GET/C-MOVE responses up to the final one (PS3.4 §C.4.2.1.3, §C.4.3.1.3)."""
    for status, found in responses:
        if "Status" not in status:
            raise lost("C-GET/C-MOVE", started, dimse_timeout_s)
        code = int(status.Status)
        if status_category(code) == "Pending":
            continue
        failed: tuple[str, ...] = ()
        if found is not None and "FailedSOPInstanceUIDList" in found:
            value = found.FailedSOPInstanceUIDList
            items = value if isinstance(value, list) else str(value).split("\\")
            failed = tuple(str(v) for v in items if v)
        return RetrieveOutcome(
            status=code,
            completed=int(status.get("NumberOfCompletedSuboperations") or 0),
            failed=int(status.get("NumberOfFailedSuboperations") or 0),
            warning=int(status.get("NumberOfWarningSuboperations") or 0),
            received=sink.received,
            failed_sop_instance_uids=failed,
        )
    raise lost("C-GET/C-MOVE", started, dimse_timeout_s)


def c_store_each(
    assoc: Association,
    datasets: list[Dataset],
    done: list[InstanceStatus],
    msg_ids: Callable[[], int],
    dimse_timeout_s: float,
) -> None:
    """C-STORE (PS3.7 §9.1.1) each dataset, appending its status to ``done``.

    A dataset with no accepted presentation context fails at once (0x0122) instead of waiting.
    """
    del done[:]  # a retry starts again from the first instance
    for ds in datasets:
        started = time.monotonic()
        try:
            status = assoc.send_c_store(ds, msg_id=msg_ids())
        except (ValueError, AttributeError) as exc:
            done.append(failed(ds, SOP_CLASS_NOT_SUPPORTED, str(exc)))
            continue
        if "Status" not in status:
            raise lost("C-STORE", started, dimse_timeout_s)
        reason = str(status.get("ErrorComment", "") or "")
        code = int(status.Status)
        done.append(InstanceStatus(str(ds.SOPClassUID), str(ds.SOPInstanceUID), code, reason))


def failed(ds: Dataset, status: int, reason: str) -> InstanceStatus:
    """The status of an instance that was not stored."""
    sop_class = str(ds.get("SOPClassUID", ""))
    return InstanceStatus(sop_class, str(ds.get("SOPInstanceUID", "")), status, reason)


def chunks(
    datasets: Iterable[Dataset], rejected: list[InstanceStatus]
) -> Iterator[tuple[list[Dataset], list[tuple[str, str]]]]:
    """Split a batch so that each part needs at most 127 presentation contexts.

    Datasets without SOP Class/Instance UID or Transfer Syntax UID are rejected on the spot
    (0xC000, cannot understand, PS3.4 §B.2.3) and reported in ``rejected``.
    """
    chunk: list[Dataset] = []
    pairs: dict[tuple[str, str], None] = {}
    for ds in datasets:
        if "SOPClassUID" not in ds or "SOPInstanceUID" not in ds:
            rejected.append(failed(ds, CANNOT_UNDERSTAND, "no SOP Class or Instance UID"))
            continue
        syntax = str(getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", "") or "")
        if not syntax:
            rejected.append(failed(ds, CANNOT_UNDERSTAND, "no Transfer Syntax UID in file meta"))
            continue
        pair = (str(ds.SOPClassUID), syntax)
        if pair not in pairs and len(pairs) == MAX_CONTEXTS - 1:
            yield chunk, list(pairs)
            chunk, pairs = [], {}
        pairs[pair] = None
        chunk.append(ds)
    if chunk:
        yield chunk, list(pairs)
