"""The PACS backend over DIMSE, with pynetdicom.

* C-ECHO (PS3.4 Annex A) to check the PACS.
* C-FIND at STUDY, SERIES and IMAGE level of the Study Root model (PS3.4 §C.6.2.1), results
  matched again, sorted and sliced (see :mod:`dicomweb.backends.query`).
* C-GET (PS3.4 §C.4.3) with presentation contexts built from the study's SOPClassesInStudy,
  SCP role selection (PS3.7 §D.3.3.4) and an ``EVT_C_STORE`` handler that passes
  ``event.encoded_dataset()`` on without decoding it; or C-MOVE (§C.4.2) to the gateway's own
  storage SCP. Either way instances stream through a bounded queue
  (:mod:`dicomweb.backends.retrieval`).
* C-STORE (PS3.4 Annex B) of a batch on one association.

Associations come from a bounded pool; when the PACS has dropped an idle association (Orthanc
does after ``DicomScpTimeout``) the request is sent again on a new one, once, provided nothing
had been received yet.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Hashable, Iterable
from typing import TypeVar

from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pynetdicom.association import Association

from dicomweb.backends import exchanges as ex
from dicomweb.backends.base import InstanceStatus, Query, RetrieveOutcome, StoreResult
from dicomweb.backends.contexts import (
    COMMON_STORAGE_CLASSES,
    get_contexts,
    query_contexts,
    store_contexts,
)
from dicomweb.backends.matching import filter_matches
from dicomweb.backends.pool import AssociationPool, ContextBuilder, Lease, make_ae
from dicomweb.backends.query import identifier_elements, page, sort_results
from dicomweb.backends.retrieval import QueueRetrieval
from dicomweb.backends.settings import PacsSettings
from dicomweb.backends.storage_scp import StorageScp
from dicomweb.errors import PacsStatusError, PacsTimeout, PacsUnavailable

T = TypeVar("T")
QUERY_KEY = ("query",)
#: The keys that select the patient: the same at every level of a study (PS3.4 §C.6.2.1.2)
_PATIENT_KEYS = frozenset({"PatientID", "IssuerOfPatientID"})


def _carries(ds: Dataset, keys: Query) -> bool:
    """Whether ``ds`` has a value for every key of ``keys`` that matches on one."""
    return all(ds.get(k) not in (None, "") for k, v in keys.items() if v not in ("", "*"))


def _instance_count(series: Dataset) -> int | None:
    """A series' Number of Series Related Instances (0020,1209), if the PACS gave one."""
    try:
        return int(str(series.get("NumberOfSeriesRelatedInstances", "")).strip())
    except ValueError:
        return None


def _query_contexts() -> tuple[list, list]:
    return query_contexts(), []


class DimseBackend:
    """A :class:`~dicomweb.backends.base.PacsBackend` speaking DIMSE to one PACS.

    Thread-safe: requests from several threads share the association pool.
    """

    def __init__(self, settings: PacsSettings | None = None) -> None:
        self.settings = s = settings or PacsSettings()
        self.pool = AssociationPool(s, make_ae(s, s.calling_aet))
        self._scp = StorageScp(s)
        self._msg_ids = itertools.count(1)
        self._msg_lock = threading.Lock()

    def close(self) -> None:
        """Release pooled associations and stop the storage SCP."""
        self.pool.close()
        self._scp.stop()

    def __enter__(self) -> DimseBackend:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- plumbing --------------------------------------------------------------------------

    def _msg_id(self) -> int:
        """A Message ID (PS3.7 §9.3.1.1), unique among this process's outstanding requests."""
        with self._msg_lock:
            return (next(self._msg_ids) - 1) % 0xFFFF + 1

    def _unavailable(self, what: object) -> PacsUnavailable:
        return PacsUnavailable(
            f"the PACS aborted the association during {what} (is the calling AE "
            f"{self.settings.calling_aet} known to it?)"
        )

    def _run(self, key: Hashable, build: ContextBuilder, action: Callable[[Association], T]) -> T:
        """Run ``action`` on a leased association; retry once if an idle one had been dropped."""
        for attempt in (1, 2):
            lease = self.pool.acquire(key, build)
            try:
                return action(lease.assoc)
            except ex.Dropped as exc:
                lease.discard = True
                if attempt == 1 and lease.reused:
                    continue
                raise self._unavailable(exc) from None
            except PacsStatusError:
                raise  # the exchange completed: the association is fine
            except BaseException:
                lease.discard = True
                raise
            finally:
                self.pool.release(lease)
        raise AssertionError("unreachable")

    # -- C-ECHO, C-FIND --------------------------------------------------------------------

    def echo(self) -> int:
        """C-ECHO; the status, 0x0000 when the PACS answers."""
        timeout = self.settings.dimse_timeout_s
        return self._run(
            QUERY_KEY, _query_contexts, lambda a: ex.c_echo(a, self._msg_id(), timeout)
        )

    def _find(
        self, level: str, query: Query, assoc: Association, **uids: str | None
    ) -> list[Dataset]:
        ident = identifier_elements(level, query, **uids)
        found = ex.c_find(assoc, ident, self._msg_id(), self.settings.dimse_timeout_s)
        pinned = {key: value for key, value in uids.items() if value}
        return filter_matches(found, {**query, **pinned})

    def _query(self, action: Callable[[Association], list[Dataset]]) -> list[Dataset]:
        return self._run(QUERY_KEY, _query_contexts, action)

    def find_studies(
        self, query: Query, *, limit: int | None = None, offset: int = 0
    ) -> list[Dataset]:
        found = self._query(lambda a: self._find("STUDY", query, a))
        return page(sort_results("STUDY", found), limit, offset)

    def find_series(
        self, study_uid: str, query: Query, *, limit: int | None = None, offset: int = 0
    ) -> list[Dataset]:
        found = self._query(lambda a: self._find("SERIES", query, a, StudyInstanceUID=study_uid))
        return page(sort_results("SERIES", found), limit, offset)

    def find_instances(
        self,
        study_uid: str,
        series_uid: str | None,
        query: Query,
        *,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[Dataset]:
        """Instances of one series, or of every series: a series-level query comes first, as
        the hierarchical search needs a unique key at each level above (PS3.4 §C.4.1.3.1).

        Across series the order is the series' (by number), then the instances' within each,
        and the walk stops once ``offset + limit`` instances are found: C-FIND has no paging,
        but a page never needs the series after it, so a small page of a large study reads
        only its first series. When nothing but the patient is matched, every instance of a
        series the patient's series query returns matches, so a series wholly before
        ``offset`` is skipped by its Number of Series Related Instances without being read."""
        if series_uid is not None:
            pinned = {"StudyInstanceUID": study_uid, "SeriesInstanceUID": series_uid}
            found = self._query(lambda a: self._find("IMAGE", query, a, **pinned))
            return page(sort_results("IMAGE", found), limit, offset)
        need = None if limit is None else offset + limit
        patient = {k: v for k, v in query.items() if k in _PATIENT_KEYS}
        # return keys (empty) and "*" match everything (PS3.4 §C.2.2.2.3-4)
        countable = all(v in ("", "*") for k, v in query.items() if k not in _PATIENT_KEYS)
        skipped = 0

        def c_find(assoc: Association) -> list[Dataset]:
            nonlocal skipped
            skipped = 0  # a retry on a new association starts again
            series = self._find("SERIES", patient, assoc, StudyInstanceUID=study_uid)
            found: list[Dataset] = []
            for s in sort_results("SERIES", series):
                position = skipped + len(found)
                if need is not None and position >= need:
                    break
                # only a series the PACS said is the patient's (it returned the patient keys,
                # matched again in _find) counts: one that ignored them is read
                count = _instance_count(s) if countable and _carries(s, patient) else None
                if count is not None and position + count <= offset:
                    skipped += count  # the page starts after this series
                    continue
                pinned = {"StudyInstanceUID": study_uid, "SeriesInstanceUID": s.SeriesInstanceUID}
                found += sort_results("IMAGE", self._find("IMAGE", query, assoc, **pinned))
            return found

        found = self._query(c_find)
        return page(found, limit, offset - skipped)

    # -- C-GET, C-MOVE ---------------------------------------------------------------------

    def retrieve_study(self, study_uid: str) -> QueueRetrieval:
        return self._retrieve("STUDY", StudyInstanceUID=study_uid)

    def retrieve_series(self, study_uid: str, series_uid: str) -> QueueRetrieval:
        return self._retrieve("SERIES", StudyInstanceUID=study_uid, SeriesInstanceUID=series_uid)

    def retrieve_instance(
        self, study_uid: str, series_uid: str, sop_instance_uid: str
    ) -> QueueRetrieval:
        return self._retrieve(
            "IMAGE",
            StudyInstanceUID=study_uid,
            SeriesInstanceUID=series_uid,
            SOPInstanceUID=sop_instance_uid,
        )

    def _sop_classes(self, level: str, uids: dict[str, str]) -> list[str] | None:
        """The storage SOP classes to negotiate for a C-GET; ``None`` if there is nothing."""
        if level == "IMAGE":
            found = self._query(lambda a: self._find("IMAGE", {}, a, **uids))
            return sorted({str(d.SOPClassUID) for d in found if "SOPClassUID" in d}) or None
        study_uid = uids["StudyInstanceUID"]
        found = self._query(lambda a: self._find("STUDY", {}, a, StudyInstanceUID=study_uid))
        if not found:
            return None
        classes = found[0].get("SOPClassesInStudy")
        if not classes:
            return list(COMMON_STORAGE_CLASSES)  # the PACS does not report them
        values = classes if isinstance(classes, MultiValue) else [classes]
        return sorted({str(v) for v in values if v})

    def _retrieve(self, level: str, **uids: str) -> QueueRetrieval:
        """Start a retrieval: PacsUnavailable and PacsTimeout are raised here, before the first
        instance, when the PACS cannot be reached; later failures surface from the iterator."""
        s = self.settings
        ident = Dataset()
        ident.QueryRetrieveLevel = level
        for keyword, uid in uids.items():
            setattr(ident, keyword, uid)
        if s.retrieve_mode == "c-move":
            self._scp.start()
            lease = self.pool.acquire(QUERY_KEY, _query_contexts)
            c_move = self._c_move(ident)
            return self._stream(
                lambda r: self._attempts(r, lease, QUERY_KEY, _query_contexts, c_move)
            )
        classes = self._sop_classes(level, uids)
        if classes is None:  # the PACS holds nothing: an empty, successful retrieval
            return self._stream(lambda r: RetrieveOutcome(status=0x0000))
        key = ("c-get", tuple(classes))

        def build() -> tuple[list, list]:
            return get_contexts(classes)

        def c_get(r: QueueRetrieval, assoc: Association) -> RetrieveOutcome:
            return ex.c_get(assoc, ident, self._msg_id(), r, s.dimse_timeout_s)

        lease = self.pool.acquire(key, build)
        return self._stream(lambda r: self._attempts(r, lease, key, build, c_get))

    def _c_move(self, ident: Dataset) -> Callable[[QueueRetrieval, Association], RetrieveOutcome]:
        def c_move(r: QueueRetrieval, assoc: Association) -> RetrieveOutcome:
            msg_id = self._scp.register(r.put)
            try:
                s = self.settings
                return ex.c_move(assoc, ident, s.storage_scp_aet, msg_id, r, s.dimse_timeout_s)
            finally:
                self._scp.unregister(msg_id)

        return c_move

    def _stream(self, produce: Callable[[QueueRetrieval], RetrieveOutcome]) -> QueueRetrieval:
        return QueueRetrieval(
            produce,
            queue_size=self.settings.queue_size,
            consumer_timeout_s=self.settings.consumer_timeout_s,
        )

    def _attempts(
        self,
        r: QueueRetrieval,
        lease: Lease,
        key: Hashable,
        build: ContextBuilder,
        action: Callable[[QueueRetrieval, Association], RetrieveOutcome],
    ) -> RetrieveOutcome:
        """Producer side of a retrieval: owns ``lease``; retries once on a dropped idle one."""
        current: Lease | None = lease
        try:
            while current is not None:
                try:
                    return action(r, current.assoc)
                except ex.Dropped as exc:
                    current.discard = True
                    if not (current.reused and r.received == 0):
                        raise self._unavailable(exc) from None
                    self.pool.release(current)
                    current = None
                    current = self.pool.acquire(key, build)
                    current.reused = False  # one retry only
                except BaseException:
                    current.discard = True
                    raise
            raise AssertionError("unreachable")
        finally:
            if current is not None:
                self.pool.release(current)

    # -- C-STORE ---------------------------------------------------------------------------

    def store(self, datasets: Iterable[Dataset]) -> StoreResult:
        """C-STORE a batch on one association (one more per 127 distinct SOP class and transfer
        syntax pairs). PacsUnavailable/PacsTimeout only when nothing could be stored."""
        results: list[InstanceStatus] = []
        for chunk, pairs in ex.chunks(datasets, results):
            results += self._store_chunk(chunk, pairs)
        return StoreResult(tuple(results))

    def _store_chunk(
        self, chunk: list[Dataset], pairs: list[tuple[str, str]]
    ) -> list[InstanceStatus]:
        """Store one chunk; if the association is lost midway, go on with the rest once on a
        new association (C-STORE is idempotent for a PACS keyed by SOP Instance UID), then
        report what is still missing as failed (0x0110) with the reason."""
        key = ("store", tuple(sorted(pairs)))

        def build() -> tuple[list, list]:
            return store_contexts(pairs), []

        done: list[InstanceStatus] = []
        for attempt in (1, 2):
            rest = chunk[len(done) :]
            part: list[InstanceStatus] = []

            def send(assoc: Association, rest: list = rest, part: list = part) -> None:
                ex.c_store_each(assoc, rest, part, self._msg_id, self.settings.dimse_timeout_s)

            try:
                self._run(key, build, send)
                return done + part
            except (PacsUnavailable, PacsTimeout) as exc:
                done += part
                if not done:
                    raise  # nothing stored at all: the PACS is not there
                if attempt == 2:
                    reason = f"not stored: {exc.message}"
                    missing = chunk[len(done) :]
                    return done + [ex.failed(ds, ex.PROCESSING_FAILURE, reason) for ds in missing]
        raise AssertionError("unreachable")
