"""``create_app``: the application factory."""

from __future__ import annotations

import datetime as dt
import logging
import re
import secrets
import time
import uuid
from collections.abc import Callable, Mapping
from importlib.metadata import PackageNotFoundError, version
from typing import Any, BinaryIO

from flask import Flask, Response, g, request
from flask_cors import CORS
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

import dicomweb.web as dicomweb_web
import notifications.pages as notification_pages
import notifications.routes as notifications_routes
import smart_auth.accounts as smart_auth_accounts
import smart_auth.audit as smart_auth_audit
import smart_auth.botcheck as smart_auth_botcheck
import smart_auth.design as smart_auth_design
import smart_auth.ratelimit as smart_auth_ratelimit
import smart_auth.results.routes as smart_auth_results
import smart_auth.sharing.routes as smart_auth_sharing
import smart_auth.uploads.routes as smart_auth_uploads
from access.policy import AccessPolicy, Authenticator, DevOpenAccess
from conformance.capability import capability_statement
from dicomweb.backends.base import PacsBackend
from dicomweb.backends.dimse import DimseBackend
from dicomweb.backends.settings import PacsSettings
from dicomweb.backends.upstream import UpstreamDicomwebBackend
from dicomweb.web.context import DicomwebContext
from dicomweb.web.stow import UploadNotStored, store_upload
from fhir_gateway import logs
from fhir_gateway.booking.routes import booking
from fhir_gateway.booking.service import BookingRules, BookingService
from fhir_gateway.booking.video import JitsiMeet, VideoService
from fhir_gateway.errors import (
    ApiError,
    InternalError,
    MethodNotAllowed,
    NotFound,
    operation_outcome,
    outcome_of,
)
from fhir_gateway.fhir.interactions import FhirService
from fhir_gateway.fhir.writes import QuestionnaireResponses
from fhir_gateway.his.connector import HisConnector
from fhir_gateway.his.sql import SqlConnector
from fhir_gateway.http import gzip_response, render
from fhir_gateway.routes import fhir, refuse_bad_text
from mappers import IdentifierSystems, MapContext
from notifications.booking import init_app as booking_events
from smart_auth.uploads.service import UploadRefused

from .health import health
from .settings import Settings, SettingsError

log = logging.getLogger("fhir_gateway")

_EXPOSED = ["ETag", "Last-Modified", "Location", "Content-Location", "X-Request-ID", "Retry-After"]
_ALLOWED = [
    "Authorization",
    "Content-Type",
    "Prefer",
    "If-None-Match",
    "If-Modified-Since",
    "If-Match",
    "X-Request-ID",
]

#: DICOMweb (PS3.18 §8.4, §10): what its requests send and what its responses carry
_DICOMWEB_ALLOWED = ["Authorization", "Accept", "Content-Type", "X-Request-ID"]
_DICOMWEB_EXPOSED = [
    "Content-Location",
    "Content-Type",
    "Content-Length",
    "Content-Disposition",
    "Location",
    "Warning",
    "Retry-After",
    "X-Request-ID",
]


#: Said by whatever serves requests without FHIR_GATEWAY_SECRET_KEY: what it signs then lives
#: and dies with the key made at start.
UNSHARED_KEY_NOTICE = (
    "FHIR_GATEWAY_SECRET_KEY is not set: paging links, sessions, audit cursors and viewer links "
    "are signed with a key made at start, so they stop working when the server restarts and "
    "no other host accepts them"
)

#: Said by whatever serves requests with the built-in video service and no Jitsi secret.
UNSIGNED_VIDEO_NOTICE = (
    "FHIR_GATEWAY_VIDEO_JITSI_SECRET is not set: video join links carry no token, so anyone "
    "holding a room's link can join it"
)


def serving_notices(settings: Settings) -> list[str]:
    """What a server about to answer requests says of its settings (``fhir-gateway serve``,
    ``gateway.wsgi``). Admin commands build the same app and say none of it: they sign and
    join nothing, and a warning there would teach people to ignore it."""
    notices = []
    if not settings.secret_key:
        notices.append(UNSHARED_KEY_NOTICE)
    if settings.video_service == "jitsi" and not settings.video_jitsi_secret:
        notices.append(UNSIGNED_VIDEO_NOTICE)
    return notices


def _version() -> str:
    try:
        return version("fhir-gateway")
    except PackageNotFoundError:
        return "0.1.0"


def identifier_systems(settings: Settings) -> IdentifierSystems:
    base = settings.identifier_base.rstrip("/")
    return IdentifierSystems.from_base(base, cnp=settings.cnp_system, pesel=settings.pesel_system)


def _pacs_backend(settings: Settings, pacs_settings: PacsSettings) -> PacsBackend:
    """The configured PACS backend: DIMSE (pynetdicom) or an upstream DICOMweb server."""
    if settings.pacs_backend == "dimse":
        return DimseBackend(pacs_settings)
    if settings.pacs_backend == "dicomweb":
        if not settings.pacs_dicomweb_url:
            raise SettingsError(
                "FHIR_GATEWAY_PACS_DICOMWEB_URL is required with FHIR_GATEWAY_PACS_BACKEND=dicomweb"
            )
        return UpstreamDicomwebBackend(
            settings.pacs_dicomweb_url,
            user=settings.pacs_dicomweb_user,
            password=settings.pacs_dicomweb_password,
            timeout_s=float(settings.pacs_dicomweb_timeout_s),
        )
    raise SettingsError("FHIR_GATEWAY_PACS_BACKEND must be 'dimse' or 'dicomweb'")


def pacs_settings_of(settings: Settings) -> PacsSettings:
    """The DIMSE backend's options from ``FHIR_GATEWAY_PACS_*`` (a bad value is SettingsError)."""
    try:
        return PacsSettings(
            host=settings.pacs_host,
            port=settings.pacs_port,
            called_aet=settings.pacs_called_aet,
            calling_aet=settings.pacs_calling_aet,
            retrieve_mode=settings.pacs_retrieve_mode,  # type: ignore[arg-type]
            storage_scp_aet=settings.pacs_storage_scp_aet,
            storage_scp_host=settings.pacs_storage_scp_host,
            storage_scp_port=settings.pacs_storage_scp_port,
            patient_id_source=settings.pacs_patient_id_source,  # type: ignore[arg-type]
            patient_id_issuer=settings.pacs_patient_id_issuer,
            pool_size=settings.pacs_pool_size,
            dimse_timeout_s=float(settings.pacs_dimse_timeout_s),
            connect_timeout_s=float(settings.pacs_connect_timeout_s),
        )
    except ValueError as exc:
        raise SettingsError(f"FHIR_GATEWAY_PACS_*: {exc}") from None


def create_app(
    config: Mapping[str, Any] | None = None,
    *,
    connector: HisConnector | None = None,
    authenticator: Authenticator | None = None,
    pacs: PacsBackend | None = None,
    pacs_settings: PacsSettings | None = None,
) -> Flask:
    """Build the gateway. ``config`` overrides ``FHIR_GATEWAY_*`` variables (tests use it).

    ``pacs``: the PACS backend behind ``/dicomweb`` (with ``pacs_settings``, the options it was
    built with); without one DICOMweb is not served.
    """
    settings = Settings.from_mapping(config)
    logs.configure(settings.log_level, settings.log_json)
    # Flask's instance folder is the gateway's data directory too, never a guess
    app = Flask(__name__, instance_path=settings.data_dir)
    app.config.update(SETTINGS=settings, VERSION=_version())
    if settings.proxy_hops:  # behind a load balancer: the client is the one it saw
        hops = settings.proxy_hops
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
    # Without a configured key each app makes its own. Only what serves requests says so
    # (``fhir-gateway serve``, ``gateway.wsgi``): the admin commands that build an app sign
    # and verify nothing, and a warning there would teach people to ignore it.
    secret = settings.secret_key.encode() if settings.secret_key else secrets.token_bytes(32)
    # The one signing secret: paging cursors, the session cookie, viewer tokens derive from it.
    app.secret_key = secret
    previous = tuple(key.encode() for key in settings.secret_key_previous)
    app.config["SECRET_KEY_FALLBACKS"] = list(previous)  # Flask's session cookie
    ctx = MapContext(systems=identifier_systems(settings))
    if connector is None:
        connector = SqlConnector.from_url(
            settings.his_url,
            ctx.systems,
            pool_size=settings.his_pool_size,
            timeout_s=settings.his_timeout_s,
        )
    if authenticator is None and settings.dev_open_access:
        authenticator = DevOpenAccess()
    # The one decision point of every surface; each package registers the validator of the
    # tokens it issues (specific prefixes first, the SMART bearer tokens last: they have none).
    policy = AccessPolicy(settings.base_url, fallback=authenticator)
    app.extensions["access_policy"] = policy
    if settings.dev_open_access:
        log.warning(
            "DEVELOPMENT OPEN ACCESS IS ON: every patient's data is served without "
            "authorization. Never enable FHIR_GATEWAY_DEV_OPEN_ACCESS with real data."
        )
    app.extensions["his"] = connector
    app.extensions["state_timeout_s"] = settings.state_timeout_s
    app.extensions["fhir_service"] = FhirService(
        connector,
        policy,
        ctx,
        base_url=settings.base_url,
        secret=secret,
        previous_secrets=previous,
        default_count=settings.default_count,
        max_count=settings.max_count,
        max_included=settings.max_included,
    )
    # F18: the patient saves and submits answers (PUT QuestionnaireResponse)
    app.extensions["questionnaire_responses"] = QuestionnaireResponses(
        app.extensions["fhir_service"]
    )
    app.register_blueprint(booking, url_prefix="/fhir")  # before the generic FHIR routes
    app.register_blueprint(fhir, url_prefix="/fhir")
    if pacs is None and settings.pacs_enabled:
        pacs_settings = pacs_settings_of(settings)
        pacs = _pacs_backend(settings, pacs_settings)  # connects on the first request
        app.extensions["pacs_backend"] = pacs  # built here: whoever stops the app closes it
    if pacs is not None:
        dicomweb_web.init_app(
            app,
            DicomwebContext(
                backend=pacs,
                pacs=pacs_settings or PacsSettings(),
                policy=policy,
                his=connector,
                base_url=settings.base_url.removesuffix("/fhir") + "/dicomweb",
            ),
        )
    smart_auth_ratelimit.init_app(app, settings)
    smart_auth_botcheck.init_app(app, settings)
    smart_auth_results.init_app(app, settings)
    smart_auth_sharing.init_outside(app, settings)
    if settings.oauth_enabled:
        import smart_auth.web as smart_auth_web

        policy.register_token_validator(smart_auth_web.init_app(app, settings))
    smart_auth_design.init_app(app, settings)
    smart_auth_accounts.init_app(app, settings)
    notification_pages.init_app(app, settings)  # F22: the patient's own preferences
    smart_auth_audit.init_app(app, settings)
    smart_auth_sharing.init_app(app, settings)
    uploads = smart_auth_uploads.init_app(app, settings)
    # F18: an attachment answer may also be one of the patient's own uploads (F17)
    answers = app.extensions["questionnaire_responses"]
    in_his = answers.attachment_check
    answers.attachment_check = lambda patient, reference: (
        uploads.is_upload(reference, patient) or in_his(patient, reference)
    )
    if "dicomweb" in app.extensions:
        uploads.dicom_sink = _dicom_sink(app.extensions["dicomweb"])
    _booking(app, settings)
    # FHIR Subscriptions of apps (R4 Subscriptions Backport IG), delivered by the worker
    notifications_routes.init_app(app, settings)
    app.extensions["capability_statement"] = lambda: capability_statement(
        settings.base_url,
        app.config["VERSION"],
        app.config.get("SECURITY"),
        app.config.get("CAPABILITY_RESOURCES", ()),
        app.config.get("CAPABILITY_INTERACTIONS", ()),
    )
    app.register_blueprint(health)
    _cors(app, settings)
    _hooks(app, settings)
    _errors(app)
    return app


def _dicom_sink(ctx: DicomwebContext) -> Callable[[int, BinaryIO], None]:
    """A patient's uploaded DICOM file goes to the PACS the way STOW-RS stores (F17)."""

    def sink(patient: int, stream: BinaryIO) -> None:
        try:
            store_upload(ctx, patient, stream.read())
        except UploadNotStored as exc:
            kind = "unavailable" if exc.transient else "invalid"
            raise UploadRefused(
                kind, f"The PACS did not take the DICOM file: {exc.reason}"
            ) from None

    return sink


def video_service(settings: Settings) -> VideoService | None:
    """The configured video service of video consultations (None: none)."""
    if settings.video_service == "none":
        return None
    if settings.video_service != "jitsi":
        raise SettingsError("FHIR_GATEWAY_VIDEO_SERVICE must be 'jitsi' or 'none'")
    return JitsiMeet(
        settings.video_jitsi_url,
        app_id=settings.video_jitsi_app_id,
        secret=settings.video_jitsi_secret,
        audience=settings.video_jitsi_audience,
        lead=dt.timedelta(minutes=settings.video_join_before_min),
    )


def _booking(app: Flask, settings: Settings) -> None:
    """Appointment/$find and $book (F19), video rooms and join links (F20), and the
    appointment events the notifications deliver."""
    fhir_service: FhirService = app.extensions["fhir_service"]
    service = BookingService(
        fhir_service,
        BookingRules(
            change_window=dt.timedelta(hours=settings.booking_change_window_h),
            find_days=settings.booking_find_days,
            find_max=settings.booking_find_max,
        ),
        video=video_service(settings),
        events=booking_events(app, settings),
    )
    app.extensions["booking_service"] = service
    fhir_service.finishers["Appointment"] = service.finish


def shutdown(app: Flask) -> None:
    """Close what ``create_app`` opened for itself: the PACS backend's associations and the
    audit writer.

    Called by gunicorn's ``worker_exit`` hook. It must run before the interpreter's own shutdown:
    pynetdicom's DUL threads are not daemon threads, so a worker with an idle association in its
    pool would otherwise wait for them forever and be killed once the graceful timeout ran out.
    Safe to call more than once.
    """
    pacs = app.extensions.get("pacs_backend")
    if pacs is not None:
        pacs.close()
    writer = app.extensions.get("audit_writer")
    if writer is not None:
        writer.close()  # commit what is queued; the journal is then empty and removed


def _cors(app: Flask, settings: Settings) -> None:
    """Discovery is open to any origin; the API to the configured origins only."""
    common = {"expose_headers": _EXPOSED, "allow_headers": _ALLOWED, "max_age": 600}
    resources: dict[str | re.Pattern[str], dict[str, Any]] = {
        r"/fhir/metadata": {"origins": "*", **common}
    }
    if settings.cors_origins:
        resources[r"/fhir/*"] = {"origins": list(settings.cors_origins), **common}
        # DICOMweb from a browser viewer (OHIF): QIDO/WADO GET, STOW POST; preflights answered
        # without authentication; the multipart and paging headers readable by the script
        resources[r"/dicomweb/*"] = {
            "origins": list(settings.cors_origins),
            "methods": ["GET", "HEAD", "POST", "OPTIONS"],
            "allow_headers": _DICOMWEB_ALLOWED,
            "expose_headers": _DICOMWEB_EXPOSED,
            "max_age": 600,
        }
    CORS(app, resources=resources)


def _hooks(app: Flask, settings: Settings) -> None:
    @app.before_request
    def _start() -> None:
        incoming = request.headers.get("X-Request-ID", "")
        rid = incoming if incoming.isalnum() and len(incoming) <= 64 else uuid.uuid4().hex
        g.request_id = rid
        g.token = logs.request_id.set(rid)
        g.started = time.perf_counter()

    @app.after_request
    def _finish(response: Response) -> Response:
        response.headers["X-Request-ID"] = g.get("request_id", "")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response = gzip_response(request, response, settings.gzip_min_bytes)
        rule = request.url_rule.rule if request.url_rule else "(no route)"
        log.info(
            "request",
            extra={
                "method": request.method,
                "route": rule,
                "status": response.status_code,
                "ms": round(
                    (time.perf_counter() - g.get("started", time.perf_counter())) * 1000, 2
                ),
            },
        )
        return response

    # the FHIR surface's input check, every FHIR type's, once the request has its id
    app.before_request(refuse_bad_text)

    @app.teardown_request
    def _reset(_exc: BaseException | None) -> None:
        token = g.pop("token", None)
        if token is not None:
            logs.request_id.reset(token)


def _errors(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _fhir_error(exc: ApiError) -> Response:
        return render(outcome_of(exc), exc.status, exc.headers)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        if exc.code == 404:
            return _fhir_error(NotFound("There is nothing at this address"))
        if exc.code == 405:
            return _fhir_error(MethodNotAllowed("This method is not supported here"))
        status = exc.code or 500
        return render(
            operation_outcome("error", "invalid" if status < 500 else "exception", exc.name), status
        )

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        log.error("unexpected error", extra={"error": logs.error_place(exc)})
        return _fhir_error(
            InternalError(
                "The server failed to answer; quote request id "
                f"{g.get('request_id', '-')} to support"
            )
        )
