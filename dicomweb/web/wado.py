"""WADO-RS routes (PS3.18 §10.4): instances, metadata, frames, bulk data, rendered, thumbnails.

Thin: Accept negotiation and the multipart writer are :mod:`dicomweb.multipart`, syntaxes
:mod:`dicomweb.transcode`, the cache and the instance source :mod:`dicomweb.cache`, images
:mod:`dicomweb.render`. Every route first decides access with ``context().study(scope, uid)``
(404 for a study of another patient, exactly like a missing one) before the cache or the PACS
is asked anything, and audits the read. Instances stream as they arrive from the PACS
(``stream_with_context``): memory holds a few instances, whatever the study's size.
"""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Generator, Iterator

import orjson
from flask import Response, current_app, request, stream_with_context
from pydicom import dcmread
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.encaps import generate_frames

from access import audit
from access.errors import ApiError
from dicomweb import json_model, multipart, render, transcode
from dicomweb.cache import Entry, InstanceCache, Source, check_uid, uids_of

from .context import (
    DicomwebContext,
    DicomwebError,
    PacsScope,
    admitted,
    blueprint,
    context,
    guarded,
    not_found,
)

LOG = logging.getLogger(__name__)
DICOM, OCTETS, JSON = "application/dicom", "application/octet-stream", "application/dicom+json"
_LOCK = threading.Lock()


def instance_cache(ctx: DicomwebContext) -> InstanceCache | None:
    """The on-disk instance cache (None when not configured), built once per app from the
    settings; its files and index are shared with the host's other workers."""
    with _LOCK:
        if "cache" not in ctx.extras:
            settings = current_app.config.get("SETTINGS")
            root = getattr(settings, "dicomweb_cache_dir", "")
            limit = int(getattr(settings, "dicomweb_cache_max_bytes", 0))
            ctx.extras["cache"] = InstanceCache(root, limit) if root and limit > 0 else None
        cache: InstanceCache | None = ctx.extras["cache"]
        return cache


def source_for(ctx: DicomwebContext, scope: PacsScope) -> Source:
    """The instance source of one caller: the PACS through the cache, letting out only the
    instances of the caller's patients (a PACS may file two patients under one study UID).
    A retrieval with failed sub-operations is held against the instances the caller may have
    there (an image-level C-FIND with the caller's patient imposed)."""

    def expected(study: str, series: str, sop: str) -> set[str]:
        keys = scope.impose({"SOPInstanceUID": sop} if sop else {})
        found = ctx.backend.find_instances(study, series or None, keys)
        return {
            str(ds.SOPInstanceUID)
            for ds in found
            if scope.admits(ds) and (not sop or str(ds.get("SOPInstanceUID", "")) == sop)
        }

    return Source(ctx.backend, instance_cache(ctx), scope.admits, expected)


def _admit(study: str, what: str, *uids: str) -> tuple[DicomwebContext, Source, PacsScope]:
    """The access decision (PS3.18 §10.4 on a study of the caller's grant) and the audit.

    The study is the caller's; every instance that leaves is checked again on its own header
    (``Source``): its Study, Series and SOP Instance UIDs are the path's, whatever the PACS
    answers for a retrieval by UID, and its patient is the caller's."""
    ctx = context()
    try:
        for uid in (study, *uids):
            check_uid(uid)
    except ValueError:
        raise not_found() from None
    grant = ctx.grant()
    try:
        scope = ctx.scope(grant, "read")
    except ApiError:
        audit.record(grant, what, "ImagingStudy", outcome="denied", ids=[study[:64]])
        raise
    except Exception:  # the HIS (the grant's PatientIDs) failed after the decision
        audit.record(grant, what, "ImagingStudy", outcome="failed", ids=[study[:64]])
        raise
    try:
        ctx.study(scope, study)
    except DicomwebError:
        audit.record(grant, what, "ImagingStudy", outcome="not-found", ids=[study[:64]])
        raise
    except Exception:  # the PACS failed: allowed, and not carried out
        audit.record(grant, what, "ImagingStudy", outcome="failed", ids=[study[:64]])
        raise
    audit.record(grant, what, "ImagingStudy", outcome="allowed", ids=[study])
    admitted(grant, what, study)
    return ctx, source_for(ctx, scope), scope


def _accept() -> list[multipart.MediaRange]:
    asked = request.args.getlist("accept")
    return multipart.parse_accept(asked if asked else request.headers.getlist("Accept"))


def _choose(part_type: str, syntaxes: frozenset[str] | None = None) -> multipart.Choice:
    try:
        return multipart.choose(_accept(), part_type, syntaxes=syntaxes)
    except multipart.NotAcceptable as exc:
        raise DicomwebError(406, str(exc)) from None


def _location(ctx: DicomwebContext, part10: bytes, known: Entry | None = None) -> str:
    """The instance's URL; its UIDs read from its header unless already ``known``."""
    e = known if known is not None else uids_of(part10)
    return f"{ctx.base_url}/studies/{e.study}/series/{e.series}/instances/{e.sop}"


def _multipart(
    parts: Iterator[tuple[str, str | None, bytes]], part_type: str, ts: str | None
) -> Response:
    bound = multipart.boundary()
    body = stream_with_context(guarded(multipart.write(bound, parts), "WADO-RS response"))
    return _streamed(Response(body, content_type=multipart.content_type(bound, part_type, ts)))


def _streamed(response: Response) -> Response:
    """Mark a streamed body as passed through: no after-request hook may buffer it (gzip)."""
    response.direct_passthrough = True
    return response


def _instances_response(
    ctx: DicomwebContext, instances: Iterator[tuple[Entry | None, bytes]]
) -> Response:
    """Retrieve Instances response (PS3.18 §10.4.3): one application/dicom part per instance.

    The first instance is taken before the response starts so that an unreachable PACS or a
    syntax that cannot be produced still gets its status code (503, 406).
    """
    choice = _choose(DICOM, transcode.PRODUCIBLE)
    wanted = choice.transfer_syntax
    head = next(instances, None)
    if head is None:
        close = getattr(instances, "close", None)
        if close:
            close()
        raise not_found()
    known, first = head
    try:
        first = transcode.transcode(first, wanted)
    except transcode.CannotTranscode as exc:
        instances.close()  # type: ignore[attr-defined]
        raise DicomwebError(406, str(exc)) from None

    def parts() -> Iterator[tuple[str, str | None, bytes]]:
        try:
            entry, data = known, first
            while True:
                ts = transcode.stored_syntax(data)
                yield f"{DICOM}; transfer-syntax={ts}", _location(ctx, data, entry), data
                nxt = next(instances, None)
                if nxt is None:
                    return
                entry, data = nxt[0], transcode.transcode(nxt[1], wanted)
        finally:
            close = getattr(instances, "close", None)
            if close:
                close()

    # ``*`` asks for the stored syntaxes: the header names the first part's real one (each
    # part names its own), never ``*`` itself
    return _multipart(parts(), DICOM, transcode.stored_syntax(first) if wanted == "*" else wanted)


@blueprint.get("/studies/<study>")
def retrieve_study(study: str) -> Response:
    ctx, source, _scope = _admit(study, "wado-retrieve")
    return _instances_response(ctx, source.located(study))


@blueprint.get("/studies/<study>/series/<series>")
def retrieve_series(study: str, series: str) -> Response:
    ctx, source, _scope = _admit(study, "wado-retrieve", series)
    return _instances_response(ctx, source.located(study, series))


def _one(source: Source, study: str, series: str, sop: str) -> bytes:
    data = source.instance(study, series, sop)
    if data is None:
        raise not_found("instance")
    return data


@blueprint.get("/studies/<study>/series/<series>/instances/<sop>")
def retrieve_instance(study: str, series: str, sop: str) -> Response:
    ctx, source, _scope = _admit(study, "wado-retrieve", series, sop)
    data = _one(source, study, series, sop)
    return _instances_response(ctx, iter([(Entry(study, series, sop), data)]))


# -- metadata (PS3.18 §10.4.1.1.2, DICOM JSON PS3.18 §F.2) ----------------------------------------


def _metadata(ctx: DicomwebContext, part10: bytes) -> bytes:
    ds = dcmread(io.BytesIO(part10))
    base = (
        f"{ctx.base_url}/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
        f"/instances/{ds.SOPInstanceUID}"
    )

    def bulk(elem: DataElement) -> str:
        return f"{base}/bulkdata/{int(elem.tag):08X}"

    return orjson.dumps(json_model.dataset_json(ds, bulk, 1024))


def _json_array(ctx: DicomwebContext, instances: Iterator[bytes]) -> Response:
    first = next(instances, None)
    if first is None:
        raise not_found()

    def body() -> Iterator[bytes]:
        try:
            yield b"[" + _metadata(ctx, first)
            for data in instances:
                yield b"," + _metadata(ctx, data)
            yield b"]"
        finally:
            close = getattr(instances, "close", None)
            if close:
                close()

    return _streamed(Response(stream_with_context(body()), content_type=JSON))


@blueprint.get("/studies/<study>/metadata")
def study_metadata(study: str) -> Response:
    ctx, source, _scope = _admit(study, "wado-metadata")
    return _json_array(ctx, source.instances(study))


@blueprint.get("/studies/<study>/series/<series>/metadata")
def series_metadata(study: str, series: str) -> Response:
    ctx, source, _scope = _admit(study, "wado-metadata", series)
    return _json_array(ctx, source.instances(study, series))


@blueprint.get("/studies/<study>/series/<series>/instances/<sop>/metadata")
def instance_metadata(study: str, series: str, sop: str) -> Response:
    ctx, source, _scope = _admit(study, "wado-metadata", series, sop)
    return _json_array(ctx, iter([_one(source, study, series, sop)]))


# -- frames and bulk data (PS3.18 §10.4.1.1.4, §10.4.1.1.5) ---------------------------------------


def _frame_numbers(text: str) -> list[int]:
    try:
        numbers = [int(n) for n in text.split(",")]
    except ValueError:
        raise DicomwebError(400, "frame numbers are positive integers") from None
    if not numbers or min(numbers) < 1:
        raise DicomwebError(400, "frame numbers are positive integers")
    return numbers


def frames_of(ds: Dataset, numbers: list[int], wanted: str) -> list[bytes]:
    """The pixel data of frames ``numbers`` (1-based), uncompressed or as stored (``*``)."""
    count = render.frame_count(ds)
    if "PixelData" not in ds or max(numbers) > count:
        raise not_found("frame")
    stored = str(ds.file_meta.TransferSyntaxUID)
    if stored not in transcode.UNCOMPRESSED and wanted != "*" and wanted != stored:
        try:
            ds.decompress()
        except Exception:
            raise DicomwebError(406, "the frames cannot be decompressed here") from None
    if ds.file_meta.TransferSyntaxUID.is_encapsulated:
        frames = list(generate_frames(ds.PixelData, number_of_frames=count))
        return [frames[n - 1] for n in numbers]
    size = int(ds.Rows) * int(ds.Columns) * int(ds.get("SamplesPerPixel", 1))
    size = size * int(ds.BitsAllocated) // 8
    data = ds.PixelData
    return [bytes(data[(n - 1) * size : n * size]) for n in numbers]


@blueprint.get("/studies/<study>/series/<series>/instances/<sop>/frames/<frames>")
def retrieve_frames(study: str, series: str, sop: str, frames: str) -> Response:
    numbers = _frame_numbers(frames)
    ctx, source, _scope = _admit(study, "wado-frames", series, sop)
    choice = _choose(OCTETS, frozenset({multipart.EXPLICIT_VR_LE}))
    ds = dcmread(io.BytesIO(_one(source, study, series, sop)))
    data = frames_of(ds, numbers, choice.transfer_syntax)
    ts = _frame_syntax(ds)
    media = f"{OCTETS}; transfer-syntax={ts}"
    base = f"{ctx.base_url}/studies/{study}/series/{series}/instances/{sop}/frames/"
    parts = iter([(media, base + str(n), d) for n, d in zip(numbers, data, strict=True)])
    return _multipart(parts, OCTETS, ts)


def _frame_syntax(ds: Dataset) -> str:
    """The transfer syntax frames taken from ``ds`` are in (PS3.18 §8.7.3.5.2): its own when
    encapsulated (compressed frames as stored), else Explicit VR Little Endian, the syntax of
    native little-endian pixel data (an Implicit VR Little Endian file's frames are the same
    bytes); a big-endian file's native frames keep its syntax."""
    stored = ds.file_meta.TransferSyntaxUID
    if stored.is_encapsulated or not stored.is_little_endian:
        return str(stored)
    return multipart.EXPLICIT_VR_LE


def _element(ds: Dataset, tag: int) -> DataElement | None:
    if tag in ds:
        return ds[tag]
    for elem in ds:
        if elem.VR == "SQ":
            for item in elem.value:
                found = _element(item, tag)
                if found is not None:
                    return found
    return None


@blueprint.get("/studies/<study>/series/<series>/instances/<sop>/bulkdata/<tag>")
def retrieve_bulkdata(study: str, series: str, sop: str, tag: str) -> Response:
    try:
        number = int(tag, 16)
    except ValueError:
        raise DicomwebError(400, "a bulk data tag is 8 hexadecimal digits") from None
    ctx, source, _scope = _admit(study, "wado-bulkdata", series, sop)
    _choose(OCTETS)
    ds = dcmread(io.BytesIO(_one(source, study, series, sop)))
    elem = _element(ds, number)
    if elem is None or not isinstance(elem.value, bytes):
        raise not_found("bulk data")
    location = f"{ctx.base_url}/studies/{study}/series/{series}/instances/{sop}/bulkdata/{tag}"
    stored = ds.file_meta.TransferSyntaxUID
    encapsulated = number == 0x7FE00010 and stored.is_encapsulated
    ts = str(stored) if encapsulated or not stored.is_little_endian else multipart.EXPLICIT_VR_LE
    media = f"{OCTETS}; transfer-syntax={ts}"
    return _multipart(iter([(media, location, elem.value)]), OCTETS, ts)


# -- rendered and thumbnails (PS3.18 §10.4.1.1.6, §10.4.1.1.7) ------------------------------------


def _image_type() -> str:
    for r in _accept():
        for media in render.MEDIA_TYPES:
            if r.matches(media):
                return media
    raise DicomwebError(406, "rendered images are image/jpeg or image/png")


def _rendered(ds: Dataset, index: int, thumbnail: bool = False) -> Response:
    media = _image_type()
    try:
        rendering = render.parse(request.args.to_dict())
        if thumbnail and rendering.viewport is None:
            size = render.THUMBNAIL_SIZE
            rendering = render.Rendering(rendering.window, (size, size), rendering.quality)
        image = render.render(ds, index, rendering, media)
    except render.RenderError as exc:
        if exc.missing:
            raise not_found("frame") from None
        raise DicomwebError(400, exc.message) from None
    return Response(image, content_type=media)


@blueprint.get("/studies/<study>/series/<series>/instances/<sop>/rendered")
@blueprint.get("/studies/<study>/series/<series>/instances/<sop>/thumbnail")
def rendered_instance(study: str, series: str, sop: str) -> Response:
    _ctx, source, _scope = _admit(study, "wado-rendered", series, sop)
    ds = dcmread(io.BytesIO(_one(source, study, series, sop)))
    return _rendered(ds, 0, request.path.endswith("/thumbnail"))


@blueprint.get("/studies/<study>/series/<series>/instances/<sop>/frames/<int:frame>/rendered")
@blueprint.get("/studies/<study>/series/<series>/instances/<sop>/frames/<int:frame>/thumbnail")
def rendered_frame(study: str, series: str, sop: str, frame: int) -> Response:
    _ctx, source, _scope = _admit(study, "wado-rendered", series, sop)
    ds = dcmread(io.BytesIO(_one(source, study, series, sop)))
    return _rendered(ds, frame - 1, request.path.endswith("/thumbnail"))


def _rendered_part_type() -> str:
    """The image type of the parts of a rendered study or series: ``multipart/related`` with
    an image ``type`` (or none: JPEG), a bare image type, or any (PS3.18 §8.7.4, §10.4.1.1.3)."""
    for r in _accept():
        if r.media_type == "multipart/related":
            inner = multipart.parse_accept(r.params.get("type", render.JPEG))
            for media in render.MEDIA_TYPES:
                if inner and inner[0].matches(media):
                    return media
            continue
        for media in render.MEDIA_TYPES:
            if r.matches(media):
                return media
    raise DicomwebError(406, "rendered studies and series are multipart of image/jpeg or png")


def _rendering() -> render.Rendering:
    try:
        return render.parse(request.args.to_dict())
    except render.RenderError as exc:
        raise DicomwebError(400, exc.message) from None


@blueprint.get("/studies/<study>/rendered")
@blueprint.get("/studies/<study>/series/<series>/rendered")
def rendered_many(study: str, series: str | None = None) -> Response:
    """Rendered study or series (PS3.18 §10.4.1.1.3): a multipart/related of one rendered
    image per instance, the first frame of each (an image type holds one frame); instances
    without an image (reports, structured documents) are left out. The first image is made
    before the response starts, so a study with nothing to render is a 404."""
    media = _rendered_part_type()
    rendering = _rendering()
    ctx, source, _scope = _admit(study, "wado-rendered", *([series] if series else []))
    located = source.located(study, series or "")

    def images() -> Generator[tuple[str, str | None, bytes]]:
        for entry, data in located:
            ds = dcmread(io.BytesIO(data))
            if "PixelData" not in ds:
                continue
            try:
                image = render.render(ds, 0, rendering, media)
            except render.RenderError:
                continue  # not renderable here: left out like an instance without an image
            yield media, _location(ctx, data, entry) + "/rendered", image

    parts = images()
    try:
        first = next(parts, None)
    except BaseException:
        located.close()
        raise
    if first is None:
        located.close()
        raise not_found("image")

    def body() -> Iterator[tuple[str, str | None, bytes]]:
        try:
            yield first
            yield from parts
        finally:
            parts.close()
            located.close()

    return _multipart(body(), media, None)


@blueprint.get("/studies/<study>/thumbnail")
@blueprint.get("/studies/<study>/series/<series>/thumbnail")
def thumbnail(study: str, series: str | None = None) -> Response:
    """A representative image: the middle instance of the (first) series (PS3.18 §10.4.1.1.7)."""
    ctx, source, scope = _admit(study, "wado-rendered", *([series] if series else []))
    asked = {"SeriesInstanceUID": "", "InstanceNumber": "", "StudyInstanceUID": ""}
    found = [
        ds
        for ds in ctx.backend.find_instances(study, series, scope.impose(asked))
        if scope.admits(ds)
        and str(ds.get("StudyInstanceUID", "")) == study
        and (series is None or str(ds.get("SeriesInstanceUID", "")) == series)
    ]
    if not found:
        raise not_found("instance")
    first_series = str(found[0].SeriesInstanceUID)
    members = [ds for ds in found if str(ds.SeriesInstanceUID) == first_series]
    middle = members[len(members) // 2]
    ds = dcmread(io.BytesIO(_one(source, study, first_series, str(middle.SOPInstanceUID))))
    return _rendered(ds, render.frame_count(ds) // 2, thumbnail=True)
