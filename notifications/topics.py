"""The subscription topics: one per event kind the notifications know (``events.KINDS``).

FHIR R4 has no SubscriptionTopic resource: the Subscriptions Backport IG lists the topics a
server supports in its CapabilityStatement (the ``capabilitystatement-subscriptiontopic-
canonical`` extension on ``rest.resource`` Subscription) and lets an R4 server serve each as
a ``Basic`` resource carrying the R5 SubscriptionTopic's elements as cross-version extensions.
A topic's canonical URL is the address of that Basic resource (``[base]/Basic/topic-<kind>``),
so the canonical resolves to its definition.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import events as ev

#: Cross-version extensions of R5 SubscriptionTopic elements carried by an R4 Basic.
_XVER = "http://hl7.org/fhir/5.0/StructureDefinition/extension-SubscriptionTopic"
_ARTIFACT_URL = "http://hl7.org/fhir/StructureDefinition/artifact-url"


@dataclass(frozen=True, slots=True)
class Topic:
    kind: str
    #: the type of the resource an event of the topic is about (its notifications' focus)
    resource_type: str
    title: str
    description: str

    @property
    def id(self) -> str:
        return f"topic-{self.kind}"

    def canonical(self, base_url: str) -> str:
        return f"{base_url}/Basic/{self.id}"


TOPICS: tuple[Topic, ...] = (
    Topic(
        ev.LAB_VALIDATED,
        "DiagnosticReport",
        "Laboratory report validated",
        "A laboratory bulletin of the patient was validated by the laboratory.",
    ),
    Topic(
        ev.PARACLINICAL_VALIDATED,
        "DiagnosticReport",
        "Paraclinical report validated",
        "A paraclinical test of the patient (ECG, spirometry, ...) was validated.",
    ),
    Topic(
        ev.RADIOLOGY_SIGNED,
        "DiagnosticReport",
        "Radiology report signed",
        "The report of an imaging examination of the patient was signed.",
    ),
    Topic(
        ev.IMAGES_AVAILABLE,
        "ImagingStudy",
        "Images available",
        "The images of an imaging examination of the patient arrived in the PACS.",
    ),
    Topic(
        ev.DOCUMENT_NEW,
        "DocumentReference",
        "New document",
        "A new document (discharge letter, referral, ...) was filed for the patient.",
    ),
    Topic(
        ev.QUESTIONNAIRE_ASSIGNED,
        "Questionnaire",
        "Questionnaire assigned",
        "The hospital assigned the patient a questionnaire to answer.",
    ),
    Topic(
        ev.APPOINTMENT_BOOKED,
        "Appointment",
        "Appointment booked",
        "An appointment of the patient was booked.",
    ),
    Topic(
        ev.APPOINTMENT_CHANGED,
        "Appointment",
        "Appointment changed",
        "An appointment of the patient was moved or otherwise changed.",
    ),
    Topic(
        ev.APPOINTMENT_CANCELLED,
        "Appointment",
        "Appointment cancelled",
        "An appointment of the patient was cancelled.",
    ),
    Topic(
        ev.APPOINTMENT_DUE,
        "Appointment",
        "Appointment due",
        "An appointment of the patient starts soon (the reminder's time).",
    ),
)

BY_KIND = {t.kind: t for t in TOPICS}
BY_ID = {t.id: t for t in TOPICS}
assert set(BY_KIND) == set(ev.KINDS), "every event kind has its topic"


def by_canonical(base_url: str, canonical: str) -> Topic | None:
    prefix = f"{base_url}/Basic/"
    if not canonical.startswith(prefix):
        return None
    return BY_ID.get(canonical[len(prefix) :])


def canonicals(base_url: str) -> list[str]:
    return [t.canonical(base_url) for t in TOPICS]


def as_basic(topic: Topic, base_url: str) -> dict[str, Any]:
    """The topic as an R4 Basic resource (the IG's R4 representation of a SubscriptionTopic)."""
    return {
        "resourceType": "Basic",
        "id": topic.id,
        "extension": [
            {"url": _ARTIFACT_URL, "valueUri": topic.canonical(base_url)},
            {"url": f"{_XVER}.title", "valueString": topic.title},
            {"url": f"{_XVER}.status", "valueCode": "active"},
            {"url": f"{_XVER}.description", "valueMarkdown": topic.description},
            {
                "url": f"{_XVER}.resourceTrigger",
                "extension": [
                    {"url": "description", "valueMarkdown": topic.description},
                    {"url": "resource", "valueUri": topic.resource_type},
                ],
            },
            {
                "url": f"{_XVER}.canFilterBy",
                "extension": [
                    {"url": "description", "valueMarkdown": "The patient the event concerns."},
                    {"url": "resource", "valueUri": topic.resource_type},
                    {"url": "filterParameter", "valueString": "patient"},
                ],
            },
        ],
        "code": {
            "coding": [
                {
                    "system": "http://hl7.org/fhir/fhir-types",
                    "code": "SubscriptionTopic",
                }
            ]
        },
    }
