"""The image viewer (OHIF) and its links (issue F15).

``POST /dicomweb/studies/{study}/viewer-link``: an authenticated caller who may see the study
gets a viewer URL carrying a short-lived token bound to that study and its PatientID
(:mod:`dicomweb.viewer_tokens`). OHIF reads the ``token`` query parameter of its URL and sends
it as ``Authorization: Bearer`` on every QIDO-RS/WADO-RS request (PS3.18 §10.4, §10.6);
the access policy's ``ViewerTokenValidator`` turns it into a one-study grant.

``/viewer/…``: the npm ``@ohif/app`` build (``scripts/install-ohif.sh``) as static files, with a
generated ``app-config.js`` whose DICOMweb data source is this gateway's ``/dicomweb``. The
build is made for the site root (``PUBLIC_URL=/``); its index page and chunk loader are
rewritten on the way out to load from ``/viewer/``.
"""

from __future__ import annotations

import mimetypes
import re
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import orjson
from flask import Blueprint, Flask, Response, abort, current_app, send_from_directory

from access import audit
from access.errors import ApiError
from dicomweb.pacs_studies import PacsStudies
from dicomweb.viewer_tokens import ViewerClaim, ViewerTokens, ViewerTokenValidator

from .context import DicomwebContext, blueprint, context

PREFIX = "/viewer"
viewer_blueprint = Blueprint("viewer", __name__)


@blueprint.record_once
def _register(state: Any) -> None:
    """Give the DICOMweb context its token signer, serve ``/viewer`` beside ``/dicomweb``, and
    merge the PACS's studies into FHIR ImagingStudy (only when a PACS is configured)."""
    app: Flask = state.app
    ctx: DicomwebContext = app.extensions["dicomweb"]
    if "viewer_tokens" not in ctx.extras:
        settings = app.config["SETTINGS"]
        # The app's signing secret (create_app): shared by the workers of one deployment.
        key = app.secret_key
        key = key if isinstance(key, bytes) else str(key).encode()
        # former keys (being rotated out) verify what they signed; the last one signs
        former = [k + b"/viewer" for k in app.config.get("SECRET_KEY_FALLBACKS", [])]
        ctx.extras["viewer_tokens"] = ViewerTokens(
            [*former, key + b"/viewer"], int(settings.viewer_token_ttl_s)
        )
    ctx.policy.register_token_validator(ViewerTokenValidator(ctx.extras["viewer_tokens"]))
    app.register_blueprint(viewer_blueprint, url_prefix=PREFIX)
    # FHIR ImagingStudy gains what the PACS holds (series, counts, the DICOMweb Endpoint).
    service = app.extensions["fhir_service"]
    # Each order's study shows the series of the order's patient only (two-patient studies).
    pacs_studies = PacsStudies(ctx.backend, ctx.base_url, ctx.dicom_patient_id)
    service.enrichers["ImagingStudy"] = pacs_studies.enrich


def _tokens(ctx: DicomwebContext) -> ViewerTokens:
    return ctx.extras["viewer_tokens"]  # type: ignore[no-any-return]


@blueprint.post("/studies/<study>/viewer-link")
def viewer_link(study: str) -> Response:
    """Mint a viewer link for one study the caller may see (404 otherwise, like missing)."""
    ctx = context()
    grant = ctx.grant()
    # "link" is outside a viewer token's reach: a token cannot mint a longer-lived one.
    try:
        scope = ctx.scope(grant, "link")
    except ApiError:
        audit.record(grant, "viewer-link", "ImagingStudy", outcome="denied", ids=[study[:64]])
        raise
    found = ctx.study(scope, study)
    patient_id = str(found.get("PatientID", ""))
    claim = ViewerClaim(
        study_uid=study,
        patient_id=patient_id,
        his_patient=scope.his_patients.get(patient_id),
        subject=grant.subject,
    )
    tokens = _tokens(ctx)
    token = tokens.mint(claim)
    origin = ctx.base_url.removesuffix("/dicomweb")
    query = urlencode({"StudyInstanceUIDs": study, "token": token})
    body = {"url": f"{origin}{PREFIX}/viewer?{query}", "token": token, "expires_in": tokens.ttl}
    audit.record(grant, "viewer-link", "ImagingStudy", outcome="allowed", ids=[study])
    return Response(
        orjson.dumps(body),
        status=201,
        mimetype="application/json",
        headers={"Cache-Control": "no-store"},
    )


# --- the viewer's files -----------------------------------------------------------------------


def _dist() -> Path:
    """The build folder, absolute (a relative setting is from the working directory)."""
    path = Path(current_app.config["SETTINGS"].ohif_dir).resolve()
    if not (path / "index.html").is_file():
        abort(404)
    return path


def app_config(dicomweb_path: str) -> str:
    """OHIF's ``window.config``: one DICOMweb data source, this gateway, same origin."""
    base = f"window.location.origin + {orjson.dumps(dicomweb_path).decode()}"
    source = {
        "friendlyName": "Hospital PACS",
        "name": "gateway",
        "qidoSupportsIncludeField": True,
        "imageRendering": "wadors",
        "thumbnailRendering": "wadors",
        "enableStudyLazyLoad": True,
        "supportsFuzzyMatching": False,
        "supportsWildcard": False,
        "staticWado": False,
        "singlepart": "bulkdata,video",
        "bulkDataURI": {"enabled": True, "relativeResolution": "studies"},
        "omitQuotationForMultipartRequest": True,
    }
    config = {
        "routerBasename": PREFIX,
        "extensions": [],
        "modes": [],
        "customizationService": {},
        "showStudyList": False,
        "maxNumberOfWebWorkers": 2,
        "showWarningMessageForCrossOrigin": False,
        "showCPUFallbackMessage": False,
        "showLoadingIndicator": True,
        "investigationalUseDialog": {"option": "never"},
        "defaultDataSourceName": "gateway",
        "dataSources": [
            {
                "namespace": "@ohif/extension-default.dataSourcesModule.dicomweb",
                "sourceName": "gateway",
                "configuration": source,
            }
        ],
    }
    roots = "".join(
        f"window.config.dataSources[0].configuration.{key} = base;\n"
        for key in ("wadoUriRoot", "qidoRoot", "wadoRoot")
    )
    return (
        "/* Generated by the gateway: OHIF reads its DICOMweb from this origin. */\n"
        f"window.config = {orjson.dumps(config).decode()};\n"
        f"(function () {{ var base = {base};\n{roots}}})();\n"
    )


@cache
def _rewritten(path: str, mtime: float) -> bytes:
    """A root-built file made to load from ``/viewer/``: index page and the chunk loader."""
    data = Path(path).read_text(encoding="utf-8")
    if path.endswith(".html"):
        data = data.replace('window.PUBLIC_URL="/"', f'window.PUBLIC_URL="{PREFIX}/"')
        data = re.sub(r'(src|href)="/(?!/)', rf'\1="{PREFIX}/', data)
    else:
        data = data.replace('__webpack_require__.p = "/";', f'__webpack_require__.p = "{PREFIX}/";')
    return data.encode("utf-8")


def _send_rewritten(file: Path, mimetype: str) -> Response:
    body = _rewritten(str(file), file.stat().st_mtime)
    return Response(body, mimetype=mimetype, headers={"Cache-Control": "no-cache"})


@viewer_blueprint.get("/app-config.js")
def config_js() -> Response:
    _dist()
    path = urlsplit(context().base_url).path or "/dicomweb"
    return Response(
        app_config(path), mimetype="text/javascript", headers={"Cache-Control": "no-cache"}
    )


@viewer_blueprint.get("/", defaults={"path": ""})
@viewer_blueprint.get("/<path:path>")
def files(path: str) -> Response:
    """A file of the build, or the index page for the viewer's own routes (SPA fallback)."""
    dist = _dist()
    file = (dist / path).resolve()
    if path and file.is_file() and file.is_relative_to(dist):
        if re.fullmatch(r"app\.bundle\.[0-9a-f]+\.js", file.name):
            return _send_rewritten(file, "text/javascript")
        if file.name == "index.html":
            return _send_rewritten(file, "text/html")
        mimetype = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        if file.suffix == ".wasm":
            mimetype = "application/wasm"
        return send_from_directory(dist, path, mimetype=mimetype, max_age=3600)
    if "." in path.rsplit("/", 1)[-1]:
        abort(404)  # a missing asset, not a viewer route
    return _send_rewritten(dist / "index.html", "text/html")
