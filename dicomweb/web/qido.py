"""QIDO-RS routes (PS3.18 §10.6): search for studies, series and instances.

Thin: parameters are :mod:`dicomweb.web.params`, the JSON is :mod:`dicomweb.json_model`, C-FIND
is the backend. Access (PS3.18 §10.6 says nothing of it; the gateway's rule): the caller's
PatientIDs are imposed on every C-FIND (``PacsScope.impose``), a PatientID in the query can only
narrow them, results are checked again (``PacsScope.admits``), and a study of another patient
under ``/studies/{uid}/...`` answers 404 exactly like a missing one. Every search is audited.

Resources (PS3.18 Table 10.6.1-1): ``/studies``, ``/studies/{study}/series``,
``/studies/{study}/series/{series}/instances``, ``/studies/{study}/instances``, ``/series``,
``/instances``. Responses are ``application/dicom+json`` (or ``application/json`` when only that
is acceptable, §8.7.3.4); an empty result is 200 ``[]`` (§10.6.3.2, current editions).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from flask import Response, request
from pydicom.datadict import dictionary_VR
from pydicom.dataset import Dataset
from werkzeug.datastructures import MIMEAccept
from werkzeug.http import parse_accept_header

from access import audit
from access.errors import ApiError
from access.policy import Grant
from dicomweb import json_model
from dicomweb.backends.matching import matches
from dicomweb.backends.query import SERIES_KEYS, STUDY_KEYS, page

from . import params
from .context import DicomwebContext, DicomwebError, PacsScope, blueprint, context, not_found

JSON_TYPES = (json_model.MEDIA_TYPE, "application/json")

#: ``includefield=all``: C-FIND cannot ask for "every attribute", so a fixed set per level
ALL_KEYS = {
    "STUDY": (
        "PatientAge",
        "PatientSize",
        "PatientWeight",
        "InstitutionName",
        "NameOfPhysiciansReadingStudy",
        "IssuerOfPatientID",
        "OtherPatientIDs",
        "AdmittingDiagnosesDescription",
    ),
    "SERIES": (
        "PerformedProcedureStepStartDate",
        "PerformedProcedureStepStartTime",
        "ProtocolName",
        "Laterality",
        "OperatorsName",
        "PerformingPhysicianName",
        "Manufacturer",
        "StationName",
    ),
    "IMAGE": (
        "ImageType",
        "AcquisitionDate",
        "AcquisitionTime",
        "ContentDate",
        "ContentTime",
        "BitsAllocated",
        "PhotometricInterpretation",
        "ImagePositionPatient",
        "ImageOrientationPatient",
        "SliceLocation",
        "SliceThickness",
        "WindowCenter",
        "WindowWidth",
    ),
}


#: return keys always asked beyond the backend's own (PS3.18 Table 6.7.1-2b; viewers use them;
#: the series attributes spare a series C-FIND when the PACS returns them at image level)
DEFAULT_KEYS = {
    "STUDY": (),
    "SERIES": (),
    "IMAGE": ("BitsAllocated", "Modality", "SeriesNumber", "SeriesDescription"),
}
#: study attributes copied onto series and instance results (Orthanc does the same; PS3.18
#: §10.6.3.3 lets a server return more than the required attributes)
STUDY_ON_LOWER = (
    "StudyInstanceUID",
    "StudyDate",
    "StudyTime",
    "AccessionNumber",
    "ReferringPhysicianName",
    "StudyID",
    "StudyDescription",
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
)
SERIES_ON_INSTANCES = ("Modality", "SeriesNumber", "SeriesDescription")


def _media_type() -> str:
    """The response media type from Accept or the ``accept`` parameter (PS3.18 §8.3.3.1)."""
    asked = request.args.get("accept")
    accept = MIMEAccept(parse_accept_header(asked)) if asked else request.accept_mimetypes
    if not accept:
        return json_model.MEDIA_TYPE
    best = accept.best_match(JSON_TYPES)
    if best is None:
        raise DicomwebError(406, "QIDO-RS answers application/dicom+json or application/json")
    return best


def _query() -> params.QidoQuery:
    try:
        return params.parse(request.args.items(multi=True))
    except params.QueryError as exc:
        raise DicomwebError(400, str(exc)) from None


def _fuzzy(keys: dict[str, str]) -> dict[str, str]:
    """``fuzzymatching=true`` (PS3.18 §8.3.4.5): person names match anywhere in the name.

    The standard leaves the algorithm to the origin server; the gateway matches a PN value as
    a substring (case and accent insensitive, as all its PN matching).
    """
    out = dict(keys)
    for keyword, value in keys.items():
        if value and dictionary_VR(keyword) == "PN" and not value.startswith("*"):
            out[keyword] = f"*{value.rstrip('*')}*"
    return out


def _patient(patient_id: str) -> Dataset:
    ds = Dataset()
    ds.PatientID = patient_id
    return ds


def _narrow(scope: PacsScope, keys: dict[str, str]) -> PacsScope:
    """The scope narrowed by a PatientID or StudyInstanceUIDs the query names: they can never
    widen access, and a study outside a scope bound to its studies (a viewer token's) matches
    nothing rather than being replaced by the scope's own."""
    studies = keys.get("StudyInstanceUID", "")
    if scope.study_uids is not None and studies:
        scope = dataclasses.replace(
            scope, study_uids=scope.study_uids & frozenset(studies.split("\\"))
        )
    asked = keys.get("PatientID", "")
    if scope.patient_ids is None or not asked:
        return scope
    wanted = {"PatientID": asked}
    ids = frozenset(i for i in scope.patient_ids if matches(_patient(i), wanted))
    return dataclasses.replace(scope, patient_ids=ids)


def _scope(ctx: DicomwebContext, grant: Grant) -> PacsScope:
    try:
        return ctx.scope(grant, "search")
    except ApiError:
        audit.record(grant, "search", "ImagingStudy", outcome="denied")
        raise


def _respond(media: str, body: list[dict[str, Any]]) -> Response:
    return Response(json_model.dumps(body), status=200, mimetype=media)


def _search(
    level: str,
    run: Callable[[DicomwebContext, PacsScope, dict[str, str], params.QidoQuery], list[Dataset]],
    url: Callable[[DicomwebContext, Dataset], str],
    study_uid: str | None = None,
    series_uid: str | None = None,
) -> Response:
    media = _media_type()
    query = _query()
    ctx = context()
    grant = ctx.grant()
    scope = _scope(ctx, grant)
    keys = query.keys(ALL_KEYS[level])
    for keyword in DEFAULT_KEYS[level]:
        keys.setdefault(keyword, "")
    if query.fuzzy:
        keys = _fuzzy(keys)
    if study_uid is None:
        found = run(ctx, scope, keys, query)
    else:
        try:
            found = _in_study(ctx, scope, study_uid, keys, query, run, series_uid)
            if not found and series_uid is not None:
                _check_series(ctx, scope, study_uid, series_uid)
        except DicomwebError:
            audit.record(grant, "search", "ImagingStudy", outcome="not-found", ids=[study_uid[:64]])
            raise
    # every matching key is checked again on what leaves, whatever level the PACS matched it at
    found = [ds for ds in found if matches(ds, keys)]
    studies = sorted({str(ds.get("StudyInstanceUID", "")) for ds in found})
    audit.record(grant, "search", "ImagingStudy", outcome="allowed", ids=studies, count=len(found))
    return _respond(media, [json_model.to_json(ds, retrieve_url=url(ctx, ds)) for ds in found])


def _in_study(
    ctx: DicomwebContext,
    scope: PacsScope,
    study_uid: str,
    keys: dict[str, str],
    query: params.QidoQuery,
    run: Callable[[DicomwebContext, PacsScope, dict[str, str], params.QidoQuery], list[Dataset]],
    series_uid: str | None = None,
) -> list[Dataset]:
    """Series or instances of one study, the access check folded into the search itself.

    The lower-level C-FIND carries the caller's PatientIDs as a matching key (imposed, never
    taken from the query) and asks for the study attributes as return keys, so one round trip
    both searches and proves that the study is the caller's: Orthanc matches PatientID at
    series and image level of the Study Root model, and every row is checked again. Only
    when that answers nothing, or rows the caller's scope does not admit (a PACS that ignores
    or does not return PatientID at that level), does the study's own C-FIND decide: 404 for
    a missing study and for another patient's alike, else the rows that carry no other
    patient's PatientID, with the study's attributes.

    Rows are only those the path names: their Study Instance UID (and, under
    ``/series/{series}``, their Series Instance UID), the unique keys a PACS returns for the
    levels above (PS3.4 §C.4.1.2.2), must be the path's, whatever the PACS matched.
    """
    if scope.empty or not scope.admits_study(study_uid):
        raise not_found()
    asked = dict(keys)
    for keyword in (*STUDY_ON_LOWER, "SeriesInstanceUID"):
        asked.setdefault(keyword, "")
    narrowed = _narrow(scope, keys)
    found = [] if narrowed.empty else run(ctx, narrowed, narrowed.impose(asked), query)
    found = [
        ds
        for ds in found
        if str(ds.get("StudyInstanceUID", "")) == study_uid
        and (series_uid is None or str(ds.get("SeriesInstanceUID", "")) == series_uid)
    ]
    if found and all(scope.admits(ds) for ds in found):
        return found
    study = ctx.study(scope, study_uid)
    return [_merged(study, ds) for ds in found if scope.admits(ds) or not ds.get("PatientID")]


def _check_series(ctx: DicomwebContext, scope: PacsScope, study_uid: str, series_uid: str) -> None:
    """404 unless the path's series is one of the caller's in that study: a search under
    ``/series/{series}`` that found nothing names a missing series, another study's or another
    patient's (all answered alike), or one of the caller's whose instances did not match.
    One series C-FIND, only when the search came back empty."""
    rows = ctx.backend.find_series(study_uid, scope.impose({"SeriesInstanceUID": series_uid}))
    if not any(
        scope.admits(ds)
        and str(ds.get("SeriesInstanceUID", "")) == series_uid
        and str(ds.get("StudyInstanceUID", "")) == study_uid
        for ds in rows
    ):
        raise not_found("series")


def _study_url(ctx: DicomwebContext, ds: Dataset) -> str:
    return f"{ctx.base_url}/studies/{ds.get('StudyInstanceUID', '')}"


def _series_url(ctx: DicomwebContext, ds: Dataset) -> str:
    return f"{_study_url(ctx, ds)}/series/{ds.get('SeriesInstanceUID', '')}"


def _instance_url(ctx: DicomwebContext, ds: Dataset) -> str:
    return f"{_series_url(ctx, ds)}/instances/{ds.get('SOPInstanceUID', '')}"


def _studies(
    ctx: DicomwebContext, scope: PacsScope, keys: dict[str, str], query: params.QidoQuery
) -> list[Dataset]:
    narrowed = _narrow(scope, keys)
    if narrowed.empty:
        return []
    found = ctx.backend.find_studies(narrowed.impose(keys), limit=query.limit, offset=query.offset)
    return [ds for ds in found if narrowed.admits(ds)]


def _visible_studies(ctx: DicomwebContext, scope: PacsScope, keys: dict[str, str]) -> list[Dataset]:
    """Studies matching the study-level keys of a search across studies (``/series`` ...)."""
    study_keys = {k: v for k, v in keys.items() if k in STUDY_KEYS}
    narrowed = _narrow(scope, study_keys)
    if narrowed.empty:
        return []
    found = ctx.backend.find_studies(narrowed.impose(study_keys))
    return [ds for ds in found if narrowed.admits(ds)]


def _merged(upper: Dataset, lower: Dataset, keywords: tuple[str, ...] = STUDY_ON_LOWER) -> Dataset:
    """A lower-level result with attributes of the level above (PS3.18 Table 6.7.1-2a, -2b)."""
    out = Dataset()
    for keyword in keywords:
        if keyword in upper and keyword not in lower:
            out.add(upper[keyword])
    for elem in lower:
        out.add(elem)
    return out


def _with_series(
    ctx: DicomwebContext, study_uid: str, series_uid: str | None, found: list[Dataset]
) -> list[Dataset]:
    """Instances with their series' Modality, number and description.

    They are asked as return keys of the instance search itself (Orthanc returns them at image
    level); only when a row comes back without them does one more C-FIND fetch the series.
    """
    if all(ds.get(keyword) not in (None, "") for ds in found for keyword in SERIES_ON_INSTANCES):
        return found
    pin = {"SeriesInstanceUID": series_uid} if series_uid else {}
    series = {str(s.SeriesInstanceUID): s for s in ctx.backend.find_series(study_uid, pin)}
    out = []
    for ds in found:
        above = series.get(str(ds.get("SeriesInstanceUID", "")))
        out.append(_series_filled(above, ds) if above is not None else ds)
    return out


def _series_filled(series: Dataset, instance: Dataset) -> Dataset:
    """``instance`` with the series attributes it lacks or holds empty taken from ``series``."""
    out = Dataset()
    out.update(instance)
    for keyword in SERIES_ON_INSTANCES:
        if instance.get(keyword) in (None, "") and series.get(keyword) not in (None, ""):
            out.add(series[keyword])
    return out


def _series_asked(keys: dict[str, str]) -> tuple[str | None, frozenset[str] | None]:
    """A SeriesInstanceUID matching key of an instance search across series: one UID pins the
    series (the C-FIND's unique key, PS3.4 §C.4.1.3.1); a list of UIDs (``\\``) cannot, as the
    backend pins each series it walks, so the rows are kept by it afterwards."""
    asked = keys.get("SeriesInstanceUID") or None
    if asked is not None and "\\" in asked:
        return None, frozenset(asked.split("\\"))
    return asked, None


@blueprint.get("/studies")
def search_studies() -> Response:
    """Search for studies (PS3.18 §10.6.1, Table 6.7.1-2 attributes)."""
    return _search("STUDY", _studies, _study_url)


@blueprint.get("/studies/<study>/series")
def search_study_series(study: str) -> Response:
    """Search for the series of one study (Table 6.7.1-2a)."""

    def run(
        ctx: DicomwebContext, scope: PacsScope, keys: dict[str, str], q: params.QidoQuery
    ) -> list[Dataset]:
        return ctx.backend.find_series(study, keys, limit=q.limit, offset=q.offset)

    return _search("SERIES", run, _series_url, study)


@blueprint.get("/studies/<study>/series/<series>/instances")
def search_series_instances(study: str, series: str) -> Response:
    """Search for the instances of one series (Table 6.7.1-2b)."""

    def run(
        ctx: DicomwebContext, scope: PacsScope, keys: dict[str, str], q: params.QidoQuery
    ) -> list[Dataset]:
        found = ctx.backend.find_instances(study, series, keys, limit=q.limit, offset=q.offset)
        return _with_series(ctx, study, series, found)

    return _search("IMAGE", run, _instance_url, study, series)


@blueprint.get("/studies/<study>/instances")
def search_study_instances(study: str) -> Response:
    """Search for the instances of one study (Table 6.7.1-2b)."""

    def run(
        ctx: DicomwebContext, scope: PacsScope, keys: dict[str, str], q: params.QidoQuery
    ) -> list[Dataset]:
        series_uid, wanted = _series_asked(keys)
        if wanted is None:
            found = ctx.backend.find_instances(
                study, series_uid, keys, limit=q.limit, offset=q.offset
            )
        else:
            # the listed series one by one, in the study's series order, until the page is
            # full: never the whole study for a page
            need = None if q.limit is None else q.offset + q.limit
            found = []
            for se in ctx.backend.find_series(study, {}):
                uid = str(se.SeriesInstanceUID)
                if uid not in wanted:
                    continue
                if need is not None and len(found) >= need:
                    break
                found += ctx.backend.find_instances(study, uid, keys)
            found = page(found, q.limit, q.offset)
        return _with_series(ctx, study, series_uid, found) if found else found

    return _search("IMAGE", run, _instance_url, study)


@blueprint.get("/series")
def search_all_series() -> Response:
    """Search for series across the caller's studies, study attributes included.

    Studies are walked in their order and the walk stops once ``offset + limit`` series are
    admitted: C-FIND has no paging, but a page never needs the studies after it."""

    def run(
        ctx: DicomwebContext, scope: PacsScope, keys: dict[str, str], q: params.QidoQuery
    ) -> list[Dataset]:
        lower = {k: v for k, v in keys.items() if k not in STUDY_KEYS or k == "StudyInstanceUID"}
        narrowed = _narrow(scope, keys)
        need = None if q.limit is None else q.offset + q.limit
        out: list[Dataset] = []
        for st in _visible_studies(ctx, scope, keys):
            if need is not None and len(out) >= need:
                break
            uid = str(st.StudyInstanceUID)
            found = ctx.backend.find_series(uid, narrowed.impose(lower))
            out += [_merged(st, ds) for ds in found if narrowed.admits(ds)]
        return page(out, q.limit, q.offset)

    return _search("SERIES", run, _series_url)


def _split_levels(keys: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """The series-level keys (Modality, SeriesNumber, SeriesInstanceUID ...) and the rest of an
    instance search across studies: series keys select the series of each study by a series
    C-FIND, the rest go to the image-level C-FIND of each selected series."""
    series = {k: v for k, v in keys.items() if k in SERIES_KEYS and k != "StudyInstanceUID"}
    image = {
        k: v
        for k, v in keys.items()
        if (k not in STUDY_KEYS and k not in SERIES_KEYS) or k == "StudyInstanceUID"
    }
    return series, image


@blueprint.get("/instances")
def search_all_instances() -> Response:
    """Search for instances across the caller's studies (PS3.18 §10.6.1.2.3), study and series
    attributes included.

    Every matching key is honoured at its level: study keys select the studies (one study
    C-FIND), series keys the series of each study (one series C-FIND per study walked), the
    others the instances of each selected series; every row is matched again against all keys.
    Studies and series are walked in order (studies newest first, series and instances by
    number) and the walk stops once ``offset + limit`` instances are admitted, so a small page
    reads only the series it needs, never the whole PACS."""

    def run(
        ctx: DicomwebContext, scope: PacsScope, keys: dict[str, str], q: params.QidoQuery
    ) -> list[Dataset]:
        series_keys, image_keys = _split_levels(keys)
        narrowed = _narrow(scope, keys)
        need = None if q.limit is None else q.offset + q.limit
        out: list[Dataset] = []
        for st in _visible_studies(ctx, scope, keys):
            uid = str(st.StudyInstanceUID)
            # the caller's PatientIDs are imposed at every level and every row is checked: a
            # Study Instance UID the PACS holds for two patients lists only the caller's part
            for se in ctx.backend.find_series(uid, narrowed.impose(series_keys)):
                if not narrowed.admits(se):
                    continue
                if need is not None and len(out) >= need:
                    return page(out, q.limit, q.offset)
                series_uid = str(se.SeriesInstanceUID)
                found = ctx.backend.find_instances(uid, series_uid, narrowed.impose(image_keys))
                rows = [_merged(st, _series_filled(se, ds)) for ds in found if narrowed.admits(ds)]
                out += [ds for ds in rows if matches(ds, keys)]
        return page(out, q.limit, q.offset)

    return _search("IMAGE", run, _instance_url)
