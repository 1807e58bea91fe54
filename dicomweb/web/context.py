"""What every DICOMweb request shares: the backend, the caller's scope, errors.

Access (ARCHITECTURE boundary 4, issue text "every QIDO, WADO and STOW request checks that the
study belongs to a patient of the grant"): the caller's grant comes from the FHIR API's
``AccessPolicy`` (the same authenticators); the decision for ``ImagingStudy`` names the HIS
patients the grant covers, and ``PacsScope`` turns them into the DICOM PatientIDs the PACS knows
(MRN or national ID, ``PacsSettings.patient_id_source``), qualified by an Issuer of Patient
ID when the PACS holds several issuers' patients (``PacsSettings.patient_id_issuer``). The
PatientID (and issuer) is imposed on every C-FIND, never taken from the query, and results are
checked again before they leave. A study
of another patient answers exactly like a missing one (404).
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from flask import Blueprint, Response, current_app, g, request
from pydicom.dataset import Dataset
from werkzeug.exceptions import HTTPException

from access import audit
from access.errors import ApiError
from access.policy import AccessPolicy, Grant
from dicomweb.backends.base import PacsBackend, Query
from dicomweb.backends.settings import PacsSettings
from dicomweb.errors import PacsError, RetrievalIncomplete
from fhir_gateway.his.connector import HisConnector, HisUnreachable
from fhir_gateway.logs import error_place

blueprint = Blueprint("dicomweb", __name__)
log = logging.getLogger(__name__)
T = TypeVar("T")


class DicomwebError(Exception):
    """An error a DICOMweb request answers with (PS3.18 §8.6: the HTTP status says it)."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


def not_found(what: str = "study") -> DicomwebError:
    return DicomwebError(404, f"No such {what}")


@dataclass(frozen=True)
class PacsScope:
    """Which PACS data one caller may touch.

    ``patient_ids``: DICOM PatientIDs of the grant's patients, None for every patient (system
    access of the development setting); ``study_uids``: None, or the only studies allowed
    (viewer tokens are bound to one study); ``issuer``: the Issuer of Patient ID those
    PatientIDs belong to, when the PACS qualifies them (None: PatientID alone).
    """

    patient_ids: frozenset[str] | None
    study_uids: frozenset[str] | None = None
    issuer: str | None = None
    #: The HIS patient behind each PatientID (empty for a grant over every patient).
    his_patients: Mapping[str, int] = field(default_factory=dict, compare=False)

    @property
    def empty(self) -> bool:
        return self.patient_ids == frozenset() or self.study_uids == frozenset()

    def impose(self, query: Query) -> dict[str, Any]:
        """``query`` with the caller's PatientIDs (and studies) imposed, whatever it asked."""
        out: dict[str, Any] = dict(query)
        for key in list(out):
            if key in ("PatientID", "00100020", "IssuerOfPatientID", "00100021"):
                del out[key]
        if self.patient_ids is not None:
            out["PatientID"] = sorted(self.patient_ids)
            if self.issuer:
                out["IssuerOfPatientID"] = self.issuer
        else:
            asked = query.get("PatientID", query.get("00100020"))
            out["PatientID"] = asked if asked is not None else ""
        if self.study_uids is not None:
            out["StudyInstanceUID"] = sorted(self.study_uids)
        return out

    def admits(self, ds: Dataset) -> bool:
        """Whether a PACS answer belongs to the caller (checked again on every result)."""
        if self.patient_ids is not None and str(ds.get("PatientID", "")) not in self.patient_ids:
            return False
        if self.issuer and str(ds.get("IssuerOfPatientID", "") or "") != self.issuer:
            return False
        if self.study_uids is not None:
            return str(ds.get("StudyInstanceUID", "")) in self.study_uids
        return True

    def admits_study(self, study_uid: str) -> bool:
        return self.study_uids is None or study_uid in self.study_uids


@dataclass
class DicomwebContext:
    """The DICOMweb service's collaborators, built once by ``create_app``."""

    backend: PacsBackend
    pacs: PacsSettings
    policy: AccessPolicy
    his: HisConnector
    base_url: str  # absolute DICOMweb base as clients see it, e.g. http://host/dicomweb
    extras: dict[str, Any] = field(default_factory=dict)  # cache, viewer token signer, ...

    def grant(self) -> Grant:
        """The caller's grant from the one access policy. A viewer sends its token in the
        query string of its own URL as well as in ``Authorization``; the policy takes it from
        there only for validators whose tokens may travel that way (viewer tokens)."""
        return self.policy.grant_for(request.headers, request.args.get("token"))

    def scope(self, grant: Grant, interaction: str = "search") -> PacsScope:
        """The PACS scope of ``grant`` for an ImagingStudy interaction (403 if none): the
        DICOM PatientIDs of the patients the decision names, and its studies."""
        decision = self.policy.decide(grant, "ImagingStudy", interaction)
        if decision.filters is not None:
            # query-filtered ImagingStudy scopes (``?modality=CT``, a Consent listing studies)
            # cannot be imposed on a C-FIND: ignoring them would widen the grant
            raise self.policy.forbidden(
                "Filtered access to ImagingStudy cannot be applied to DICOMweb"
            )
        issuer = self.pacs.patient_id_issuer or None
        if decision.patients is None:
            return PacsScope(None, decision.studies, issuer=issuer)
        ids: dict[str, int] = {}
        for pid in sorted(decision.patients):
            value = self.dicom_patient_id(pid)
            if value:
                ids.setdefault(value, pid)
        return PacsScope(frozenset(ids), decision.studies, issuer=issuer, his_patients=ids)

    def dicom_patient_id(self, his_patient: int) -> str | None:
        """The PatientID the PACS knows a HIS patient by (MRN or national ID)."""
        record = self.his.read("Patient", "patient", his_patient, None)
        if record is None:
            return None
        value = (
            record.get("national_id")
            if self.pacs.patient_id_source == "national_id"
            else record.get("mrn")
        )
        return str(value) if value else None

    def request_scope(self, interaction: str = "search") -> tuple[Grant, PacsScope]:
        """The current request's grant and its PACS scope for ``interaction``."""
        grant = self.grant()
        return grant, self.scope(grant, interaction)

    def study(self, scope: PacsScope, study_uid: str) -> Dataset:
        """The study's C-FIND answer if the caller may see it; 404 otherwise (same as missing)."""
        if scope.empty or not scope.admits_study(study_uid):
            raise not_found()
        found = self.backend.find_studies(
            scope.impose({"StudyInstanceUID": study_uid, "SOPClassesInStudy": ""}), limit=2
        )
        found = [ds for ds in found if scope.admits(ds)]
        if not found:
            raise not_found()
        return found[0]


def context() -> DicomwebContext:
    return current_app.extensions["dicomweb"]  # type: ignore[no-any-return]


def error_response(status: int, message: str, headers: Mapping[str, str] | None = None) -> Response:
    """An error body in the DICOM JSON model: Error Comment (0000,0902), PS3.7 §C.1."""
    import orjson

    body = orjson.dumps([{"00000902": {"vr": "LO", "Value": [message[:64]]}}])
    return Response(body, status=status, mimetype="application/dicom+json", headers=headers)


@blueprint.errorhandler(DicomwebError)
def _dicomweb_error(exc: DicomwebError) -> Response:
    return error_response(exc.status, exc.message, exc.headers)


#: what a caller is told of a PACS failure: never the PACS's address, AE titles or status
#: details (PS3.18 §8.6 needs the status, not the cause); the log gets the class and status
PACS_ERROR_COMMENTS = {
    502: "The PACS could not process the request",
    503: "The PACS is not available; try again later",
    504: "The PACS did not answer in time; try again later",
}
INCOMPLETE_COMMENT = "The PACS could not send every instance asked for"


def admitted(grant: Grant, action: str, study: str) -> None:
    """Note that this request was allowed ``action`` on ``study`` (and audited so): should
    carrying it out fail, :func:`unfinished` adds how it ended to the audit trail."""
    g.dicomweb_admitted = (grant, action, study, audit.current())


def unfinished(outcome: audit.Outcome) -> None:
    """Audit an allowed retrieval that failed before its first byte (``failed``) or broke off
    after it (``partial``); once per request, nothing for a request not :func:`admitted`."""
    noted = g.pop("dicomweb_admitted", None)
    if noted is None:
        return
    grant, action, study, sink = noted
    # a body streamed after the view returned runs where the request's own ledger is gone:
    # unset, or another request's (a worker thread that moved on, a test client's caller).
    # The record goes to the sink the retrieval was admitted under, never to whichever
    # happens to be current, or the cut would be written to another app's trail or nowhere
    token = audit.use(sink) if audit.current() is not sink else None
    try:
        audit.record(grant, action, "ImagingStudy", outcome=outcome, ids=[study])
    finally:
        if token is not None:
            audit.reset(token)


@blueprint.errorhandler(PacsError)
def _pacs_error(exc: PacsError) -> Response:
    status = exc.http_status
    # the class and DIMSE status tell operators what happened; the message is not logged, as
    # it names the PACS's address and AE titles (the configuration holds those)
    dimse = getattr(exc, "status", None)
    log.warning(
        "PACS error",
        extra={"error": type(exc).__name__, "http_status": status}
        | ({"dimse_status": f"0x{dimse:04X}"} if isinstance(dimse, int) else {}),
    )
    headers = {"Retry-After": "5"} if status in (503, 504) else None
    comment = PACS_ERROR_COMMENTS.get(status, PACS_ERROR_COMMENTS[502])
    if isinstance(exc, RetrievalIncomplete):
        comment = INCOMPLETE_COMMENT
    unfinished("failed")
    return error_response(status, comment, headers)


class StreamAborted(ConnectionResetError):
    """Raised by a streamed body that cannot finish once its status line is sent: the WSGI
    server drops the connection before the chunked body's last chunk, so the client sees an
    incomplete response (gunicorn takes a connection reset for the client's doing and logs no
    stack trace; the gateway has logged the cause itself)."""

    def __init__(self) -> None:
        super().__init__(errno.ECONNRESET, "the response stream was aborted")


def guarded(chunks: Iterator[T], what: str) -> Iterator[T]:
    """``chunks`` of a streamed response; a failure mid-way is logged (its class and place,
    no data) and ends the stream with :class:`StreamAborted`."""
    sent = 0
    try:
        for chunk in chunks:
            sent += 1
            yield chunk
    except Exception as exc:
        log.warning(f"{what} broke off mid-way", extra={"error": error_place(exc), "chunks": sent})
        unfinished("partial")
        raise StreamAborted() from None
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()


#: what a caller is told when the HIS (asked for the DICOM PatientIDs of a grant) is down
HIS_UNAVAILABLE = "The hospital record system is not available; try again later"


@blueprint.errorhandler(HisUnreachable)
def _his_unreachable(_exc: HisUnreachable) -> Response:
    """The HIS did not answer (a patient's DICOM PatientID comes from it): 503 with
    Retry-After, as the FHIR API answers the same failure, never a 500."""
    log.warning("HIS unavailable for a DICOMweb request")
    return error_response(503, HIS_UNAVAILABLE, {"Retry-After": "5"})


@blueprint.errorhandler(Exception)
def _unexpected(exc: Exception) -> Response | HTTPException:
    """Any other failure of a DICOMweb request: a generic 500 in DICOMweb's format; where it
    happened goes to the log (no data, no stack trace)."""
    if isinstance(exc, HTTPException):
        return exc
    log.error("unexpected DICOMweb error", extra={"error": error_place(exc)})
    return error_response(500, "The server failed to answer")


@blueprint.errorhandler(ApiError)
def _access_error(exc: ApiError) -> Response:
    """401/403 from the access policy, in DICOMweb's format, headers kept (WWW-Authenticate)."""
    return error_response(exc.status, exc.diagnostics, exc.headers)
