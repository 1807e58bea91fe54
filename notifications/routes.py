"""The FHIR routes of Subscriptions: create, read, search (the caller's own), delete,
``$status``, and the topics (Basic).

Only apps holding an authorization of the gateway's authorization server subscribe (a SMART
grant: a person's app or a partner's backend service); what they may subscribe to is what the
one access policy lets their grant read (read of the topic's resource type, for a patient of
theirs when they filter by one). A subscription is seen only by the app and person that made
it: to anyone else it is missing, exactly like one that never existed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Flask, Response, current_app, request

from access import audit
from access.policy import AccessPolicy, Credentials, Grant
from conformance.capability import add_resource
from conformance.subscriptions import subscription_resource, topic_resource
from fhir_gateway.errors import (
    BadRequest,
    BusinessRule,
    NotFound,
    UnsupportedMediaType,
)
from fhir_gateway.http import render, wants_fhir_json
from smart_auth.state import shared_engine

from .endpoints import EndpointRules
from .subscriptions import (
    Holder,
    Limits,
    SubscriptionStore,
    as_resource,
    parse_request,
    status_parameters,
)
from .topics import BY_ID, as_basic, canonicals

subscriptions = Blueprint("subscriptions", __name__)

_JSON = ("application/fhir+json", "application/json")
TYPE = "Subscription"


@dataclass
class Context:
    store: SubscriptionStore
    rules: EndpointRules
    limits: Limits
    base_url: str
    policy: AccessPolicy


def init_app(app: Flask, settings: Any, rules: EndpointRules | None = None) -> Context:
    """Serve the routes (before the generic FHIR ones) and list them in the statement."""
    engine = shared_engine(app.extensions, settings.state_url)
    ctx = Context(
        store=SubscriptionStore(engine),
        rules=rules or EndpointRules.of(settings),
        limits=Limits.of(settings),
        base_url=settings.base_url,
        policy=app.extensions["access_policy"],
    )
    app.extensions["subscriptions"] = ctx
    app.register_blueprint(subscriptions, url_prefix="/fhir")
    add_resource(app.config, subscription_resource(canonicals(settings.base_url)))
    add_resource(app.config, topic_resource())
    return ctx


def _ctx() -> Context:
    return current_app.extensions["subscriptions"]  # type: ignore[no-any-return]


def _pretty() -> bool:
    return request.args.get("_pretty") == "true"


def _caller(interaction: str) -> tuple[Grant, Holder]:
    """The caller's grant and what it came from; 403 for credentials that are not an app's
    authorization (a result code, a viewer link, a share, development open access)."""
    ctx = _ctx()
    grant = ctx.policy.grant_for(request.headers)
    oauth = current_app.extensions.get("smart_oauth")
    token = Credentials.of(request.headers).bearer
    row = oauth.store.by_access_token(token) if oauth is not None and token else None
    if grant.kind != "smart" or row is None:
        audit.record(grant, interaction, TYPE, outcome="denied")
        raise ctx.policy.forbidden("Subscriptions are for apps holding an authorization")
    return grant, Holder.of_token(row)


def _own(grant: Grant, holder: Holder, sid: str, interaction: str) -> Any:
    row = _ctx().store.get(sid)
    if row is None or not holder.owns(row):
        audit.record(grant, interaction, TYPE, outcome="not-found", ids=[sid[:64]])
        raise NotFound(f"{TYPE}/{sid[:64]} is not known")
    return row


def _body() -> Any:
    if request.mimetype not in _JSON:
        raise UnsupportedMediaType("Send the Subscription as application/fhir+json")
    body = request.get_json(silent=True)
    if body is None:
        raise BadRequest("The request body is not JSON")
    return body


@subscriptions.route("/Subscription", methods=["POST"])
def create() -> Response:
    wants_fhir_json(request)
    grant, holder = _caller("create")
    ctx = _ctx()
    try:
        asked = parse_request(_body(), ctx.base_url, ctx.rules, ctx.limits)
    except Exception:
        audit.record(grant, "create", TYPE, outcome="failed")
        raise
    try:
        # what the subscriber will be sent is what its grant reads: it needs that read now
        ctx.policy.decide(grant, asked.topic.resource_type, "read")
        patient = asked.filter_patient
        if patient is not None and grant.patients is not None and patient not in grant.patients:
            raise ctx.policy.forbidden("The access granted does not cover that patient")
    except Exception:
        audit.record(grant, "create", TYPE, outcome="denied")
        raise
    if len(ctx.store.owned_by(holder)) >= ctx.limits.max_per_app:
        audit.record(grant, "create", TYPE, outcome="failed")
        raise BusinessRule(
            f"This app holds {ctx.limits.max_per_app} subscriptions already; delete one first"
        )
    row = ctx.store.create(holder, asked)
    audit.record(grant, "create", TYPE, outcome="allowed", ids=[row.id])
    location = f"{ctx.base_url}/{TYPE}/{row.id}"
    return render(as_resource(row, ctx.base_url), 201, {"Location": location}, pretty=_pretty())


@subscriptions.route("/Subscription", methods=["GET"])
def search() -> Response:
    wants_fhir_json(request)
    grant, holder = _caller("search")
    ctx = _ctx()
    rows = ctx.store.owned_by(holder)
    audit.record(grant, "search", TYPE, outcome="allowed", ids=[r.id for r in rows])
    return render(
        {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": len(rows),
            "link": [{"relation": "self", "url": f"{ctx.base_url}/{TYPE}"}],
            "entry": [
                {
                    "fullUrl": f"{ctx.base_url}/{TYPE}/{r.id}",
                    "resource": as_resource(r, ctx.base_url),
                    "search": {"mode": "match"},
                }
                for r in rows
            ],
        },
        pretty=_pretty(),
    )


@subscriptions.route("/Subscription/<sid>", methods=["GET"])
def read(sid: str) -> Response:
    wants_fhir_json(request)
    grant, holder = _caller("read")
    row = _own(grant, holder, sid, "read")
    audit.record(grant, "read", TYPE, outcome="allowed", ids=[row.id])
    return render(as_resource(row, _ctx().base_url), pretty=_pretty())


@subscriptions.route("/Subscription/<sid>", methods=["DELETE"])
def remove(sid: str) -> Response:
    grant, holder = _caller("delete")
    row = _own(grant, holder, sid, "delete")
    _ctx().store.delete(row.id)
    audit.record(grant, "delete", TYPE, outcome="allowed", ids=[row.id])
    return Response(status=204)


@subscriptions.route("/Subscription/<sid>/$status", methods=["GET"])
def status(sid: str) -> Response:
    wants_fhir_json(request)
    grant, holder = _caller("read")
    row = _own(grant, holder, sid, "read")
    ctx = _ctx()
    parameters = status_parameters(row, ctx.base_url, "query-status")
    audit.record(grant, "read", TYPE, outcome="allowed", ids=[row.id])
    return render(
        {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": 1,
            "entry": [
                {
                    "fullUrl": f"urn:uuid:{parameters['id']}",
                    "resource": parameters,
                    "search": {"mode": "match"},
                }
            ],
        },
        pretty=_pretty(),
    )


@subscriptions.route("/Basic/<topic_id>", methods=["GET"])
def topic(topic_id: str) -> Response:
    """A subscription topic: public, like the CapabilityStatement that lists it."""
    wants_fhir_json(request)
    found = BY_ID.get(topic_id)
    if found is None:
        raise NotFound(f"Basic/{topic_id[:64]} is not known")
    return render(as_basic(found, _ctx().base_url), pretty=_pretty())
