"""The PACS backend interface and the outcomes it returns as data.

A backend answers the three things a DICOMweb proxy asks of a PACS (PS3.18 §10):

* search (QIDO-RS, §10.6) as C-FIND at STUDY, SERIES and IMAGE level of the Study Root
  Query/Retrieve Information Model (PS3.4 §C.6.2);
* retrieve (WADO-RS, §10.4) as C-GET or C-MOVE (PS3.4 §C.4.2, §C.4.3);
* store (STOW-RS, §10.5) as C-STORE (PS3.4 Annex B).

Retrievals yield **one encoded DICOM Part-10 instance per item** (PS3.10 §7: preamble, ``DICM``,
File Meta Information whose Transfer Syntax UID is the syntax the PACS sent, then the dataset),
exactly the bytes of an ``application/dicom`` part (PS3.18 §8.7.3.1): self-describing, ready to
stream or to cache, and parsed only by whoever needs frames or metadata.

Peer outcomes are data: a store reports each instance's status, a retrieval reports its final
status and sub-operation counts. Failures to reach the PACS raise
:class:`~dicomweb.errors.PacsUnavailable` or :class:`~dicomweb.errors.PacsTimeout`; a C-FIND
that ends in Failure raises :class:`~dicomweb.errors.PacsStatusError` carrying the status,
because its partial results cannot be trusted.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from pydicom.dataset import Dataset

QueryValue = str | list[str]
Query = Mapping[str, QueryValue]

SUCCESS = 0x0000
CANCEL = 0xFE00


def status_category(status: int) -> str:
    """Success, Warning, Failure, Cancel or Pending for a DIMSE status (PS3.7 Annex C)."""
    if status == SUCCESS:
        return "Success"
    if status in (0xFF00, 0xFF01):
        return "Pending"
    if status == CANCEL:
        return "Cancel"
    if status in (0x0001, 0x0107, 0x0116) or 0xB000 <= status <= 0xBFFF:
        return "Warning"
    return "Failure"


@dataclass(frozen=True)
class InstanceStatus:
    """The C-STORE outcome of one instance (PS3.4 §B.2.3 status codes)."""

    sop_class_uid: str
    sop_instance_uid: str
    status: int
    reason: str = ""

    @property
    def category(self) -> str:
        return status_category(self.status)


@dataclass(frozen=True)
class StoreResult:
    """Outcome of storing a batch: what STOW-RS turns into its response (PS3.18 §10.5.3)."""

    instances: tuple[InstanceStatus, ...]

    @property
    def stored(self) -> tuple[InstanceStatus, ...]:
        return tuple(i for i in self.instances if i.category == "Success")

    @property
    def warnings(self) -> tuple[InstanceStatus, ...]:
        return tuple(i for i in self.instances if i.category == "Warning")

    @property
    def failures(self) -> tuple[InstanceStatus, ...]:
        return tuple(i for i in self.instances if i.category not in ("Success", "Warning"))

    @property
    def ok(self) -> bool:
        """True when every instance was stored without warning."""
        return all(i.status == SUCCESS for i in self.instances)


@dataclass(frozen=True)
class RetrieveOutcome:
    """Final status of a C-GET or C-MOVE and its sub-operation counts (PS3.4 §C.4.2.1.3).

    ``status`` is ``None`` when the retrieval was abandoned before the PACS's final response
    (the consumer stopped early); ``received`` counts the instances that reached the gateway.
    """

    status: int | None
    completed: int = 0
    failed: int = 0
    warning: int = 0
    received: int = 0
    failed_sop_instance_uids: tuple[str, ...] = ()

    @property
    def category(self) -> str:
        return "Cancel" if self.status is None else status_category(self.status)

    @property
    def incomplete(self) -> bool:
        """The PACS ended the retrieval without sending everything it matched: a sub-operation
        failed (0xB000 with failures, 0xA702 when all did, PS3.4 §C.4.3.1.3.1), or the request
        itself failed or was cancelled at the PACS. Warnings alone (an instance sent, with a
        coercion) are complete. ``False`` for a retrieval abandoned here (``status`` None)."""
        if self.status is None:
            return False
        return self.failed > 0 or status_category(self.status) in ("Failure", "Cancel")


@runtime_checkable
class Retrieval(Protocol):
    """An iterator of Part-10 instances that tells, once exhausted, how the retrieval ended."""

    def __iter__(self) -> Iterator[bytes]: ...

    def __next__(self) -> bytes: ...

    @property
    def outcome(self) -> RetrieveOutcome | None:
        """``None`` until the last instance has been taken (or the retrieval closed)."""
        ...

    def close(self) -> None:
        """Stop early: cancel the retrieval at the PACS and free its association."""
        ...


@runtime_checkable
class PacsBackend(Protocol):
    """What the DICOMweb layer needs from a PACS. Implementations: DIMSE (pynetdicom).

    Query dictionaries map DICOM keywords to matching values (PS3.4 §C.2.2.2): ``""`` asks for a
    return key only, ``"*"``/``"?"`` wildcards, ``"20240101-20240131"`` date ranges, a list or a
    backslash-separated string for a list of UIDs or of values (any of them matches). Keys are
    keywords or 8-digit hex tags; an unknown one raises ``ValueError`` (the caller's 400).
    """

    def echo(self) -> int:
        """C-ECHO (PS3.4 Annex A); returns the status, 0x0000 when the PACS is alive."""
        ...

    def find_studies(
        self, query: Query, *, limit: int | None = None, offset: int = 0
    ) -> list[Dataset]:
        """Matching studies, sorted newest first then by UID, sliced by ``offset``/``limit``."""
        ...

    def find_series(
        self, study_uid: str, query: Query, *, limit: int | None = None, offset: int = 0
    ) -> list[Dataset]:
        """Matching series of one study, by Series Number then UID."""
        ...

    def find_instances(
        self,
        study_uid: str,
        series_uid: str | None,
        query: Query,
        *,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[Dataset]:
        """Matching instances of a study or of one of its series, by Instance Number then UID
        (a study's: series by series where the backend reads them so, as DIMSE does)."""
        ...

    def retrieve_study(self, study_uid: str) -> Retrieval:
        """Every instance of the study, streamed as Part-10 bytes."""
        ...

    def retrieve_series(self, study_uid: str, series_uid: str) -> Retrieval:
        """Every instance of one series, streamed as Part-10 bytes."""
        ...

    def retrieve_instance(
        self, study_uid: str, series_uid: str, sop_instance_uid: str
    ) -> Retrieval:
        """One instance (an empty retrieval if the PACS does not hold it)."""
        ...

    def store(self, datasets: Iterable[Dataset]) -> StoreResult:
        """C-STORE every dataset on one association (more when >127 presentation contexts)."""
        ...

    def close(self) -> None:
        """Release pooled associations and stop the storage SCP."""
        ...
