"""What the CapabilityStatement says of FHIR Subscriptions (R4 Subscriptions Backport IG): the
Subscription resource with its profile, interactions and ``$status``, and every topic the
server supports, each canonical in a ``capabilitystatement-subscriptiontopic-canonical``
extension; the topics themselves are served as Basic resources."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

BACKPORT = "http://hl7.org/fhir/uv/subscriptions-backport"
TOPIC_CANONICAL = f"{BACKPORT}/StructureDefinition/capabilitystatement-subscriptiontopic-canonical"
SUBSCRIPTION_PROFILE = f"{BACKPORT}/StructureDefinition/backport-subscription"
STATUS_OPERATION = f"{BACKPORT}/OperationDefinition/backport-subscription-status"


def subscription_resource(topics: Sequence[str]) -> dict[str, Any]:
    """``rest.resource`` of Subscription, listing the topics' canonical URLs."""
    return {
        "type": "Subscription",
        "extension": [{"url": TOPIC_CANONICAL, "valueCanonical": url} for url in topics],
        "profile": "http://hl7.org/fhir/StructureDefinition/Subscription",
        "supportedProfile": [SUBSCRIPTION_PROFILE],
        "interaction": [
            {"code": "create"},
            {"code": "read"},
            {"code": "delete"},
            {"code": "search-type"},
        ],
        "documentation": "Topic-based subscriptions (Subscriptions R5 Backport IG, R4 form): "
        "criteria is a topic's canonical URL (listed here); rest-hook channels only; payload "
        "empty, id-only or full-resource; a filter patient=Patient/<id>. An app subscribes "
        "to what its grant may read (read scope on the topic's resource type) and is told only "
        "of what its grant covers when the event is sent. A search answers the caller's own.",
        "operation": [{"name": "status", "definition": STATUS_OPERATION}],
    }


def topic_resource() -> dict[str, Any]:
    """``rest.resource`` of Basic: the topics' R4 representation, readable by anyone."""
    return {
        "type": "Basic",
        "profile": "http://hl7.org/fhir/StructureDefinition/Basic",
        "interaction": [{"code": "read"}],
        "documentation": "Only the subscription topics (Basic/topic-<kind>), as the "
        "Subscriptions Backport IG represents topics in R4.",
    }
