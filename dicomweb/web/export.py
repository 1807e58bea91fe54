"""Study export (issue text F16): ``GET`` or ``POST /dicomweb/studies/{study}/export``.

``GET`` answers a plain ZIP; ``POST`` with a form field ``password`` (a body, never the URL,
so it stays out of logs and histories) answers the same ZIP encrypted with AES-256. The study is
checked like every DICOMweb study (404 when the caller may not see it), then streamed from the
caller's instance source (the cache or the PACS, only the caller's patients' instances, see
:class:`dicomweb.cache.Source`) into the ZIP as instances arrive (:mod:`dicomweb.export`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from flask import Response, request, stream_with_context

from access import audit
from access.errors import ApiError
from dicomweb import export
from dicomweb.errors import PacsError

from .context import DicomwebError, admitted, blueprint, context, guarded, unfinished
from .wado import source_for

log = logging.getLogger(__name__)


@blueprint.route("/studies/<study>/export", methods=["GET", "POST"])
def export_study(study: str) -> Response:
    """The study as a DICOM File-set in a ZIP (PS3.10 §8), AES-256 encrypted when POSTed."""
    ctx = context()
    grant = ctx.grant()
    try:
        scope = ctx.scope(grant, "export")
    except ApiError:
        audit.record(grant, "export", "ImagingStudy", outcome="denied", ids=[study[:64]])
        raise
    try:
        ctx.study(scope, study)
    except DicomwebError:
        audit.record(grant, "export", "ImagingStudy", outcome="not-found", ids=[study[:64]])
        raise
    admitted(grant, "export", study)
    password: str | None = None
    if request.method == "POST":
        password = request.form.get("password") or None
        if password is None:
            raise DicomwebError(400, "POST needs a password form field")
    # Through the caller's instance source: only the instances of the caller's patients leave,
    # even where the PACS files another patient's under the same study UID.
    retrieval = source_for(ctx, scope).instances(study)
    try:
        chunks = export.export_zip(retrieval, password)
    except export.ExportError as exc:
        retrieval.close()
        raise DicomwebError(400, str(exc)) from None
    # Until the first bytes are out, a failure is still an ordinary DICOM JSON error response.
    try:
        first = _first_bytes(chunks)
    except PacsError:
        retrieval.close()
        raise
    except Exception as exc:
        retrieval.close()
        log.error("export failed before its first byte", extra={"error": type(exc).__name__})
        unfinished("failed")
        raise DicomwebError(500, "The export could not be made") from None
    audit.record(grant, "export", "ImagingStudy", outcome="allowed", ids=[study])

    def body() -> Iterator[bytes]:
        # Once the status line is gone, the only honest signal left is to break the connection
        # before the chunked body's last chunk: the client sees a truncated download.
        try:
            yield first
            yield from guarded(chunks, "export")
        finally:
            retrieval.close()

    return Response(
        stream_with_context(body()),
        mimetype="application/zip",
        headers={"Content-Disposition": 'attachment; filename="study.zip"'},
    )


def _first_bytes(chunks: Iterator[bytes]) -> bytes:
    """The first non-empty chunk (the first instance's entry), or b"" for an empty archive."""
    for chunk in chunks:
        if chunk:
            return chunk
    return b""
