"""The gateway's one typed settings object.

Every option is read here, from environment variables prefixed ``FHIR_GATEWAY_`` (or from a
mapping passed to ``create_app``), and documented with its default. Nothing else in the project
reads ``os.environ``. The README's configuration reference is generated from ``OPTIONS``
(``fhir-gateway config --markdown``).
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import re
import zoneinfo
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

PREFIX = "FHIR_GATEWAY_"


class SettingsError(ValueError):
    """A setting has a value the gateway cannot use; the message names the variable."""


def _bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError("expected true/false")


def _list(raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


_PARSERS: dict[type, Callable[[str], Any]] = {
    str: str,
    int: int,
    float: float,
    bool: _bool,
    tuple: _list,
}


def _from_file(variable: str) -> str:
    """The value of a setting kept in a file (``FHIR_GATEWAY_X_FILE``: a secret handed over by
    systemd's LoadCredential, a container secret, a file only the service user reads), without
    the trailing line break."""
    path = os.environ[variable]
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{variable}: cannot read the file ({type(exc).__name__})") from None


def _opt(default: Any, doc: str) -> Any:
    return field(default=default, metadata={"doc": doc})


#: Options naming a directory of the gateway's own: a relative value is within DATA_DIR.
_DIRECTORIES = ("audit_journal_dir", "outbox_dir", "dicomweb_cache_dir", "ohif_dir", "uploads_dir")
#: Options holding a database URL: a relative SQLite file is within DATA_DIR.
_DATABASES = ("his_url", "state_url", "portal_state_url")


def default_data_dir() -> Path:
    """Where the gateway keeps its files when DATA_DIR is not set: the XDG Base Directory
    data home (``$XDG_DATA_HOME``, ``~/.local/share`` when unset or not absolute) plus
    ``fhir-gateway``; never the working directory."""
    xdg = os.environ.get("XDG_DATA_HOME", "")
    home = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".local" / "share"
    return home / "fhir-gateway"


def within(base: Path, value: str) -> str:
    """``value`` (a path, ``~`` expanded) as an absolute path, a relative one taken from
    ``base``."""
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else base / path)


def sqlite_within(base: Path, url: str) -> str:
    """A database URL whose SQLite file, when relative, is taken from ``base``; any other URL
    (a server database, an in-memory SQLite one) unchanged."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return url  # not a URL at all: the engine says so when it is used
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or database in (None, "", ":memory:"):
        return url
    if database.startswith("file:") or Path(database).expanduser().is_absolute():
        return url
    return parsed.set(database=within(base, database)).render_as_string(hide_password=False)


@dataclass(frozen=True)
class Settings:
    """Gateway configuration; field ``x_y`` is the environment variable ``FHIR_GATEWAY_X_Y``."""

    data_dir: str = _opt(
        "",
        "Directory of the gateway's own files, never the working directory: a relative SQLite "
        "file in HIS_URL or STATE_URL and a relative AUDIT_JOURNAL_DIR, OUTBOX_DIR, "
        "DICOMWEB_CACHE_DIR or OHIF_DIR are taken from it (as are `fhir-gateway pacs` files). "
        "An absolute path (~ is expanded). Empty: $XDG_DATA_HOME/fhir-gateway, that is "
        "~/.local/share/fhir-gateway without XDG_DATA_HOME.",
    )
    his_url: str = _opt(
        "sqlite:///his.sqlite",
        "SQLAlchemy URL of the HIS database (SQLite file or postgresql+psycopg://...); a "
        "relative SQLite file is within DATA_DIR.",
    )
    his_pool_size: int = _opt(5, "Connections kept open to the HIS per worker.")
    his_timeout_s: float = _opt(
        10.0,
        "Seconds the gateway waits for the HIS: to connect, for a pooled connection, and for "
        "each query (the server's statement timeout, then a client-side deadline a little "
        "later that cuts a connection the HIS stopped answering on). A request that needs a "
        "hung HIS answers 503 with Retry-After within about twice this.",
    )
    host: str = _opt("127.0.0.1", "Address the server listens on.")
    port: int = _opt(8080, "Port the server listens on.")
    public_base_url: str = _opt(
        "",
        "Absolute FHIR base URL as clients see it (behind a proxy); "
        "empty means http://HOST:PORT/fhir. Paging links and Bundle fullUrls use it.",
    )
    workers: int = _opt(0, "gunicorn worker processes; 0 means 2 x CPU cores + 1.")
    threads: int = _opt(
        1,
        "Threads per gunicorn worker for API requests. /health/live has its own thread in "
        "every worker besides these, so it answers while they all wait on the HIS.",
    )
    proxy_hops: int = _opt(
        0,
        "Reverse proxies (load balancers) in front of the gateway whose X-Forwarded-For and "
        "X-Forwarded-Proto it believes: the client address of the per-address limits "
        "(sign-in, result codes, AUTH_RATE_LIMIT) is then the one the nearest of them saw, "
        "not the balancer's own. 0: the connection's address (a gateway reached directly). "
        "Never more than there are: a client could then name any address.",
    )
    default_count: int = _opt(20, "Page size of a search without _count.")
    max_count: int = _opt(1000, "Largest _count honoured; larger values are lowered to it.")
    max_included: int = _opt(
        1000, "Most resources _include/_revinclude add to one page; beyond it a warning is added."
    )
    secret_key: str = _opt(
        "",
        "Key that signs paging cursors. Empty: `fhir-gateway serve` makes a random one that "
        "its workers share (links then die with the server); set it when running several "
        "hosts or when links must survive restarts.",
    )
    secret_key_previous: tuple = _opt(
        (),
        "Former SECRET_KEY values, comma-separated: what they signed (paging links, sessions, "
        "viewer links) still verifies, nothing new is signed with them. Rotate by moving the "
        "old key here and setting a new SECRET_KEY on every host; drop it once what it signed "
        "has expired (VIEWER_TOKEN_TTL_S, a session; paging links: a day is plenty).",
    )
    dev_open_access: bool = _opt(
        False,
        "DEVELOPMENT ONLY: serve every patient's data without authorization. Logged loudly.",
    )
    cors_origins: tuple = _opt(
        (), "Comma-separated origins allowed to call the API from a browser (* for any)."
    )
    log_level: str = _opt("INFO", "Python logging level.")
    log_json: bool = _opt(True, "Write logs as one JSON object per line.")
    gzip_min_bytes: int = _opt(1024, "Responses larger than this are gzip-compressed on request.")
    cnp_system: str = _opt(
        "https://his.hospital.example/fhir/sid/cnp",
        "Identifier.system of the Romanian CNP; set it to your national guide's namespace.",
    )
    pesel_system: str = _opt(
        "urn:oid:2.16.840.1.113883.3.4424.1.1.616", "Identifier.system of the Polish PESEL."
    )
    identifier_base: str = _opt(
        "https://his.hospital.example/fhir",
        "Base of the hospital's own identifier namespaces and local code systems.",
    )

    stow_max_bytes: int = _opt(
        512 * 1024 * 1024,
        "Largest STOW-RS request body accepted, in bytes (PS3.18 §10.5); larger is 413.",
    )
    pacs_backend: str = _opt(
        "dimse",
        "How the gateway reaches its PACS: 'dimse' (C-FIND/C-GET/C-STORE) or 'dicomweb' "
        "(an upstream QIDO/WADO/STOW-RS server at PACS_DICOMWEB_URL).",
    )
    pacs_dicomweb_url: str = _opt(
        "",
        "Base URL of the upstream DICOMweb server (pacs_backend=dicomweb), e.g. Orthanc's "
        "http://pacs:8042/dicom-web.",
    )
    pacs_dicomweb_user: str = _opt("", "HTTP basic user for the upstream DICOMweb server.")
    pacs_dicomweb_password: str = _opt("", "HTTP basic password for the upstream DICOMweb server.")
    pacs_dicomweb_timeout_s: int = _opt(
        30, "Seconds to connect to, and between bytes from, the upstream DICOMweb server."
    )

    state_url: str = _opt(
        "sqlite:///state.sqlite",
        "SQLAlchemy URL of the gateway's own state database (accounts, codes, tokens); a "
        "relative SQLite file is within DATA_DIR.",
    )
    audit_journal_dir: str = _opt(
        "",
        "Directory of this host's audit journal: each worker appends every audit record there "
        "before answering, and the records a killed worker left are written to the state "
        "database by the next worker that starts (or within 30 s by any running one). Empty: "
        "next to a SQLite state database (<file>.audit-journal), else DATA_DIR/audit-journal. "
        "A subdirectory per state database keeps the journals of different databases apart; "
        "records the database refuses are set aside in dead-letter.jsonl there.",
    )
    audit_journal_sync: str = _opt(
        "fdatasync",
        "How each audit journal line is made durable before its answer leaves: 'fdatasync' "
        "(on the disk: it survives a power cut of the host; answers a worker's threads give "
        "together share one sync; each answer waits for one, which costs a worker with one "
        "thread much of its throughput: give it several, THREADS=4, see BENCHMARKS.md) or "
        "'none' (in the "
        "kernel only: it survives a killed worker, but a power cut loses the records of the "
        "last moments, at most the writer's 50 ms linger under normal load).",
    )
    state_timeout_s: float = _opt(
        10.0,
        "Seconds the gateway waits for its state database: to connect, for a pooled "
        "connection, for a locked SQLite file, and for each statement.",
    )
    accounts_national_id: str = _opt(
        "CNP", "National ID patients register with: CNP (Romania) or PESEL (Poland)."
    )
    accounts_second_factor: str = _opt(
        "none",
        "Second factor after every password sign-in: none, email (a mailed code) or sms "
        "(a 4-digit SMS code). TOTP, where a person turned it on, always applies.",
    )
    accounts_max_failed_logins: int = _opt(
        5, "Consecutive wrong passwords that lock an account until an admin unlocks it."
    )
    accounts_support_contact: str = _opt(
        "",
        "Whom a locked-out person is told to contact (shown on the sign-in page), as the "
        "pages' sentences name it (e.g. the desk's phone number). Empty: \"the hospital's "
        "registration desk\", in the page's language.",
    )
    accounts_clause_version: str = _opt(
        "1",
        "Version of the information clause; raising it asks every account to accept it again.",
    )
    accounts_admin_token: str = _opt(
        "",
        "Bearer token of the registration desk's admin API (POST /account/api/accounts); "
        "empty disables the API.",
    )
    questionnaires_link: str = _opt(
        "",
        "Link of the questionnaire-assigned notification, {id} standing for the "
        "QuestionnaireResponse id (the portal's questionnaire page); empty: the portal link "
        "(NOTIFY_LINK_URL).",
    )
    questionnaires_lookback_s: int = _opt(
        600,
        "Seconds each poll of new assignments looks back before its cursor, for assignments "
        "the HIS committed late (none is announced twice).",
    )
    questionnaires_max_age_days: int = _opt(
        30,
        "Assignments sent longer ago than this are not announced (the worker's first poll "
        "does not announce the HIS's history).",
    )
    smtp_host: str = _opt("", "SMTP server for account mail; empty writes mail to the outbox.")
    smtp_port: int = _opt(25, "SMTP server port.")
    smtp_starttls: bool = _opt(False, "Use STARTTLS (RFC 3207) with the SMTP server.")
    smtp_user: str = _opt("", "SMTP AUTH user; empty sends without authentication.")
    smtp_password: str = _opt("", "SMTP AUTH password.")
    smtp_timeout_s: float = _opt(
        10.0, "Seconds to connect to the SMTP server and to wait for each of its answers."
    )
    mail_from: str = _opt("portal@hospital.example", "From address of account mail.")
    sms_url: str = _opt(
        "", "HTTP endpoint of the SMS provider (JSON POST); empty writes SMS to the outbox."
    )
    sms_token: str = _opt("", "Bearer token for the SMS provider.")
    sms_timeout_s: float = _opt(
        10.0,
        "Seconds to connect to the SMS provider and to wait for each part of its answer.",
    )
    outbox_dir: str = _opt(
        "outbox",
        "Directory where mail (mail/*.eml) and SMS (sms/*.json) land when no SMTP server or "
        "SMS provider is configured (development; the demo sends both to its printing sinks).",
    )

    queue_url: str = _opt(
        "",
        "Broker of the job queue: empty keeps the jobs in the state database (one host, or "
        "hosts sharing a PostgreSQL state database); redis://host:6379/1 for Redis.",
    )
    queue_namespace: str = _opt(
        "fhir-gateway",
        "Redis broker: prefix of the queue's keys (deployments sharing one Redis differ here).",
    )
    queue_threads: int = _opt(4, "Jobs one `fhir-gateway worker` runs at once (threads).")
    queue_lease_s: float = _opt(
        120.0,
        "Seconds a job taken from the state database is reserved for its worker; the job of "
        "a worker killed mid-job is run again after this (and a delivery sent again at most "
        "once more). Also the longest a job may run.",
    )
    queue_poll_s: float = _opt(
        0.2, "Seconds between two looks at the state database's queue when it is empty."
    )
    queue_heartbeat_s: float = _opt(
        60.0,
        "Redis broker: seconds without a heartbeat after which a worker is taken for dead "
        "and its jobs are put back on the queue.",
    )
    notify_his_poll_s: float = _opt(
        5.0, "Seconds between two reads of the HIS change feed (results, documents, ...)."
    )
    notify_his_settle_s: float = _opt(
        10.0,
        "Seconds of the HIS change feed read again at each poll: rows a HIS transaction "
        "stamped before the last poll but committed after it are still seen. At least the "
        "HIS's longest writing transaction.",
    )
    notify_pacs_poll_s: float = _opt(
        60.0, "Seconds between two looks at the PACS for the images of open imaging orders."
    )
    notify_pacs_lookback_days: int = _opt(
        14, "Imaging orders placed in the last N days are watched for their images."
    )
    notify_reminder_before_h: float = _opt(
        24.0, "Hours before an appointment its reminder is sent."
    )
    notify_reminder_every_s: float = _opt(
        300.0, "Seconds between two sweeps for appointments to remind of."
    )
    notify_sweep_every_s: float = _opt(
        60.0, "Seconds between two sweeps for deliveries whose job was lost."
    )
    notify_max_attempts: int = _opt(
        6,
        "Attempts at one message before it joins the list of undeliverable messages "
        "(`fhir-gateway notifications undeliverable`).",
    )
    notify_min_backoff_s: float = _opt(
        5.0, "Seconds before the second attempt; each further attempt waits twice as long."
    )
    notify_max_backoff_s: float = _opt(900.0, "The longest wait between two attempts.")
    notify_language: str = _opt(
        "ro", "Language of notifications for patients who chose none (ro, pl, en)."
    )
    notify_email_kinds: tuple[str, ...] = _opt(
        ("all",),
        "Event kinds mailed to patients who chose nothing (comma-separated; all; empty: none).",
    )
    notify_sms_kinds: tuple[str, ...] = _opt(
        (),
        "Event kinds sent by SMS to patients who chose nothing (comma-separated; all).",
    )
    notify_link_url: str = _opt(
        "",
        "The page every notification links to; empty: the portal's /account/ page under "
        "PUBLIC_BASE_URL.",
    )
    subscription_allow_http: bool = _opt(
        False,
        "FHIR Subscriptions: accept http:// endpoints besides https:// (a test or a closed "
        "network only: notifications carry patient data).",
    )
    subscription_allow_private: bool = _opt(
        False,
        "FHIR Subscriptions: accept endpoints on private, loopback and unique-local "
        "addresses (never link-local, multicast or reserved ones: see "
        "SUBSCRIPTION_ALLOWED_NETWORKS).",
    )
    subscription_allowed_networks: tuple = _opt(
        (),
        "FHIR Subscriptions: comma-separated networks (10.20.0.0/16, fd00:1::/64) endpoints "
        "may be on although not public; checked at creation and at every delivery.",
    )
    subscription_timeout_s: int = _opt(
        10,
        "FHIR Subscriptions: the longest a POST to an endpoint may take, at most 60 (an "
        "app's backport-timeout may ask for less).",
    )
    subscription_heartbeat_min_s: int = _opt(
        60, "FHIR Subscriptions: the shortest heartbeat period (shorter asks are raised to it)."
    )
    subscription_tick_s: float = _opt(
        5.0,
        "FHIR Subscriptions: seconds between two looks for handshakes to send, heartbeats "
        "due, subscriptions whose authorization ended and deliveries whose job was lost.",
    )
    subscription_max_per_app: int = _opt(
        20, "FHIR Subscriptions: the most subscriptions one app may hold for one person."
    )

    viewer_token_ttl_s: int = _opt(
        900,
        "Seconds a viewer link's token (bound to one study) stays valid after it is minted.",
    )
    ohif_dir: str = _opt(
        "ohif/dist",
        "The OHIF viewer's built files (scripts/install-ohif.sh), served under /viewer; "
        "the viewer is not served when the folder is missing.",
    )

    booking_change_window_h: float = _opt(
        24.0,
        "Hours before an appointment's start after which the patient can no longer cancel or "
        "move it through Appointment/$book (the hospital's desk still can).",
    )
    booking_find_days: int = _opt(
        30, "Days after its start that Appointment/$find searches when it is given no end."
    )
    booking_find_max: int = _opt(100, "The most proposed appointments one $find answers.")
    video_service: str = _opt(
        "jitsi",
        "Video service of video consultations: jitsi (Jitsi Meet with JWT room "
        "authentication) or none (video slots are booked without a room).",
    )
    video_jitsi_url: str = _opt(
        "https://meet.hospital.example",
        "Base address of the Jitsi Meet deployment; rooms are made under it.",
    )
    video_jitsi_app_id: str = _opt(
        "fhir-gateway", "The app id (JWT iss) the Jitsi deployment's token authentication knows."
    )
    video_jitsi_secret: str = _opt(
        "",
        "The shared secret (HS256) of the Jitsi deployment's token authentication; empty: join "
        "links carry the room address without a token (a Jitsi without authentication).",
    )
    video_jitsi_audience: str = _opt(
        "jitsi", "The audience (JWT aud) the Jitsi deployment accepts."
    )
    video_join_before_min: int = _opt(
        15, "Minutes before the start from which a join link's token lets the patient in."
    )

    altcha_enabled: bool = _opt(
        True,
        "Ask for an ALTCHA proof of work (computed by the browser, no third party) on "
        "registration, on sign-in after a failed attempt, on the forgotten-password form and "
        "on result-code access (POST /auth/result-access). Turn off only for tests.",
    )
    altcha_hmac_secret: str = _opt(
        "",
        "Key signing the proof-of-work challenges (HMAC-SHA-256); equal on every host (best "
        "given as ALTCHA_HMAC_SECRET_FILE). Empty: derived from SECRET_KEY.",
    )
    altcha_cost: int = _opt(
        5000,
        "PBKDF2-SHA-256 iterations of each try of the proof of work; a browser needs 256 tries "
        "on average, so the work (and a bot's cost) grows with it.",
    )
    altcha_ttl_s: int = _opt(
        600, "Seconds a proof-of-work challenge stays valid; each solution is accepted once."
    )

    portal_fhir_url: str = _opt(
        "",
        "The gateway's FHIR base URL as the patient portal reaches it over HTTP (the portal "
        "may run on its own hosts), e.g. https://fhir.example.org/fhir. Empty: the portal "
        "cannot start.",
    )
    portal_public_url: str = _opt(
        "http://127.0.0.1:8090",
        "The portal's own address as browsers reach it; its OAuth redirect URI is this plus "
        "/callback. https:// in production: the session cookie is then __Host-portal, Secure, "
        "HttpOnly, SameSite=Strict. Only on http://127.0.0.1 (the demo, the tests) is it "
        "plain `portal`, without Secure, which browsers refuse over plain HTTP.",
    )
    portal_client_id: str = _opt(
        "",
        "The portal's client id at the gateway's authorization server (a confidential app, "
        "client_secret_basic): `fhir-gateway oauth register-app --confidential` prints it.",
    )
    portal_client_secret: str = _opt(
        "", "The portal's client secret (best given as PORTAL_CLIENT_SECRET_FILE)."
    )
    portal_secret_key: str = _opt(
        "",
        "Key signing the portal's CSRF tokens; equal on every portal host. Empty: a random "
        "key per process (forms fail across restarts and hosts).",
    )
    portal_state_url: str = _opt(
        "sqlite:///portal.sqlite",
        "SQLAlchemy URL of the portal's session store (the tokens stay there, server-side); a "
        "relative SQLite file is within DATA_DIR.",
    )
    portal_session_h: float = _opt(
        8.0, "Hours a portal session lasts without use before it is forgotten."
    )
    portal_http_timeout_s: float = _opt(
        10.0, "Seconds the portal waits for the gateway on each HTTP request."
    )
    portal_hospital_name: str = _opt(
        "Hospital", "The hospital's name in the portal's header and page titles."
    )
    portal_logo_url: str = _opt(
        "", "Address of the hospital's logo (same origin or data:), shown in the header."
    )
    portal_colour: str = _opt(
        "#2b5f75", "The hospital's colour (#rrggbb) of the portal's header and buttons."
    )
    portal_emergency_number: str = _opt(
        "112", "The emergency number in the box on the portal's home page."
    )
    portal_default_locale: str = _opt(
        "ro", "The portal's language when the browser asks for none of ro, pl, en."
    )
    portal_time_zone: str = _opt(
        "Europe/Bucharest",
        "The hospital's time zone (an IANA name, e.g. Europe/Warsaw): the portal writes the "
        "times of appointments, encounters and documents in it.",
    )
    portal_partners: tuple[str, ...] = _opt(
        (),
        "The partner clinics a patient may share their record with from the portal "
        "(comma-separated `client-id=Name`: each partner's client id at the gateway, as "
        "`fhir-gateway oauth register-partner` gave it, and the name patients see). Empty: the "
        "portal offers only shares with a person outside, by link and PIN.",
    )
    portal_home: str = _opt(
        "welcome",
        "The portal's home page after sign-in: welcome (a tile per service and the emergency "
        'box) or studies ("My studies", as Polish portals open: the active patient\'s '
        "laboratory, paraclinical and imaging reports and imaging studies, newest first).",
    )

    oauth_code_lifetime_s: int = _opt(
        60, "Seconds an OAuth authorization code stays usable (once); at most 60."
    )
    oauth_access_token_lifetime_s: int = _opt(3600, "Seconds a SMART access token lives.")
    oauth_refresh_token_lifetime_s: int = _opt(
        90 * 86400, "Seconds an offline_access refresh-token family lives (rotated on each use)."
    )
    oauth_online_refresh_lifetime_s: int = _opt(
        8 * 3600, "Seconds an online_access refresh-token family lives."
    )
    oauth_backend_token_lifetime_s: int = _opt(
        300, "Seconds a backend-services (client_credentials) token lives; at most 300."
    )
    oauth_token_cache_s: float = _opt(
        5.0,
        "Seconds a worker may answer an access token from its own memory instead of the state "
        "database, used only with REDIS_URL: every revocation increments a counter there, and a "
        "remembered token counts only while the counter is unchanged, so a revocation made on "
        "any worker or host holds at once everywhere. Without Redis, or while it does not "
        "answer, every token is looked up on every request. 0: no memory.",
    )
    oauth_dynamic_registration: bool = _opt(
        False, "Accept RFC 7591 dynamic registration of public patient apps at /oauth/register."
    )
    oauth_enabled: bool = _opt(
        True,
        "Serve the SMART authorization server and make the FHIR API require its bearer tokens "
        "(ignored while DEV_OPEN_ACCESS is on).",
    )

    dicomweb_cache_dir: str = _opt(
        "dicomweb-cache",
        "Directory of the on-disk cache of retrieved DICOM instances, shared by the workers of "
        "a host (WADO-RS answers from it); empty disables the cache.",
    )
    dicomweb_cache_max_bytes: int = _opt(
        2 * 1024 * 1024 * 1024,
        "Size limit of the DICOM instance cache in bytes; least recently used instances go first.",
    )

    results_token_ttl_s: int = _opt(
        900,
        "Seconds the read-only grant from a result code (F9, POST /auth/result-access) lives; "
        "it covers that one DiagnosticReport and its PDF.",
    )
    results_max_attempts: int = _opt(
        5,
        "Wrong result codes allowed per national ID and per address before further attempts "
        "are refused (429) for RESULTS_BLOCK_S seconds.",
    )
    results_block_s: int = _opt(
        900, "Seconds result-code attempts stay refused once RESULTS_MAX_ATTEMPTS is reached."
    )
    shares_token_ttl_s: int = _opt(
        900,
        "Seconds the read-only grant a share's PIN opens (F21, /share/...) lives; it covers "
        "what the patient shared and nothing else, and ends with the share.",
    )
    shares_max_attempts: int = _opt(
        5,
        "Wrong PINs a share with a person outside allows; the one that reaches it locks the "
        "share for good and the patient is told by mail.",
    )
    shares_max_days: int = _opt(
        90, "Longest time limit, in days, of a share with a person outside."
    )
    auth_rate_limit: int = _opt(
        600,
        "Requests per client address per AUTH_RATE_WINDOW_S accepted by each of POST "
        "/oauth/token, /auth/result-access and /account/login; more answer 429 with "
        "Retry-After. Counted in Redis when REDIS_URL is set, else in the state database, so "
        "every worker and host shares the count. 0: no limit.",
    )
    auth_rate_window_s: int = _opt(60, "Length in seconds of the AUTH_RATE_LIMIT window.")
    redis_url: str = _opt(
        "",
        "Optional Redis URL (redis://host:6379/0, rediss:// over TLS) holding, for every "
        "worker and host, the AUTH_RATE_LIMIT counters and the token revocation counter that "
        "lets workers remember tokens (OAUTH_TOKEN_CACHE_S); empty, or while Redis does not "
        "answer within half a second: the counters are kept in the state database and no "
        "token is remembered.",
    )

    uploads_dir: str = _opt(
        "uploads",
        "Directory where patients' uploaded files are stored (F17). Every worker and host of a "
        "deployment must see the same directory (a shared volume): the metadata is in the "
        "state database, the bytes here.",
    )
    uploads_max_file_bytes: int = _opt(
        50 * 1000 * 1000, "Largest file a patient may upload, in bytes; larger is 413."
    )
    uploads_quota_bytes: int = _opt(
        200 * 1000 * 1000,
        "Bytes of uploads a patient may keep in all; an upload that would go over it is 413.",
    )
    uploads_lease_s: int = _opt(
        60,
        "Seconds an upload in progress holds its share of the quota without a sign of life "
        "from the worker receiving it (renewed while bytes arrive); the reservation and the "
        "partial file of a worker that died are removed once it runs out.",
    )
    uploads_max_seconds: int = _opt(
        1800, "Longest an upload may take to arrive, in seconds; a slower one is refused (408)."
    )
    uploads_unattached_s: int = _opt(
        86400,
        "Seconds an uploaded Binary no DocumentReference points at is kept before it is removed.",
    )

    pacs_enabled: bool = _opt(
        False,
        "Serve DICOMweb (/dicomweb) in front of a PACS; false: no DICOMweb. With "
        "PACS_BACKEND=dimse the PACS_HOST/PORT/AET settings below say how to reach it.",
    )
    pacs_host: str = _opt("127.0.0.1", "Host name or address of the PACS (DIMSE).")
    pacs_port: int = _opt(4242, "DICOM port of the PACS.")
    pacs_called_aet: str = _opt("ORTHANC", "AE title of the PACS (Called AE Title).")
    pacs_calling_aet: str = _opt(
        "FHIRGW", "AE title the gateway calls from; the PACS must know it (C-FIND, C-GET)."
    )
    pacs_retrieve_mode: str = _opt(
        "c-get", "c-get (instances on the requesting association) or c-move (to the SCP below)."
    )
    pacs_storage_scp_aet: str = _opt("FHIRGW_SCP", "AE title of the gateway's C-MOVE storage SCP.")
    pacs_storage_scp_host: str = _opt(
        "127.0.0.1", "Address the C-MOVE storage SCP listens on (the PACS must reach it)."
    )
    pacs_storage_scp_port: int = _opt(11113, "Port of the C-MOVE storage SCP (c-move only).")
    pacs_patient_id_source: str = _opt(
        "mrn", "Which HIS identifier is the DICOM PatientID: 'mrn' or 'national_id'."
    )
    pacs_patient_id_issuer: str = _opt(
        "",
        "Issuer of Patient ID (0010,0021) qualifying the PatientIDs in the PACS; when set, a "
        "study is a patient's only if it carries this issuer too. Empty: PatientID alone.",
    )
    pacs_pool_size: int = _opt(4, "Associations kept open to the PACS per worker, at most.")
    pacs_dimse_timeout_s: int = _opt(30, "Seconds to wait for each DIMSE response.")
    pacs_connect_timeout_s: int = _opt(5, "TCP connection timeout to the PACS, in seconds.")

    def __post_init__(self) -> None:
        """Every path made absolute from DATA_DIR, so that commands started anywhere agree on
        the files (check-config shows the absolute ones)."""
        if self.data_dir:
            base = Path(self.data_dir).expanduser()
            if not base.is_absolute():
                raise SettingsError(f"{PREFIX}DATA_DIR must be an absolute path")
        else:
            base = default_data_dir()
        object.__setattr__(self, "data_dir", str(base))
        for name in _DIRECTORIES:
            value = getattr(self, name)
            if value:  # empty keeps its meaning (no cache, the journal's own default)
                object.__setattr__(self, name, within(base, value))
        for name in _DATABASES:
            object.__setattr__(self, name, sqlite_within(base, getattr(self, name)))

    @property
    def base_url(self) -> str:
        """The FHIR base URL clients use, without a trailing slash."""
        if self.public_base_url:
            return self.public_base_url.rstrip("/")
        return f"http://{self.host}:{self.port}/fhir"

    @classmethod
    def from_mapping(
        cls, values: Mapping[str, Any] | None = None, *, environ: bool = True
    ) -> Settings:
        """Build settings from ``FHIR_GATEWAY_*`` environment variables, then ``values``.

        Any option may instead name a file holding its value, ``FHIR_GATEWAY_<NAME>_FILE``
        (used when ``FHIR_GATEWAY_<NAME>`` itself is not set): secrets stay out of the
        environment and the unit file."""
        raw: dict[str, Any] = {}
        if environ:
            for f in fields(cls):
                env = os.environ.get(PREFIX + f.name.upper())
                if env is None and os.environ.get(PREFIX + f.name.upper() + "_FILE"):
                    env = _from_file(PREFIX + f.name.upper() + "_FILE")
                if env is not None:
                    raw[f.name] = env
        for key, value in (values or {}).items():
            name = key.lower().removeprefix(PREFIX.lower())
            raw[name] = value
        known = {f.name: f for f in fields(cls)}
        parsed: dict[str, Any] = {}
        for name, value in raw.items():
            if name not in known:
                raise SettingsError(f"unknown setting {PREFIX}{name.upper()}")
            kind = type(known[name].default)
            try:
                parsed[name] = _PARSERS[kind](value) if isinstance(value, str) else value
            except ValueError as exc:
                raise SettingsError(f"{PREFIX}{name.upper()}: {exc}") from None
        settings = cls(**parsed)
        settings.validate()
        return settings

    def validate(self) -> None:
        if self.portal_default_locale not in ("ro", "pl", "en"):
            raise SettingsError(f"{PREFIX}PORTAL_DEFAULT_LOCALE is one of ro, pl, en")
        if not 1 <= self.altcha_cost <= 1_000_000 or not 30 <= self.altcha_ttl_s <= 86400:
            raise SettingsError(
                f"{PREFIX}ALTCHA_COST must be between 1 and 1000000, ALTCHA_TTL_S between 30 "
                "and 86400"
            )
        if self.portal_home not in ("welcome", "studies"):
            raise SettingsError(f"{PREFIX}PORTAL_HOME is welcome or studies")
        if not re.fullmatch(r"#[0-9a-fA-F]{6}", self.portal_colour):
            raise SettingsError(f"{PREFIX}PORTAL_COLOUR is a colour #rrggbb")
        try:
            zoneinfo.ZoneInfo(self.portal_time_zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise SettingsError(f"{PREFIX}PORTAL_TIME_ZONE is an IANA time zone name") from None
        for entry in self.portal_partners:
            client_id, _, name = entry.partition("=")
            if not 0 < len(client_id.strip()) <= 128 or not name.strip():
                raise SettingsError(f"{PREFIX}PORTAL_PARTNERS entries are client-id=Name")
        if not 1 <= self.default_count <= self.max_count:
            raise SettingsError(f"{PREFIX}DEFAULT_COUNT must be between 1 and MAX_COUNT")
        if not 0 < self.port < 65536:
            raise SettingsError(f"{PREFIX}PORT must be a TCP port")
        if self.questionnaires_lookback_s < 0 or self.questionnaires_max_age_days < 1:
            raise SettingsError(
                f"{PREFIX}QUESTIONNAIRES_LOOKBACK_S must be >= 0 and MAX_AGE_DAYS >= 1"
            )
        for name in ("his_timeout_s", "state_timeout_s", "smtp_timeout_s", "sms_timeout_s"):
            if not 0 < getattr(self, name) <= 600:
                raise SettingsError(f"{PREFIX}{name.upper()} must be between 0 and 600 seconds")
        if self.auth_rate_limit > 0 and self.auth_rate_window_s < 1:
            raise SettingsError(f"{PREFIX}AUTH_RATE_WINDOW_S must be at least 1")
        if self.audit_journal_sync not in ("none", "fdatasync"):
            raise SettingsError(f"{PREFIX}AUDIT_JOURNAL_SYNC must be 'fdatasync' or 'none'")
        if not 0 <= self.proxy_hops <= 5:
            raise SettingsError(f"{PREFIX}PROXY_HOPS must be between 0 and 5")
        for name in ("uploads_max_file_bytes", "uploads_quota_bytes"):
            # FHIR R4 integer: the usage is answered in bytes as one
            if not 0 < getattr(self, name) <= 2**31 - 1:
                raise SettingsError(f"{PREFIX}{name.upper()} must be between 1 and 2147483647")
        if not 5 <= self.uploads_lease_s <= 3600 or self.uploads_max_seconds < 1:
            raise SettingsError(f"{PREFIX}UPLOADS_LEASE_S must be between 5 and 3600 seconds")
        if not 0 <= self.oauth_token_cache_s <= 300:
            raise SettingsError(f"{PREFIX}OAUTH_TOKEN_CACHE_S must be between 0 and 300")
        if self.queue_url and not self.queue_url.startswith(("redis://", "rediss://", "unix://")):
            raise SettingsError(f"{PREFIX}QUEUE_URL must be empty (the state database) or redis://")
        if self.notify_language not in ("ro", "pl", "en"):
            raise SettingsError(f"{PREFIX}NOTIFY_LANGUAGE must be ro, pl or en")
        if self.queue_lease_s < 2 or self.queue_heartbeat_s < 1 or self.queue_threads < 1:
            raise SettingsError(
                f"{PREFIX}QUEUE_LEASE_S must be at least 2, QUEUE_HEARTBEAT_S at least 1 and "
                "QUEUE_THREADS at least 1"
            )
        if (
            self.notify_max_attempts < 1
            or not 0 < self.notify_min_backoff_s <= self.notify_max_backoff_s
        ):
            raise SettingsError(
                f"{PREFIX}NOTIFY_MAX_ATTEMPTS must be at least 1 and "
                "0 < NOTIFY_MIN_BACKOFF_S <= NOTIFY_MAX_BACKOFF_S"
            )
        if not 1 <= self.subscription_timeout_s <= 60 or self.subscription_tick_s <= 0:
            raise SettingsError(
                f"{PREFIX}SUBSCRIPTION_TIMEOUT_S must be between 1 and 60 and "
                "SUBSCRIPTION_TICK_S above 0"
            )
        if self.subscription_heartbeat_min_s < 1 or self.subscription_max_per_app < 1:
            raise SettingsError(
                f"{PREFIX}SUBSCRIPTION_HEARTBEAT_MIN_S and SUBSCRIPTION_MAX_PER_APP must be "
                "at least 1"
            )
        try:
            for network in self.subscription_allowed_networks:
                ipaddress.ip_network(network.strip(), strict=False)
        except ValueError:
            raise SettingsError(
                f"{PREFIX}SUBSCRIPTION_ALLOWED_NETWORKS must list networks (10.0.0.0/8, ...)"
            ) from None


#: The sections of the configuration, in the reference's order, each with the name prefixes (or
#: whole names) of its options; an option belongs to the first section that names it.
SECTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "Server",
        (
            "host",
            "port",
            "public_base_url",
            "proxy_",
            "workers",
            "threads",
            "secret_key",
            "secret_key_previous",
            "data_dir",
            "cors_",
            "log_",
        ),
    ),
    ("HIS", ("his_", "cnp_system", "pesel_system", "identifier_base")),
    ("FHIR API", ("default_count", "max_count", "max_included", "gzip_", "dev_open_access")),
    ("State database", ("state_", "redis_", "audit_")),
    ("Limits", ("auth_rate_",)),
    ("Authorization server", ("oauth_",)),
    ("Results without an account (F9)", ("results_",)),
    ("Shares with a person outside (F21)", ("shares_",)),
    ("Accounts", ("accounts_",)),
    ("Bot protection (F3)", ("altcha_",)),
    ("Mail and SMS", ("smtp_", "mail_", "sms_", "outbox_")),
    ("Questionnaires (F18)", ("questionnaires_",)),
    ("PACS", ("pacs_",)),
    ("Job queue", ("queue_",)),
    ("Notifications (F22)", ("notify_",)),
    ("FHIR Subscriptions", ("subscription_",)),
    ("DICOMweb and the viewer", ("dicomweb_", "stow_", "viewer_", "ohif_")),
    ("Patient uploads (F17)", ("uploads_",)),
    ("Booking and video consultations (F19, F20)", ("booking_", "video_")),
    ("Patient portal", ("portal_",)),
)


#: The options that must be equal on every host of one deployment (README, "Running in
#: production"): whole names, or prefixes ending in "_". What differs per host (its address,
#: its size, its own journal and cache directories, a C-MOVE storage SCP) is not among them.
SHARED: tuple[str, ...] = (
    "secret_key",
    "secret_key_previous",
    "public_base_url",
    "proxy_hops",
    "cors_origins",
    "dev_open_access",
    "state_url",
    "redis_url",
    "his_url",
    "cnp_system",
    "pesel_system",
    "identifier_base",
    "default_count",
    "max_count",
    "max_included",
    "auth_rate_",
    "oauth_",
    "results_",
    "accounts_",
    "altcha_",
    "pacs_enabled",
    "pacs_backend",
    "pacs_called_aet",
    "pacs_dicomweb_url",
    "pacs_patient_id_",
    "viewer_token_ttl_s",
    "uploads_max_",
    "uploads_quota_bytes",
    "uploads_lease_s",
    "uploads_unattached_s",
    "shares_",
    "questionnaires_",
    "booking_",
    "video_",
    "queue_url",
    "notify_",
    "subscription_",
)


def is_shared(name: str) -> bool:
    return any(name == n or (n.endswith("_") and name.startswith(n)) for n in SHARED)


def shared_fingerprint(settings: Settings) -> str:
    """A digest of the options every host must share: equal digests, equal settings. Secrets
    go into it only together with SECRET_KEY, so it reveals none of them."""
    values = {f.name: getattr(settings, f.name) for f in fields(settings) if is_shared(f.name)}
    blob = json.dumps(values, sort_keys=True, default=list).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def section_of(name: str) -> str:
    """The section an option belongs to; every option has one (a test holds it)."""
    for title, names in SECTIONS:
        if any(name == n or (n.endswith("_") and name.startswith(n)) for n in names):
            return title
    raise LookupError(f"the option {name} belongs to no section")


def sections(settings: Settings) -> dict[str, dict[str, Any]]:
    """The settings by section, in the reference's order: what ``check-config`` prints."""
    out: dict[str, dict[str, Any]] = {title: {} for title, _ in SECTIONS}
    for f in fields(settings):
        out[section_of(f.name)][f.name] = getattr(settings, f.name)
    return out


def options_markdown() -> str:
    """The configuration reference as Markdown, one table per section (for the README)."""
    by_section: dict[str, list[str]] = {title: [] for title, _ in SECTIONS}
    for f in fields(Settings):
        default = f.default
        shown = ",".join(default) if isinstance(default, tuple) else str(default)
        by_section[section_of(f.name)].append(
            f"| `{PREFIX}{f.name.upper()}` | `{shown}` | {f.metadata['doc']} |"
        )
    parts = []
    for title, rows in by_section.items():
        if rows:
            header = ["| variable | default | meaning |", "|---|---|---|"]
            parts.append("\n".join([f"### {title}", "", *header, *rows]))
    return "\n\n".join(parts)
