"""STOW-RS without a web framework: the request body, the uploader's identity, the response.

* The body (PS3.18 §10.5.1.2, §8.6.1.2): ``multipart/related; type="application/dicom"``, each
  part one DICOM Part-10 instance (PS3.10 §7). Read in chunks from a file-like stream, never
  more than ``max_bytes`` in total (413 beyond), one part in memory at a time.
* The identity (issue text F17, "accepted only into the uploader's own identity"): a patient
  grant names exactly one PatientID. **Mismatching patient tags are refused, never rewritten**:
  an instance whose PatientID (0010,0020) is not the uploader's fails with FailureReason 0xC000
  and is not stored. Rewriting would silently relabel images that may belong to somebody else
  into the uploader's record, a clinical-safety risk the gateway cannot judge; refusing tells the
  uploader exactly which instances to fix. An instance naming a study that the PACS already holds
  for another patient is refused the same way (it would graft images onto their study). A
  StudyInstanceUID in the request URL that the instance does not carry fails that instance with
  0xC409 (PS3.18 §10.5.3, "Study Instance UID mismatch"). Development open access (no patient
  scope) stores instances as they are.
* The response (PS3.18 §10.5.3, Table 10.5.3-1 Store Instances Response Module): Retrieve URL
  (0008,1190), Referenced SOP Sequence (0008,1199) with Warning Reason (0008,1196) where the PACS
  warned, Failed SOP Sequence (0008,1198) with Failure Reason (0008,1197); status 200 all stored,
  202 some stored or with warnings, 409 none stored, 400 nothing readable, 415 wrong media type.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import Message
from typing import Protocol

from pydicom import dcmread
from pydicom.dataset import Dataset

from dicomweb.backends.base import InstanceStatus, StoreResult

CHUNK = 64 * 1024
CANNOT_UNDERSTAND = 0xC000  # PS3.4 §B.2.3 Error: Cannot understand
STUDY_UID_MISMATCH = 0xC409  # PS3.18 §10.5.3: Study Instance UID mismatch
DICOM = "application/dicom"
JSON = "application/dicom+json"


class Readable(Protocol):
    """A byte stream read in chunks (a WSGI input, a urllib3 response)."""

    def read(self, n: int = -1, /) -> bytes: ...


class StowError(Exception):
    """A STOW-RS request refused as a whole; ``status`` is its HTTP status (PS3.18 §10.5.3)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _params(header: str) -> tuple[str, dict[str, str]]:
    msg = Message()
    msg["content-type"] = header
    params = {k.lower(): v for k, v in msg.get_params(failobj=[])[1:]}  # type: ignore[misc]
    return msg.get_content_type(), params


def boundary_of(content_type: str | None) -> str:
    """The boundary of a STOW-RS body; 415 unless multipart/related of application/dicom."""
    if not content_type:
        raise StowError(415, "Content-Type must be multipart/related; type=application/dicom")
    media, params = _params(content_type)
    if media != "multipart/related":
        raise StowError(415, "Content-Type must be multipart/related; type=application/dicom")
    if params.get("type", DICOM).strip().lower() != DICOM:
        raise StowError(415, "only type=application/dicom parts are accepted")
    boundary = params.get("boundary", "")
    if not boundary or len(boundary) > 70:
        raise StowError(400, "multipart boundary missing or invalid (RFC 2046 §5.1.1)")
    return boundary


class _Reader:
    """A byte buffer filled from ``stream`` on demand, never more than ``limit`` in total."""

    def __init__(self, stream: Readable, limit: int) -> None:
        self.stream, self.limit, self.total = stream, limit, 0
        self.buf = bytearray()
        self.eof = False

    def more(self) -> bool:
        if self.eof:
            return False
        data = self.stream.read(CHUNK)
        if not data:
            self.eof = True
            return False
        self.total += len(data)
        if self.total > self.limit:
            raise StowError(413, "request body larger than the STOW-RS limit")
        self.buf += data
        return True

    def find(self, needle: bytes) -> int:
        start = 0
        while (at := self.buf.find(needle, start)) < 0:
            start = max(0, len(self.buf) - len(needle) + 1)
            if not self.more():
                return -1
        return at

    def need(self, n: int) -> bool:
        while len(self.buf) < n:
            if not self.more():
                return False
        return True


def iter_parts(stream: Readable, boundary: str, max_bytes: int) -> Iterator[tuple[str, bytes]]:
    """(Content-Type, body) of each part of a multipart body (RFC 2046 §5.1.1, RFC 2387)."""
    delim = b"--" + boundary.encode("latin-1")
    reader = _Reader(stream, max_bytes)
    at = reader.find(delim)
    if at < 0:
        raise StowError(400, "multipart body without its boundary")
    del reader.buf[: at + len(delim)]
    sep = b"\r\n" + delim
    while True:
        if not reader.need(2):
            raise StowError(400, "truncated multipart body")
        if reader.buf[:2] == b"--":
            return
        line_end = reader.find(b"\r\n")  # transport padding may follow a delimiter
        if line_end < 0 or reader.buf[:line_end].strip(b" \t"):
            raise StowError(400, "malformed multipart delimiter line")
        del reader.buf[: line_end + 2]
        end = reader.find(sep)
        if end < 0:
            raise StowError(400, "truncated multipart body")
        part = bytes(reader.buf[:end])
        del reader.buf[: end + len(sep)]
        yield _split_part(part)


def _split_part(part: bytes) -> tuple[str, bytes]:
    if part.startswith(b"\r\n"):
        return DICOM, part[2:]  # no headers: the type= parameter applies
    head, sep, body = part.partition(b"\r\n\r\n")
    if not sep:
        raise StowError(400, "multipart part without a header/body separator")
    content_type = DICOM
    for line in head.decode("latin-1").split("\r\n"):
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-type":
            content_type = _params(value.strip())[0]
    return content_type, body


@dataclass
class Upload:
    """The instances of one STOW-RS request, sorted into accepted and refused."""

    accepted: list[Dataset] = field(default_factory=list)
    refused: list[InstanceStatus] = field(default_factory=list)
    unreadable: int = 0


def _status(ds: Dataset, status: int, reason: str) -> InstanceStatus:
    return InstanceStatus(
        str(ds.get("SOPClassUID", "")), str(ds.get("SOPInstanceUID", "")), status, reason
    )


def read_upload(
    parts: Iterator[tuple[str, bytes]],
    *,
    study_uid: str | None,
    patient_id: str | None,
    study_owner: Callable[[str], str | None],
    issuer: str | None = None,
) -> Upload:
    """Parse and check every part. ``patient_id``: the uploader's PatientID (None: open access);
    ``issuer``: the Issuer of Patient ID it must carry too, when the PACS qualifies PatientIDs;
    ``study_owner(uid)``: the uploader's PatientID when the PACS holds the study for them, None when
    it holds no such study, anything else when it holds it for somebody else."""
    upload = Upload()
    owners: dict[str, str | None] = {}
    for content_type, body in parts:
        if content_type != DICOM:
            raise StowError(415, "only application/dicom parts are accepted")
        try:
            ds = _parsed(body)
        except Exception:  # a malformed part fails alone, never the whole request
            upload.unreadable += 1
            upload.refused.append(InstanceStatus("", "", CANNOT_UNDERSTAND, "not DICOM Part-10"))
            continue
        problem = _check(ds, study_uid, patient_id, study_owner, owners, issuer)
        if problem is not None:
            upload.refused.append(_status(ds, *problem))
        else:
            upload.accepted.append(ds)
    return upload


def _parsed(body: bytes) -> Dataset:
    """A Part-10 body read whole: every element, nested ones too, converted now, so that a
    malformed value (a sequence without its delimiter, an item running past the end) fails
    here, as this part's 0xC000, and not later while the instance is sent to the PACS.
    Sequences and items of undefined length (PS3.5 §7.5.1, §7.5.2) are valid and kept."""
    ds = dcmread(io.BytesIO(body))
    for _elem in ds.iterall():
        pass
    return ds


def _check(
    ds: Dataset,
    study_uid: str | None,
    patient_id: str | None,
    study_owner: Callable[[str], str | None],
    owners: dict[str, str | None],
    issuer: str | None = None,
) -> tuple[int, str] | None:
    if not all(k in ds for k in ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID")):
        return CANNOT_UNDERSTAND, "SOP Class, SOP Instance or Study Instance UID missing"
    uid = str(ds.StudyInstanceUID)
    if study_uid is not None and uid != study_uid:
        return STUDY_UID_MISMATCH, "Study Instance UID does not match the request"
    if patient_id is None:
        return None
    if str(ds.get("PatientID", "")) != patient_id:
        return CANNOT_UNDERSTAND, "PatientID is not the uploader's: refused, not rewritten"
    if issuer and str(ds.get("IssuerOfPatientID", "") or "") != issuer:
        return CANNOT_UNDERSTAND, "Issuer of Patient ID is not the uploader's: refused"
    if uid not in owners:
        owners[uid] = study_owner(uid)
    if owners[uid] not in (None, patient_id):
        return CANNOT_UNDERSTAND, "the study belongs to another patient"
    return None


def locations(datasets: list[Dataset]) -> dict[str, tuple[str, str]]:
    """SOP Instance UID -> (Study, Series Instance UID) of the accepted instances."""
    return {
        str(ds.SOPInstanceUID): (str(ds.StudyInstanceUID), str(ds.get("SeriesInstanceUID", "")))
        for ds in datasets
    }


def response_dataset(
    result: StoreResult,
    refused: list[InstanceStatus],
    where: dict[str, tuple[str, str]],
    study_url: Callable[[str], str],
) -> tuple[int, Dataset]:
    """The HTTP status and Store Instances Response (PS3.18 §10.5.3, Table 10.5.3-1).

    ``where``: see :func:`locations`; ``study_url(study_uid)`` is the WADO-RS URL of a study,
    instance URLs extend it.
    """
    failed = [*refused, *result.failures]
    ok = [*result.stored, *result.warnings]
    resp = Dataset()
    studies = {where[i.sop_instance_uid][0] for i in ok if i.sop_instance_uid in where}
    if len(studies) == 1:
        resp.RetrieveURL = study_url(next(iter(studies)))
    if failed:
        resp.FailedSOPSequence = [_failed(i) for i in failed]
    if ok:
        resp.ReferencedSOPSequence = [_referenced(i, where, study_url) for i in ok]
    if not ok:
        unreadable_only = all(not i.sop_instance_uid for i in failed)
        return (400 if unreadable_only else 409), resp
    return (200 if not failed and not result.warnings else 202), resp


def _referenced(
    i: InstanceStatus, where: dict[str, tuple[str, str]], study_url: Callable[[str], str]
) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = i.sop_class_uid
    item.ReferencedSOPInstanceUID = i.sop_instance_uid
    study, series = where.get(i.sop_instance_uid, ("", ""))
    if study and series:
        item.RetrieveURL = f"{study_url(study)}/series/{series}/instances/{i.sop_instance_uid}"
    if i.category == "Warning":
        item.WarningReason = i.status
    return item


def _failed(i: InstanceStatus) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = i.sop_class_uid
    item.ReferencedSOPInstanceUID = i.sop_instance_uid
    item.FailureReason = i.status
    return item
