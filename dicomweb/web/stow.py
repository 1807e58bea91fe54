"""STOW-RS routes (PS3.18 §10.5): ``POST /dicomweb/studies`` and ``/studies/{study}``.

Thin: the body, the identity check and the response are :mod:`dicomweb.stow`. The uploader is
the caller's PACS scope: a patient grant naming exactly one PatientID stores only into it
(mismatching instances are refused, never rewritten, see :mod:`dicomweb.stow`); development
open access stores instances as they are; a grant covering several patients, or none, is 403,
and so is a partner's system-level grant, whatever its scopes (sharing is for reading).
"""

from __future__ import annotations

import io
from collections.abc import Callable

import orjson
from flask import Response, current_app, request
from pydicom import dcmread
from pydicom.dataset import Dataset

from access import audit
from access.errors import ApiError
from access.policy import Grant
from dicomweb import json_model, stow
from dicomweb.backends.base import StoreResult

from .context import DicomwebContext, DicomwebError, PacsScope, blueprint, context
from .wado import instance_cache

DEFAULT_MAX_BYTES = 512 * 1024 * 1024


def _max_bytes() -> int:
    settings = current_app.config.get("SETTINGS")
    return int(getattr(settings, "stow_max_bytes", DEFAULT_MAX_BYTES))


#: ``study_owner``'s answer for a study the PACS holds for somebody other than the uploader
ANOTHER_PATIENT = "\\another patient"  # a backslash: never a PatientID (VR LO)


def _study_owner(
    ctx: DicomwebContext, scope: PacsScope, uploader: str
) -> Callable[[str], str | None]:
    """Who the PACS holds a study under: the uploader, somebody else, or nobody (None).
    Whether a study is the uploader's is the scope's own test (PatientID and, where
    PatientIDs are issuer-qualified, the issuer)."""

    def owner(study_uid: str) -> str | None:
        keys = {"StudyInstanceUID": study_uid, "PatientID": "", "IssuerOfPatientID": ""}
        found = ctx.backend.find_studies(keys)
        if not found:
            return None
        return uploader if all(scope.admits(ds) for ds in found) else ANOTHER_PATIENT

    return owner


def _invalidate(ctx: DicomwebContext, sent: list[Dataset]) -> None:
    """Drop what the instance cache holds of the studies just stored into (every one sent,
    stored or not: a store that failed part-way may still have changed the PACS), so that a
    cached study, series or its metadata is retrieved again and shows the new instances."""
    cache = instance_cache(ctx)
    if cache is None:
        return
    sops: dict[str, list[str]] = {}
    for ds in sent:
        sops.setdefault(str(ds.StudyInstanceUID), []).append(str(ds.SOPInstanceUID))
    for study_uid, uids in sops.items():
        cache.invalidate(study_uid, uids)


@blueprint.post("/studies")
@blueprint.post("/studies/<study>")
def store_instances(study: str | None = None) -> Response:
    """Store Instances (PS3.18 §10.5.1); the Store Instances Response (§10.5.3)."""
    ctx = context()
    grant = ctx.grant()
    try:
        if "system" in grant.levels:
            # A partner reads what patients shared with it; it never files images into their
            # records, whatever scopes its token carries.
            raise ctx.policy.forbidden("A partner's access does not cover create of ImagingStudy")
        scope = ctx.scope(grant, "create")
    except ApiError:
        audit.record(grant, "create", "ImagingStudy", outcome="denied")
        raise
    # Allowed from here: whatever happens next (the client goes away, the PACS association
    # breaks part-way, a refusal below), the decision and the studies it may have touched are
    # recorded before the exception leaves.
    touched: list[str] = []
    intents: list[audit.Intent | None] = []
    try:
        status, body, studies, stored = _store(ctx, grant, scope, study, touched, intents)
    except BaseException as exc:
        refused = isinstance(exc, DicomwebError) and exc.status == 403
        audit.record(
            grant,
            "create",
            "ImagingStudy",
            outcome="denied" if refused else "failed",
            ids=sorted(set(touched)),
            count=0,
            intent=intents[0] if intents else None,
        )
        raise
    audit.record(
        grant,
        "create",
        "ImagingStudy",
        outcome="allowed" if status == 200 else "partial" if status == 202 else "failed",
        ids=studies,
        count=stored,
        intent=intents[0] if intents else None,
    )
    return Response(orjson.dumps(json_model.dataset_json(body)), status=status, mimetype=stow.JSON)


def _store(
    ctx: DicomwebContext,
    grant: Grant,
    scope: PacsScope,
    study: str | None,
    touched: list[str],
    intents: list[audit.Intent | None],
) -> tuple[int, Dataset, list[str], int]:
    """Read the upload and store what it may; ``touched`` gets the studies about to be stored
    into before the PACS is asked (what an audit record of a failure names), and ``intents``
    the announcement of the store (``access.audit.intend``): journalled before the PACS is
    asked, so that a worker killed while the PACS stores leaves a record of outcome
    ``unknown`` naming those studies, which the final record replaces otherwise."""
    patient_id: str | None = None
    if scope.patient_ids is not None:
        if len(scope.patient_ids) != 1:
            raise DicomwebError(403, "STOW-RS needs a grant for exactly one patient")
        (patient_id,) = scope.patient_ids
    limit = _max_bytes()
    if (request.content_length or 0) > limit:
        raise DicomwebError(413, "request body larger than the STOW-RS limit")
    try:
        boundary = stow.boundary_of(request.headers.get("Content-Type"))
        parts = stow.iter_parts(request.stream, boundary, limit)
        owner = _study_owner(ctx, scope, patient_id) if patient_id is not None else lambda uid: None
        upload = stow.read_upload(
            parts,
            study_uid=study,
            patient_id=patient_id,
            study_owner=owner,
            issuer=scope.issuer,
        )
    except stow.StowError as exc:
        raise DicomwebError(exc.status, exc.message) from None
    if not upload.accepted and not upload.refused:
        raise DicomwebError(400, "no instances in the request")
    touched.extend(str(ds.StudyInstanceUID) for ds in upload.accepted)
    if upload.accepted:
        intents.append(audit.intend(grant, "create", "ImagingStudy", ids=sorted(set(touched))))
    result = ctx.backend.store(upload.accepted) if upload.accepted else StoreResult(())
    status, body = stow.response_dataset(
        result,
        upload.refused,
        stow.locations(upload.accepted),
        lambda uid: f"{ctx.base_url}/studies/{uid}",
    )
    studies = sorted({str(ds.StudyInstanceUID) for ds in upload.accepted})
    _invalidate(ctx, upload.accepted)
    return status, body, studies, len(result.stored) + len(result.warnings)


class UploadNotStored(Exception):
    """A patient's uploaded DICOM file the PACS did not take; ``reason`` says why (no patient
    data), ``transient`` whether trying again later may succeed."""

    def __init__(self, reason: str, *, transient: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.transient = transient


def store_upload(ctx: DicomwebContext, his_patient: int, body: bytes) -> str:
    """Store one DICOM Part-10 file a patient uploaded (F17) into their own PatientID; the
    Study Instance UID it was stored under.

    A file a patient brings from another hospital names that hospital's PatientID: it is filed
    under the uploader's own (``filed_under``), the one it carried kept in Other Patient IDs.
    Then the checks of STOW-RS apply (``stow.read_upload``): a study already held for another
    patient is refused, never merged."""
    patient_id = ctx.dicom_patient_id(his_patient)
    if not patient_id:
        raise UploadNotStored("the patient has no PatientID the PACS knows them by")
    scope = PacsScope(
        frozenset({patient_id}),
        issuer=ctx.pacs.patient_id_issuer or None,
        his_patients={patient_id: his_patient},
    )
    body = filed_under(body, patient_id, scope.issuer)
    try:
        upload = stow.read_upload(
            iter([(stow.DICOM, body)]),
            study_uid=None,
            patient_id=patient_id,
            study_owner=_study_owner(ctx, scope, patient_id),
            issuer=scope.issuer,
        )
    except Exception:
        raise UploadNotStored(
            "the PACS could not be asked about the study", transient=True
        ) from None
    if upload.refused:
        raise UploadNotStored(f"the DICOM file is refused: {upload.refused[0].reason}")
    try:
        result = ctx.backend.store(upload.accepted)
    except Exception:
        raise UploadNotStored("the PACS did not answer", transient=True) from None
    finally:
        _invalidate(ctx, upload.accepted)
    if not result.stored and not result.warnings:
        raise UploadNotStored("the PACS refused the DICOM file")
    return str(upload.accepted[0].StudyInstanceUID)


def filed_under(body: bytes, patient_id: str, issuer: str | None) -> bytes:
    """The Part-10 file ``body`` with the uploader's PatientID (and the configured issuer): a
    PatientID it named otherwise moves to Other Patient IDs Sequence (PS3.3 C.7.1.1, with its
    issuer when it had one), so the source hospital's identifier is not lost. A file that
    already names the uploader, or that cannot be read (STOW-RS's checks then say why), is
    returned as it is."""
    try:
        ds = dcmread(io.BytesIO(body))
    except Exception:
        return body
    theirs = str(ds.get("PatientID", "") or "")
    their_issuer = str(ds.get("IssuerOfPatientID", "") or "")
    if theirs == patient_id and their_issuer in ("", issuer or ""):
        return body
    if theirs:
        other = Dataset()
        other.PatientID = theirs
        if their_issuer:
            other.IssuerOfPatientID = their_issuer
        other.TypeOfPatientID = "TEXT"
        ds.OtherPatientIDsSequence = [*ds.get("OtherPatientIDsSequence", []), other]
    ds.PatientID = patient_id
    if issuer:
        ds.IssuerOfPatientID = issuer
    elif "IssuerOfPatientID" in ds:
        del ds.IssuerOfPatientID
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=False)
    return out.getvalue()
