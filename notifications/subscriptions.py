"""FHIR Subscriptions for apps (HL7 FHIR Subscriptions R5 Backport IG, R4 form).

An app holding an authorization subscribes to a topic (``topics``: one per event kind) with
a ``rest-hook`` channel; every event of that topic about a patient its grant covers becomes
one notification Bundle (``history``, its first entry the ``SubscriptionStatus`` Parameters)
POSTed to its endpoint, exactly once per subscription and event however many workers run:
``fhir_subscription_delivery`` rows are claimed as the mail and SMS deliveries are
(``notifications.store``), and retried with backoff.

The subscriber's grant is kept as what it came from (client, account, launch patient, scope,
token family) and made again at every delivery (``Grants``): a revoked authorization or a
deactivated app ends the subscription (``off``), and an event whose resource the grant no
longer covers (a guardianship ended, a partner's Consent withdrawn) is withheld: its focus
is read through the access layer with that grant, and what it refuses is never sent, with
neither content nor id.

Payloads (``backport-payload-content``): ``empty`` (the status only), ``id-only`` (the focus's
reference) and ``full-resource`` (the focus as the grant reads it). A new subscription is
``requested`` until its handshake is answered (then ``active``, else ``error``); an active one
with a ``backport-heartbeat-period`` is sent heartbeats. ``$status`` answers the status
Parameters.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import random
import re
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import dramatiq
import requests
from sqlalchemy import Engine, and_, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from access import audit
from access.audit import AuditSink
from access.errors import Forbidden
from access.policy import Grant
from fhir_gateway.errors import FhirError, Invalid
from fhir_gateway.fhir.interactions import FhirService
from smart_auth.bearer import BearerValidator
from smart_auth.notifications.tables import notification_event
from smart_auth.oauth.store import OAuthStore
from smart_auth.oauth.tables import oauth_client, oauth_token
from smart_auth.subscriptions.tables import fhir_subscription, fhir_subscription_delivery

from .endpoints import EndpointRefused, EndpointRules, post
from .events import Event
from .store import DeliveryOutcomes, utcnow
from .topics import BY_KIND, Topic, by_canonical

log = logging.getLogger(__name__)

BACKPORT = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition"
TOPIC_CANONICAL = f"{BACKPORT}/backport-topic-canonical"
FILTER_CRITERIA = f"{BACKPORT}/backport-filter-criteria"
PAYLOAD_CONTENT = f"{BACKPORT}/backport-payload-content"
HEARTBEAT_PERIOD = f"{BACKPORT}/backport-heartbeat-period"
TIMEOUT = f"{BACKPORT}/backport-timeout"
MAX_COUNT = f"{BACKPORT}/backport-max-count"
SUBSCRIPTION_PROFILE = f"{BACKPORT}/backport-subscription"
STATUS_PROFILE = f"{BACKPORT}/backport-subscription-status-r4"
NOTIFICATION_PROFILE = f"{BACKPORT}/backport-subscription-notification-r4"

PAYLOADS = ("empty", "id-only", "full-resource")
CONTENT_TYPES = ("application/fhir+json", "application/json")
#: Headers an app may not set on its notifications (the gateway's own, or the transport's).
_RESERVED_HEADERS = frozenset(
    {"host", "content-length", "content-type", "transfer-encoding", "connection", "te"}
)
_HEADER = re.compile(r"([!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}):[ \t]*([\x20-\x7e\t]{0,2000})\Z")
_FILTER = re.compile(r"(?:([A-Za-z]+)\?)?patient=(?:Patient/)?([0-9]{1,12})\Z")
_ID = re.compile(r"[0-9a-f]{32}\Z")


@dataclass(frozen=True)
class Limits:
    """The deployment's bounds on what an app may ask for."""

    timeout_s: int = 10
    heartbeat_min_s: int = 60
    max_attempts: int = 6
    min_backoff_s: float = 5.0
    max_backoff_s: float = 900.0
    lease_s: float = 120.0
    max_per_app: int = 20

    @classmethod
    def of(cls, settings: Any) -> Limits:
        return cls(
            timeout_s=int(settings.subscription_timeout_s),
            heartbeat_min_s=int(settings.subscription_heartbeat_min_s),
            max_attempts=int(settings.notify_max_attempts),
            min_backoff_s=float(settings.notify_min_backoff_s),
            max_backoff_s=float(settings.notify_max_backoff_s),
            lease_s=float(settings.queue_lease_s),
            max_per_app=int(settings.subscription_max_per_app),
        )


@dataclass(frozen=True)
class Holder:
    """What a subscriber's grant came from: made again from it at every delivery."""

    client_id: str
    account_id: int | None
    patient_id: int | None
    scope: str
    #: the token family of an app's authorization (None: a partner's client credentials)
    family: str | None

    @classmethod
    def of_token(cls, row: Any) -> Holder:
        return cls(
            client_id=str(row.client_id),
            account_id=row.account_id,
            patient_id=row.patient_id,
            scope=str(row.scope),
            family=str(row.family) if row.account_id is not None else None,
        )

    def owns(self, row: Any) -> bool:
        return bool(row.client_id == self.client_id and row.account_id == self.account_id)


@dataclass(frozen=True)
class Request:
    """A Subscription as an app asked for it, checked."""

    topic: Topic
    endpoint: str
    headers: tuple[str, ...]
    payload: str
    content_type: str
    heartbeat_s: int | None
    timeout_s: int
    max_count: int
    reason: str
    end_at: dt.datetime | None
    filter_patient: int | None
    filter_text: str | None = None


# --- reading what an app sends -------------------------------------------------------------------


def _issue(diagnostics: str, expression: str, code: str = "invalid") -> dict[str, Any]:
    return {
        "severity": "error",
        "code": code,
        "diagnostics": diagnostics,
        "expression": [expression],
    }


def _extensions(node: Any) -> list[dict[str, Any]]:
    found = node.get("extension") if isinstance(node, dict) else None
    return [e for e in found or [] if isinstance(e, dict)]


def _value(node: Any, url: str) -> Any:
    for ext in _extensions(node):
        if ext.get("url") == url:
            values = [v for k, v in ext.items() if k.startswith("value")]
            return values[0] if values else None
    return None


def _count(value: Any, name: str, expression: str, issues: list[dict[str, Any]]) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        issues.append(_issue(f"{name} must be a non-negative integer", expression))
        return None
    return value


def parse_request(body: Any, base_url: str, rules: EndpointRules, limits: Limits) -> Request:
    """The Subscription an app sent, checked: ``Invalid`` (422) with one issue per problem."""
    if not isinstance(body, dict) or body.get("resourceType") != "Subscription":
        raise Invalid(
            "The body must be a FHIR Subscription in JSON",
            [_issue("The body must be a FHIR Subscription in JSON", "Subscription")],
        )
    issues: list[dict[str, Any]] = []
    status = body.get("status", "requested")
    if status not in ("requested", "active"):
        issues.append(_issue("status must be requested", "Subscription.status"))
    criteria = body.get("criteria")
    named = _value(body, TOPIC_CANONICAL)
    topic = None
    if not isinstance(criteria, str) or not criteria:
        criteria = named
    if not isinstance(criteria, str) or not criteria:
        issues.append(
            _issue("criteria must be the canonical URL of a topic", "Subscription.criteria")
        )
    else:
        topic = by_canonical(base_url, criteria)
        if topic is None or (isinstance(named, str) and named != criteria):
            issues.append(
                _issue(
                    "criteria is not a topic of this server (see the CapabilityStatement)",
                    "Subscription.criteria",
                    "not-supported",
                )
            )
    filter_patient, filter_text = None, None
    filters = [
        e.get("valueString")
        for e in _extensions(body.get("_criteria"))
        if e.get("url") == FILTER_CRITERIA
    ]
    if len(filters) > 1:
        issues.append(_issue("Only one filter (patient=...) is supported", "Subscription.criteria"))
    elif filters:
        text = filters[0]
        matched = _FILTER.fullmatch(text) if isinstance(text, str) else None
        if matched is None or (
            topic is not None and matched.group(1) not in (None, topic.resource_type)
        ):
            issues.append(
                _issue(
                    "The only filter supported is patient=Patient/<id>",
                    "Subscription.criteria",
                    "not-supported",
                )
            )
        else:
            filter_patient, filter_text = int(matched.group(2)), str(text)
    channel = body.get("channel")
    if not isinstance(channel, dict):
        issues.append(_issue("channel is required", "Subscription.channel", "required"))
        channel = {}
    if channel.get("type") != "rest-hook":
        issues.append(
            _issue(
                "channel.type must be rest-hook (the only channel served)",
                "Subscription.channel.type",
                "not-supported",
            )
        )
    endpoint = channel.get("endpoint")
    if not isinstance(endpoint, str) or len(endpoint) > 2000:
        issues.append(_issue("channel.endpoint must be a URL", "Subscription.channel.endpoint"))
        endpoint = ""
    else:
        try:
            rules.check(endpoint)
        except EndpointRefused as exc:
            issues.append(_issue(str(exc), "Subscription.channel.endpoint", "value"))
    content_type = channel.get("payload", "application/fhir+json")
    if content_type not in CONTENT_TYPES:
        issues.append(
            _issue(
                "channel.payload must be application/fhir+json",
                "Subscription.channel.payload",
                "not-supported",
            )
        )
    payload = _value(channel.get("_payload"), PAYLOAD_CONTENT) or "id-only"
    if payload not in PAYLOADS:
        issues.append(
            _issue(
                "The payload content must be empty, id-only or full-resource",
                "Subscription.channel.payload",
                "not-supported",
            )
        )
    headers: list[str] = []
    raw_headers = channel.get("header", [])
    if not isinstance(raw_headers, list) or len(raw_headers) > 10:
        issues.append(_issue("channel.header is a list of at most 10", "Subscription.channel"))
        raw_headers = []
    for n, raw in enumerate(raw_headers):
        matched = _HEADER.fullmatch(raw) if isinstance(raw, str) else None
        if matched is None or matched.group(1).lower() in _RESERVED_HEADERS:
            issues.append(
                _issue(
                    "A channel header is 'Name: value' and may not set Host, Content-Type or "
                    "the transport's headers",
                    f"Subscription.channel.header[{n}]",
                )
            )
        else:
            headers.append(f"{matched.group(1)}: {matched.group(2)}")
    heartbeat = _count(
        _value(channel, HEARTBEAT_PERIOD), "The heartbeat period", "Subscription.channel", issues
    )
    if heartbeat == 0:
        heartbeat = None
    if heartbeat is not None and heartbeat < limits.heartbeat_min_s:
        heartbeat = limits.heartbeat_min_s
    timeout = _count(_value(channel, TIMEOUT), "The timeout", "Subscription.channel", issues)
    timeout = min(timeout or limits.timeout_s, limits.timeout_s)
    max_count = _count(_value(channel, MAX_COUNT), "The max count", "Subscription.channel", issues)
    end_at = None
    end = body.get("end")
    if end is not None:
        try:
            parsed = dt.datetime.fromisoformat(str(end).replace("Z", "+00:00"))
            if parsed.tzinfo is None:
                raise ValueError
            end_at = parsed.astimezone(dt.UTC).replace(tzinfo=None)
            if end_at <= utcnow():
                issues.append(_issue("end is in the past", "Subscription.end"))
        except ValueError:
            issues.append(_issue("end must be an instant with a time zone", "Subscription.end"))
    reason = body.get("reason", "")
    if not isinstance(reason, str) or len(reason) > 500:
        issues.append(_issue("reason is a text of at most 500 characters", "Subscription.reason"))
        reason = ""
    if issues:
        raise Invalid(issues[0]["diagnostics"], issues)
    assert topic is not None
    assert isinstance(endpoint, str)
    return Request(
        topic=topic,
        endpoint=endpoint,
        headers=tuple(headers),
        payload=str(payload),
        content_type=str(content_type),
        heartbeat_s=heartbeat,
        timeout_s=max(1, timeout),
        max_count=max(1, max_count or 1),
        reason=reason,
        end_at=end_at,
        filter_patient=filter_patient,
        filter_text=filter_text,
    )


# --- what the gateway answers and sends ----------------------------------------------------------


def _instant(value: dt.datetime) -> str:
    return value.replace(microsecond=0).isoformat() + "Z"


def as_resource(row: Any, base_url: str) -> dict[str, Any]:
    """A stored subscription as an R4 Subscription of the backport profile."""
    topic = BY_KIND[row.topic]
    canonical = topic.canonical(base_url)
    channel: dict[str, Any] = {
        "type": "rest-hook",
        "endpoint": row.endpoint,
        "payload": row.content_type,
        "_payload": {"extension": [{"url": PAYLOAD_CONTENT, "valueCode": row.payload}]},
    }
    headers = json.loads(row.headers)
    if headers:
        channel["header"] = headers
    extensions: list[dict[str, Any]] = [
        {"url": TIMEOUT, "valueUnsignedInt": row.timeout_s},
        {"url": MAX_COUNT, "valuePositiveInt": row.max_count},
    ]
    if row.heartbeat_s:
        extensions.insert(0, {"url": HEARTBEAT_PERIOD, "valueUnsignedInt": row.heartbeat_s})
    channel["extension"] = extensions
    resource: dict[str, Any] = {
        "resourceType": "Subscription",
        "id": row.id,
        "meta": {"profile": [SUBSCRIPTION_PROFILE]},
        "extension": [{"url": TOPIC_CANONICAL, "valueUri": canonical}],
        "status": row.status,
        "reason": row.reason,
        "criteria": canonical,
        "channel": channel,
    }
    if row.filter_patient is not None:
        resource["_criteria"] = {
            "extension": [
                {
                    "url": FILTER_CRITERIA,
                    "valueString": f"{topic.resource_type}?patient=Patient/{row.filter_patient}",
                }
            ]
        }
    if row.end_at is not None:
        resource["end"] = _instant(row.end_at)
    if row.error:
        resource["error"] = row.error
    return resource


@dataclass(frozen=True)
class Happening:
    """One event as a notification names it."""

    number: int
    at: dt.datetime
    focus: str  # "DiagnosticReport/lab-12"


def status_parameters(
    row: Any, base_url: str, kind: str, happening: Happening | None = None
) -> dict[str, Any]:
    """The backport ``SubscriptionStatus`` of R4: a Parameters resource."""
    topic = BY_KIND[row.topic]
    parameters: list[dict[str, Any]] = [
        {
            "name": "subscription",
            "valueReference": {"reference": f"{base_url}/Subscription/{row.id}"},
        },
        {"name": "topic", "valueCanonical": topic.canonical(base_url)},
        {"name": "status", "valueCode": row.status},
        {"name": "type", "valueCode": kind},
        {"name": "events-since-subscription-start", "valueString": str(row.events_count)},
    ]
    if happening is not None:
        parts: list[dict[str, Any]] = [
            {"name": "event-number", "valueString": str(happening.number)},
            {"name": "timestamp", "valueInstant": _instant(happening.at)},
        ]
        if row.payload != "empty":
            parts.append(
                {"name": "focus", "valueReference": {"reference": f"{base_url}/{happening.focus}"}}
            )
        parameters.append({"name": "notification-event", "part": parts})
    if row.error:
        parameters.append({"name": "error", "valueCodeableConcept": {"text": row.error}})
    return {
        "resourceType": "Parameters",
        "id": uuid.uuid4().hex,
        "meta": {"profile": [STATUS_PROFILE]},
        "parameter": parameters,
    }


def notification(
    row: Any,
    base_url: str,
    kind: str,
    happening: Happening | None = None,
    resource: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A notification Bundle (``history``) of ``kind``: handshake, heartbeat or
    event-notification (then with the event, and its focus per the payload)."""
    status = status_parameters(row, base_url, kind, happening)
    entries: list[dict[str, Any]] = [
        {
            "fullUrl": f"urn:uuid:{status['id']}",
            "resource": status,
            "request": {"method": "GET", "url": f"{base_url}/Subscription/{row.id}/$status"},
            "response": {"status": "200"},
        }
    ]
    if happening is not None and row.payload != "empty":
        entry: dict[str, Any] = {
            "fullUrl": f"{base_url}/{happening.focus}",
            "request": {"method": "GET", "url": happening.focus},
            "response": {"status": "200"},
        }
        if row.payload == "full-resource" and resource is not None:
            entry["resource"] = dict(resource)
        entries.append(entry)
    return {
        "resourceType": "Bundle",
        "id": uuid.uuid4().hex,
        "meta": {"profile": [NOTIFICATION_PROFILE]},
        "type": "history",
        "timestamp": _instant(utcnow()),
        "entry": entries,
    }


# --- the subscriber's grant ----------------------------------------------------------------------


class Grants:
    """The grant of a subscription's holder, made again from the state database: None when
    the authorization it came from ended (its token family revoked or run out, its client
    deactivated)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.bearer = BearerValidator(OAuthStore(engine))

    def in_force(self, holder: Any) -> bool:
        c, t = oauth_client.c, oauth_token.c
        now = int(time.time())
        with self.engine.connect() as conn:
            active = conn.execute(select(c.active).where(c.client_id == holder.client_id)).scalar()
            if not active:
                return False
            if holder.account_id is None:
                return True  # a partner: its Consents, read at each delivery, decide
            live = conn.execute(
                select(t.id)
                .where(
                    t.family == holder.family,
                    t.revoked.is_(False),
                    or_(
                        t.expires_at > now,
                        and_(t.rotated.is_(False), t.refresh_expires_at > now),
                    ),
                )
                .limit(1)
            ).first()
        return live is not None

    def current(self, holder: Any) -> Grant | None:
        if not self.in_force(holder):
            return None
        return self.bearer.grant_for(holder)


def covers_patient(grant: Grant, patient: int) -> bool:
    return grant.patients is None or patient in grant.patients


# --- the store -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClaimedDelivery:
    id: int
    attempts: int
    event_number: int | None
    subscription: Any
    event: Event
    detected_at: dt.datetime


class SubscriptionStore(DeliveryOutcomes):
    delivery_table = fhir_subscription_delivery

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- subscriptions --

    def create(self, holder: Holder, asked: Request) -> Any:
        sid = uuid.uuid4().hex
        with self.engine.begin() as conn:
            conn.execute(
                insert(fhir_subscription).values(
                    id=sid,
                    client_id=holder.client_id,
                    account_id=holder.account_id,
                    patient_id=holder.patient_id,
                    scope=holder.scope,
                    family=holder.family,
                    topic=asked.topic.kind,
                    filter_patient=asked.filter_patient,
                    endpoint=asked.endpoint,
                    headers=json.dumps(list(asked.headers)),
                    payload=asked.payload,
                    content_type=asked.content_type,
                    heartbeat_s=asked.heartbeat_s,
                    timeout_s=asked.timeout_s,
                    max_count=asked.max_count,
                    reason=asked.reason,
                    end_at=asked.end_at,
                    status="requested",
                    created_at=utcnow(),
                    events_count=0,
                )
            )
        row = self.get(sid)
        assert row is not None
        return row

    def get(self, sid: str) -> Any:
        if not _ID.match(sid):
            return None
        with self.engine.connect() as conn:
            return conn.execute(
                select(fhir_subscription).where(fhir_subscription.c.id == sid)
            ).first()

    def owned_by(self, holder: Holder) -> list[Any]:
        s = fhir_subscription.c
        account = (
            s.account_id.is_(None)
            if holder.account_id is None
            else s.account_id == holder.account_id
        )
        with self.engine.connect() as conn:
            return list(
                conn.execute(
                    select(fhir_subscription)
                    .where(s.client_id == holder.client_id, account)
                    .order_by(s.created_at, s.id)
                ).all()
            )

    def delete(self, sid: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                delete(fhir_subscription_delivery).where(
                    fhir_subscription_delivery.c.subscription_id == sid
                )
            )
            conn.execute(delete(fhir_subscription).where(fhir_subscription.c.id == sid))

    def set_status(
        self, sid: str, status: str, error: str | None, *, only_from: Sequence[str] = ()
    ) -> bool:
        s = fhir_subscription.c
        where = [s.id == sid]
        if only_from:
            where.append(s.status.in_(list(only_from)))
        with self.engine.begin() as conn:
            done = conn.execute(
                update(fhir_subscription)
                .where(*where)
                .values(status=status, error=error[:200] if error else None, lease_until=None)
            )
        return bool(done.rowcount)

    def claim_subscription(self, sid: str, status: str, lease_s: float) -> Any:
        """Reserve a subscription in ``status`` for this worker (its handshake)."""
        s = fhir_subscription.c
        now = utcnow()
        with self.engine.begin() as conn:
            won = conn.execute(
                update(fhir_subscription)
                .where(
                    s.id == sid,
                    s.status == status,
                    or_(s.lease_until.is_(None), s.lease_until < now),
                )
                .values(lease_until=now + dt.timedelta(seconds=lease_s))
            )
        return self.get(sid) if won.rowcount == 1 else None

    def take_heartbeat(self, sid: str, due: dt.datetime, every_s: int) -> bool:
        """Whether this worker sends the heartbeat due at ``due`` (one worker wins)."""
        s = fhir_subscription.c
        with self.engine.begin() as conn:
            won = conn.execute(
                update(fhir_subscription)
                .where(s.id == sid, s.status == "active", s.next_heartbeat_at == due)
                .values(next_heartbeat_at=utcnow() + dt.timedelta(seconds=every_s))
            )
        return won.rowcount == 1

    def requested(self, limit: int = 200) -> list[str]:
        s = fhir_subscription.c
        now = utcnow()
        with self.engine.connect() as conn:
            return list(
                conn.execute(
                    select(s.id)
                    .where(
                        s.status == "requested",
                        or_(s.lease_until.is_(None), s.lease_until < now),
                    )
                    .order_by(s.created_at)
                    .limit(limit)
                ).scalars()
            )

    def active(self) -> list[Any]:
        s = fhir_subscription.c
        with self.engine.connect() as conn:
            return list(conn.execute(select(fhir_subscription).where(s.status == "active")).all())

    def activate(self, sid: str, heartbeat_s: int | None) -> bool:
        s = fhir_subscription.c
        next_beat = utcnow() + dt.timedelta(seconds=heartbeat_s) if heartbeat_s else None
        with self.engine.begin() as conn:
            done = conn.execute(
                update(fhir_subscription)
                .where(s.id == sid, s.status == "requested")
                .values(status="active", error=None, lease_until=None, next_heartbeat_at=next_beat)
            )
        return bool(done.rowcount)

    # -- deliveries --

    def add_deliveries(self, pairs: Iterable[tuple[str, int]]) -> list[int]:
        """A delivery per (subscription, event) not seen before; the new ones' ids."""
        new = []
        for sid, event_id in pairs:
            try:
                with self.engine.begin() as conn:
                    key = conn.execute(
                        insert(fhir_subscription_delivery).values(
                            subscription_id=sid,
                            event_id=event_id,
                            state="pending",
                            attempts=0,
                            created_at=utcnow(),
                        )
                    ).inserted_primary_key
                assert key is not None
                new.append(int(key[0]))
            except IntegrityError:
                continue  # made before (another poll, another worker)
        return new

    def claim(self, delivery_id: int, lease_s: float) -> ClaimedDelivery | None:
        d, e = fhir_subscription_delivery.c, notification_event.c
        with self.engine.begin() as conn:
            if not self._take(conn, delivery_id, lease_s):
                return None
            row = conn.execute(
                select(
                    d.subscription_id,
                    d.attempts,
                    d.event_number,
                    e.key,
                    e.kind,
                    e.patient_id,
                    e.resource_type,
                    e.resource_id,
                    e.detected_at,
                )
                .join_from(fhir_subscription_delivery, notification_event, d.event_id == e.id)
                .where(d.id == delivery_id)
            ).one()
            sub = conn.execute(
                select(fhir_subscription).where(fhir_subscription.c.id == row.subscription_id)
            ).first()
        event = Event(row.key, row.kind, row.patient_id, row.resource_type, row.resource_id)
        return ClaimedDelivery(
            delivery_id, row.attempts, row.event_number, sub, event, row.detected_at
        )

    def lease_left(self, delivery_id: int) -> float | None:
        d = fhir_subscription_delivery.c
        with self.engine.connect() as conn:
            row = conn.execute(select(d.state, d.lease_until).where(d.id == delivery_id)).first()
        if row is None or row.state != "sending" or row.lease_until is None:
            return None
        return max(0.0, (row.lease_until - utcnow()).total_seconds())

    def number(self, claimed: ClaimedDelivery) -> tuple[int, Any]:
        """The event's number for its subscription, given once (at its first allowed
        attempt), and the subscription as it is then."""
        if claimed.event_number is not None:
            return claimed.event_number, claimed.subscription
        s, d = fhir_subscription.c, fhir_subscription_delivery.c
        sid = claimed.subscription.id
        with self.engine.begin() as conn:
            conn.execute(
                update(fhir_subscription).where(s.id == sid).values(events_count=s.events_count + 1)
            )
            sub = conn.execute(select(fhir_subscription).where(s.id == sid)).one()
            conn.execute(
                update(fhir_subscription_delivery)
                .where(d.id == claimed.id)
                .values(event_number=sub.events_count)
            )
        return int(sub.events_count), sub

    def withheld(self, delivery_id: int, reason: str) -> None:
        self._finish(delivery_id, state="withheld", last_error=reason[:200])

    def stalled(self, older_than_s: float, limit: int = 500) -> list[int]:
        d = fhir_subscription_delivery.c
        now = utcnow()
        with self.engine.connect() as conn:
            return list(
                conn.execute(
                    select(d.id)
                    .where(
                        or_(
                            and_(
                                d.state == "pending",
                                d.created_at < now - dt.timedelta(seconds=older_than_s),
                            ),
                            and_(d.state == "sending", d.lease_until < now),
                        )
                    )
                    .order_by(d.id)
                    .limit(limit)
                ).scalars()
            )

    def recent_events(self, within_s: float, limit: int = 1000) -> list[Event]:
        e = notification_event.c
        since = utcnow() - dt.timedelta(seconds=within_s)
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(e.key, e.kind, e.patient_id, e.resource_type, e.resource_id)
                .where(e.detected_at >= since)
                .order_by(e.id)
                .limit(limit)
            ).all()
        return [Event(r.key, r.kind, r.patient_id, r.resource_type, r.resource_id) for r in rows]

    def deliveries(self, sid: str | None = None) -> list[dict[str, Any]]:
        d, e = fhir_subscription_delivery.c, notification_event.c
        query = (
            select(
                d.id,
                d.subscription_id,
                d.state,
                d.attempts,
                d.event_number,
                d.last_error,
                e.kind,
                e.patient_id,
                e.resource_type,
                e.resource_id,
            )
            .join_from(fhir_subscription_delivery, notification_event, d.event_id == e.id)
            .order_by(d.id)
        )
        if sid is not None:
            query = query.where(d.subscription_id == sid)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query).all()]


# --- the jobs ------------------------------------------------------------------------------------


#: url, body, headers, timeout -> HTTP status (``endpoints.post`` over the rules)
Poster = Callable[[str, bytes, Mapping[str, str], float], int]


@dataclass
class SubscriptionRuntime:
    """What the subscription jobs work with; the ``enqueue_*`` are set by ``declare``."""

    store: SubscriptionStore
    grants: Grants
    fhir: FhirService
    rules: EndpointRules
    limits: Limits
    base_url: str
    audit_sink: AuditSink | None = None
    enqueue_delivery: Callable[[int], Any] = field(default=lambda _id: None)
    enqueue_handshake: Callable[[str], Any] = field(default=lambda _id: None)
    enqueue_heartbeat: Callable[[str, str], Any] = field(default=lambda _id, _due: None)

    def _post(self, sub: Any, document: Mapping[str, Any]) -> int:
        headers = {"Content-Type": sub.content_type}
        for line in json.loads(sub.headers):
            name, _, value = line.partition(":")
            headers[name.strip()] = value.strip()
        body = json.dumps(document).encode()
        return post(self.rules, sub.endpoint, body, headers, float(sub.timeout_s)).status

    def _audited(self) -> Any:
        return audit.use(self.audit_sink)

    # --- matching events to subscriptions ---------------------------------------------------

    def match(self, events: Sequence[Event]) -> int:
        """Make a delivery for every active subscription of each event's topic whose holder's
        grant covers the event's patient, for events found since it was made; enqueue them."""
        events = [e for e in events if e is not None]
        if not events:
            return 0
        e = notification_event.c
        with self.store.engine.connect() as conn:
            found = conn.execute(
                select(e.id, e.key, e.kind, e.patient_id, e.detected_at).where(
                    e.key.in_([x.key for x in events])
                )
            ).all()
        if not found:
            return 0
        active = [s for s in self.store.active() if s.topic in {row.kind for row in found}]
        pairs: list[tuple[str, int]] = []
        patients: dict[str, frozenset[int] | None] = {}
        for sub in active:
            for row in found:
                if row.kind != sub.topic or row.detected_at < sub.created_at:
                    continue
                if sub.filter_patient is not None and row.patient_id != sub.filter_patient:
                    continue
                if sub.patient_id is not None and row.patient_id != sub.patient_id:
                    continue
                if sub.id not in patients:
                    grant = self.grants.current(sub)
                    patients[sub.id] = grant.patients if grant is not None else frozenset()
                covered = patients[sub.id]
                if covered is not None and row.patient_id not in covered:
                    continue
                pairs.append((sub.id, int(row.id)))
        new = self.store.add_deliveries(pairs)
        for delivery_id in new:
            self.enqueue_delivery(delivery_id)
        return len(new)

    # --- one event ---------------------------------------------------------------------------

    def backoff_ms(self, attempts: int) -> int:
        base = self.limits.min_backoff_s * (2 ** max(0, attempts - 1))
        return int(min(self.limits.max_backoff_s, base) * 1000 * random.uniform(0.8, 1.0))

    def deliver(self, delivery_id: int) -> str:
        """Send one event to one subscriber if this worker wins its claim; what became of it.
        Raises ``dramatiq.Retry`` with the backoff while attempts remain."""
        claimed = self.store.claim(delivery_id, self.limits.lease_s)
        if claimed is None:
            held = self.store.lease_left(delivery_id)
            if held is not None:
                raise dramatiq.Retry(delay=int(held * 1000) + 500)
            return "not-claimed"
        sub = claimed.subscription
        if sub is None or sub.status != "active":
            self.store.withheld(delivery_id, "subscription not active")
            return "withheld"
        token = self._audited()
        try:
            return self._deliver(claimed, sub)
        finally:
            audit.reset(token)

    def _deliver(self, claimed: ClaimedDelivery, sub: Any) -> str:
        event = claimed.event
        grant = self.grants.current(sub)
        if grant is None:
            self.store.set_status(sub.id, "off", "The authorization behind it ended")
            self.store.withheld(claimed.id, "authorization ended")
            return "withheld"
        focus = f"{event.resource_type}/{event.resource_id}"
        resource: dict[str, Any] | None = None
        refused = not covers_patient(grant, event.patient_id)
        if not refused:
            try:
                resource = self.fhir.read(grant, event.resource_type, event.resource_id)
            except Forbidden:
                refused = True
            except FhirError as exc:
                if exc.status == 404:
                    refused = True
                else:  # the HIS failed: try again later
                    return self._failed(claimed, sub, grant, type(exc).__name__)
            except Exception as exc:
                return self._failed(claimed, sub, grant, type(exc).__name__)
        if refused:
            audit.record(
                grant,
                "notify",
                event.resource_type,
                outcome="denied",
                ids=[event.resource_id],
                patients=[event.patient_id],
            )
            self.store.withheld(claimed.id, "outside the subscriber's grant")
            log.info("subscription delivery %s withheld: outside the grant", claimed.id)
            return "withheld"
        number, current = self.store.number(claimed)
        happening = Happening(number, claimed.detected_at, focus)
        document = notification(current, self.base_url, "event-notification", happening, resource)
        try:
            status = self._post(current, document)
        except EndpointRefused as exc:
            return self._failed(claimed, current, grant, str(exc), final=True)
        except requests.RequestException as exc:
            return self._failed(claimed, current, grant, type(exc).__name__)
        if not 200 <= status < 300:
            return self._failed(claimed, current, grant, f"HTTP {status}")
        self.store.sent(claimed.id)
        audit.record(
            grant,
            "notify",
            event.resource_type,
            outcome="allowed",
            ids=[event.resource_id] if current.payload != "empty" else [],
            patients=[event.patient_id],
        )
        return "sent"

    def _failed(
        self, claimed: ClaimedDelivery, sub: Any, grant: Grant, reason: str, *, final: bool = False
    ) -> str:
        if final or claimed.attempts >= self.limits.max_attempts:
            self.store.undeliverable(claimed.id, reason)
            self.store.set_status(
                sub.id,
                "error",
                f"Notifications could not be delivered: {reason}"[:200],
                only_from=("active",),
            )
            audit.record(
                grant,
                "notify",
                claimed.event.resource_type,
                outcome="failed",
                patients=[claimed.event.patient_id],
            )
            log.warning("subscription delivery %s undeliverable (%s)", claimed.id, reason)
            return "undeliverable"
        self.store.retry_later(claimed.id, reason)
        delay = self.backoff_ms(claimed.attempts)
        log.info("subscription delivery %s failed (%s), retry in %d ms", claimed.id, reason, delay)
        raise dramatiq.Retry(delay=delay)

    # --- handshake, heartbeat and the periodic look ------------------------------------------

    def handshake(self, sid: str) -> str:
        sub = self.store.claim_subscription(sid, "requested", self.limits.lease_s)
        if sub is None:
            return "not-claimed"
        if self.grants.current(sub) is None:
            self.store.set_status(sid, "off", "The authorization behind it ended")
            return "off"
        try:
            status = self._post(sub, notification(sub, self.base_url, "handshake"))
        except EndpointRefused as exc:
            self.store.set_status(sid, "error", f"Handshake refused: {exc}")
            return "error"
        except requests.RequestException as exc:
            self.store.set_status(sid, "error", f"Handshake failed: {type(exc).__name__}")
            return "error"
        if not 200 <= status < 300:
            self.store.set_status(sid, "error", f"Handshake failed: HTTP {status}")
            return "error"
        self.store.activate(sid, sub.heartbeat_s)
        log.info("subscription %s active", sid)
        return "active"

    def heartbeat(self, sid: str, due: str) -> str:
        sub = self.store.get(sid)
        if sub is None or sub.status != "active" or not sub.heartbeat_s:
            return "skipped"
        if sub.next_heartbeat_at is None or sub.next_heartbeat_at.isoformat() != due:
            return "skipped"
        if not self.store.take_heartbeat(sid, sub.next_heartbeat_at, sub.heartbeat_s):
            return "skipped"
        try:
            status = self._post(sub, notification(sub, self.base_url, "heartbeat"))
        except (EndpointRefused, requests.RequestException) as exc:
            log.info("subscription %s heartbeat failed (%s)", sid, type(exc).__name__)
            return "failed"
        return "sent" if 200 <= status < 300 else "failed"

    def tick(self) -> int:
        """Handshakes of new subscriptions, heartbeats due, subscriptions whose grant or end
        came, and deliveries whose job was lost: what was enqueued."""
        count = 0
        for sid in self.store.requested():
            self.enqueue_handshake(sid)
            count += 1
        now = utcnow()
        for sub in self.store.active():
            if sub.end_at is not None and sub.end_at <= now:
                self.store.set_status(sub.id, "off", "The subscription reached its end")
                continue
            if not self.grants.in_force(sub):
                self.store.set_status(sub.id, "off", "The authorization behind it ended")
                continue
            if (
                sub.heartbeat_s
                and sub.next_heartbeat_at is not None
                and sub.next_heartbeat_at <= now
            ):
                self.enqueue_heartbeat(sub.id, sub.next_heartbeat_at.isoformat())
                count += 1
        for delivery_id in self.store.stalled(older_than_s=self.limits.lease_s):
            self.enqueue_delivery(delivery_id)
            count += 1
        # events recorded by a worker that died before matching them: matched again (the
        # deliveries' uniqueness makes this record nothing twice)
        count += self.match(self.store.recent_events(2 * self.limits.lease_s))
        return count


# --- the actors ----------------------------------------------------------------------------------


@dataclass
class SubscriptionJobs:
    deliver: Any
    handshake: Any
    heartbeat: Any
    tick: Any


def declare(broker: Any, runtime: SubscriptionRuntime, queue: str) -> SubscriptionJobs:
    """The subscription actors of ``runtime`` on ``broker``: a delivery is retried by raising
    ``Retry`` with its own backoff; handshakes, heartbeats and the tick are not retried (the
    next tick looks again)."""

    def subscription_deliver(delivery_id: int) -> None:
        runtime.deliver(delivery_id)

    def subscription_handshake(sid: str) -> None:
        runtime.handshake(sid)

    def subscription_heartbeat(sid: str, due: str) -> None:
        runtime.heartbeat(sid, due)

    def subscription_tick() -> None:
        found = runtime.tick()
        if found:
            log.info("subscriptions: %d jobs enqueued", found)

    time_limit = int(runtime.limits.lease_s * 1000 * 0.8)
    deliver = dramatiq.actor(
        broker=broker,
        actor_name="subscription_deliver",
        queue_name=queue,
        max_retries=runtime.limits.max_attempts + 1,
        time_limit=time_limit,
    )(subscription_deliver)
    once = {"broker": broker, "queue_name": queue, "max_retries": 0, "time_limit": time_limit}
    handshake = dramatiq.actor(actor_name="subscription_handshake", **once)(subscription_handshake)
    heartbeat = dramatiq.actor(actor_name="subscription_heartbeat", **once)(subscription_heartbeat)
    tick = dramatiq.actor(actor_name="subscription_tick", **once)(subscription_tick)
    runtime.enqueue_delivery = deliver.send
    runtime.enqueue_handshake = handshake.send
    runtime.enqueue_heartbeat = heartbeat.send
    return SubscriptionJobs(deliver, handshake, heartbeat, tick)
