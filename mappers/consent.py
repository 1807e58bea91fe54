"""Consent from a gateway ``share`` row: http://hl7.org/fhir/R4/consent.html.

A share is a patient's permission for one partner clinic to read their record: ``scope``
patient-privacy (consentscope), ``category`` LOINC 59284-0 "Patient Consent", the patient as
``patient`` and ``performer``, the partner (an OAuth client, named by its ``client_id``) as
``organization`` and as the recipient actor (v3 ParticipationType IRCP), ``policyRule`` v3
ActCode OPTIN (invariant ppc-1 wants a policy or a rule), ``provision`` permit over ``period``
(the one asked for, ended early by a withdrawal), of the resource types ``class`` and the
resources ``data`` (meaning instance) it was limited to. A withdrawn share is ``status``
inactive.

``terms_of`` reads what an incoming Consent asks for, and refuses (``Refused``, naming the
element) anything the gateway cannot honour exactly: it never accepts and ignores. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from .common import DEFAULT_BASE, instant, period
from .ids import reference

Json = dict[str, Any]

#: Identifier.system of the gateway's OAuth client ids (partner clinics).
CLIENT_SYSTEM = f"{DEFAULT_BASE}/sid/oauth-client"

SCOPE = {
    "coding": [
        {
            "system": "http://terminology.hl7.org/CodeSystem/consentscope",
            "code": "patient-privacy",
            "display": "Privacy Consent",
        }
    ]
}
CATEGORY = {
    "coding": [{"system": "http://loinc.org", "code": "59284-0", "display": "Patient Consent"}]
}
POLICY_RULE = {
    "coding": [
        {
            "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
            "code": "OPTIN",
            "display": "opt-in",
        }
    ]
}
RECIPIENT = {
    "coding": [
        {
            "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
            "code": "IRCP",
            "display": "information recipient",
        }
    ]
}


#: CodeSystem of ``provision.class`` codes the gateway honours: FHIR resource types.
RESOURCE_TYPES = "http://hl7.org/fhir/resource-types"


def partner(client_id: str, client_system: str = CLIENT_SYSTEM) -> Json:
    """A logical reference to the partner clinic by its OAuth client id."""
    return {"identifier": {"system": client_system, "value": client_id}}


def from_share(record: Any, client_system: str = CLIENT_SYSTEM) -> Json:
    """The Consent of one share (``id``, ``client_id``, ``his_patient_id``, ``active``,
    ``created``, ``withdrawn_at`` and, when limited, ``period_start``, ``period_end``,
    ``classes``, ``resources``)."""
    patient = reference("Patient", record["his_patient_id"])
    changed = record["withdrawn_at"] or record["created"]
    org = partner(record["client_id"], client_system)
    start = record.get("period_start") or record["created"]
    end = record.get("period_end")
    withdrawn = record["withdrawn_at"]
    if withdrawn is not None and (end is None or withdrawn < end):
        end = max(withdrawn, start)  # withdrawn before its start: it never was in force (per-1)
    provision: Json = {
        "type": "permit",
        "period": period(start, end),
        "actor": [{"role": RECIPIENT, "reference": org}],
    }
    if record.get("classes") is not None:
        provision["class"] = [
            {"system": RESOURCE_TYPES, "code": code} for code in sorted(record["classes"].split())
        ]
    if record.get("resources") is not None:
        provision["data"] = [
            {"meaning": "instance", "reference": {"reference": ref}}
            for ref in sorted(record["resources"].split())
        ]
    return {
        "resourceType": "Consent",
        "id": str(record["id"]),
        "meta": {"lastUpdated": instant(changed)},
        "status": "active" if record["active"] else "inactive",
        "scope": SCOPE,
        "category": [CATEGORY],
        "patient": patient,
        "dateTime": instant(record["created"]),
        "performer": [patient],
        "organization": [org],
        "policyRule": POLICY_RULE,
        "provision": provision,
    }


def partners_named(resource: dict[str, Any], client_system: str = CLIENT_SYSTEM) -> set[str]:
    """The client ids of the partners a Consent names (``organization`` and provision actors);
    ``Refused`` when one of them is not named by identifier of ``client_system``."""
    refs: list[tuple[str, Any]] = []
    for i, org in enumerate(_listed(resource.get("organization"), "organization")):
        refs.append((f"organization[{i}]", org))
    provision = resource.get("provision")
    if isinstance(provision, dict):
        for i, actor in enumerate(_listed(provision.get("actor"), "provision.actor")):
            if not isinstance(actor, dict) or set(actor) - {"id", "extension", "role", "reference"}:
                raise Refused(f"Consent.provision.actor[{i}] must have a role and a reference")
            refs.append((f"provision.actor[{i}].reference", actor.get("reference")))
    names = set()
    for element, ref in refs:
        ident = ref.get("identifier") if isinstance(ref, dict) else None
        value = ident.get("value") if isinstance(ident, dict) else None
        if (
            not isinstance(ident, dict)
            or ident.get("system") not in (client_system, None)
            or not isinstance(value, str)
            or not 0 < len(value) <= 128
            or "reference" in ref
        ):
            raise Refused(
                f"Consent.{element} must name the partner by identifier (its client id, "
                f"system {client_system})"
            )
        names.add(value)
    return names


def _listed(value: Any, element: str) -> list[Any]:
    if value is None:
        return []
    return _items(value, element)


class Refused(ValueError):
    """A Consent the gateway cannot honour exactly; the message names the element."""


@dataclass(frozen=True, slots=True)
class Terms:
    """What a Consent asks for: ``start``/``end`` (naive UTC, both included; None: open),
    ``classes`` (resource types; None: every type) and ``data`` (the "Type/id" references it
    is limited to, in order; None: no such limit)."""

    start: datetime | None = None
    end: datetime | None = None
    classes: frozenset[str] | None = None
    data: tuple[str, ...] | None = None


#: Elements of an R4 Consent (http://hl7.org/fhir/R4/consent.html#resource). Those a request may
#: carry without changing what is shared: read for what they say (``terms_of``, ``partners_named``,
#: the routes) or informative only (narrative, identifiers, the signed source).
_CONSENT_ELEMENTS = frozenset(
    {
        "resourceType", "id", "meta", "language", "text", "contained", "extension",
        "identifier", "status", "scope", "category", "patient", "dateTime", "performer",
        "organization", "sourceAttachment", "sourceReference", "policy", "policyRule",
        "verification", "provision",
    }
)  # fmt: skip
#: Elements of Consent.provision the gateway honours exactly; every other one is refused.
_PROVISION_ELEMENTS = frozenset({"id", "extension", "type", "period", "actor", "class", "data"})
_WHY = {
    "provision": "nested provisions are not supported",
    "action": "a share always permits reading, and nothing else",
    "securityLabel": "the gateway does not label resources",
    "purpose": "the gateway cannot tell the partner's purpose of use",
    "dataPeriod": "resources are not limited by the time they were recorded",
    "code": "resources are not limited by code",
    "modifierExtension": "no modifier extension is understood",
}
_DATE = re.compile(
    r"(?P<y>[0-9]{4})(?:-(?P<m>0[1-9]|1[0-2])(?:-(?P<d>0[1-9]|[12][0-9]|3[01])"
    r"(?:T(?P<time>[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?)(?P<tz>Z|[+-][0-9]{2}:[0-9]{2}))?)?)?"
)


def _refused(element: str) -> Refused:
    why = _WHY.get(element.split(".")[-1], "it is not supported")
    return Refused(f"Consent.{element} cannot be honoured: {why}")


def _when(value: Any, element: str, *, end: bool) -> datetime:
    """A FHIR dateTime as naive UTC: a date without a time counts in UTC, and an end covers the
    whole year, month, day or second it names (Period: the end includes any matching time)."""
    found = _DATE.fullmatch(value) if isinstance(value, str) else None
    if found is None:
        raise Refused(f"Consent.{element} is not a FHIR dateTime")
    try:
        if found["time"]:
            moment = datetime.fromisoformat(f"{value[:10]}T{found['time'][:8]}{found['tz']}")
            return moment.astimezone(UTC).replace(tzinfo=None)
        year, month, day = int(found["y"]), int(found["m"] or 1), int(found["d"] or 1)
        first = datetime(year, month, day)
    except ValueError:
        raise Refused(f"Consent.{element} is not a valid date") from None
    if not end:
        return first
    if found["d"]:
        following = first + timedelta(days=1)
    elif found["m"]:
        following = datetime(year + month // 12, month % 12 + 1, 1)
    else:
        following = datetime(year + 1, 1, 1)
    return following - timedelta(seconds=1)


def _items(value: Any, element: str) -> list[Any]:
    if not isinstance(value, list) or not value:
        raise Refused(f"Consent.{element} must be a non-empty list")
    return value


def terms_of(
    resource: dict[str, Any],
    *,
    shareable: Collection[str],
    listable: Collection[str],
    now: datetime,
) -> Terms:
    """What ``resource`` (an incoming Consent) shares, or ``Refused`` naming the element the
    gateway cannot honour. ``shareable``: the resource types ``provision.class`` may name;
    ``listable``: those ``provision.data`` may reference; ``now``: naive UTC."""
    for key in resource:
        name = key.removeprefix("_")
        if name == "modifierExtension":
            raise _refused(name)
        if name not in _CONSENT_ELEMENTS:
            raise Refused(f"Consent.{name[:40]} is not an element of an R4 Consent")
    scope = resource.get("scope")
    if scope is not None and not _is_coded(scope, SCOPE):
        raise Refused("Consent.scope cannot be honoured: only patient-privacy is supported")
    if "policy" in resource:
        raise Refused(
            "Consent.policy cannot be honoured: the gateway applies no policy but the Consent's "
            "own provision"
        )
    rule = resource.get("policyRule")
    if rule is not None and not _is_coded(rule, POLICY_RULE):
        raise Refused("Consent.policyRule cannot be honoured: only opt-in (v3-ActCode OPTIN)")
    provision = resource.get("provision")
    if provision is None:
        return Terms()
    if not isinstance(provision, dict):
        raise Refused("Consent.provision must be an object")
    for key in provision:
        name = key.removeprefix("_")
        if name not in _PROVISION_ELEMENTS:
            raise _refused(f"provision.{name[:40]}")
    if provision.get("type", "permit") != "permit":
        raise Refused("Consent.provision.type cannot be honoured: only permit is supported")
    start = end = None
    span = provision.get("period")
    if span is not None:
        if not isinstance(span, dict) or set(span) - {"id", "extension", "start", "end"}:
            raise Refused("Consent.provision.period must be a Period (start, end)")
        if "start" in span:
            start = _when(span["start"], "provision.period.start", end=False)
        if "end" in span:
            end = _when(span["end"], "provision.period.end", end=True)
            if end < now:
                raise Refused("Consent.provision.period.end is in the past")
            if start is not None and end < start:
                raise Refused("Consent.provision.period.end is before its start")
    classes = None
    if "class" in provision:
        classes = set()
        for i, coding in enumerate(_items(provision["class"], "provision.class")):
            element = f"provision.class[{i}]"
            if not isinstance(coding, dict) or coding.get("system") != RESOURCE_TYPES:
                raise Refused(f"Consent.{element} must be a code of {RESOURCE_TYPES}")
            if set(coding) - {"id", "extension", "system", "version", "code", "display",
                              "userSelected"}:  # fmt: skip
                raise Refused(f"Consent.{element} must be a Coding")
            code = coding.get("code")
            if not isinstance(code, str) or code not in shareable:
                raise Refused(
                    f"Consent.{element} cannot be honoured: the types a partner may be shared "
                    f"are {', '.join(sorted(shareable))}"
                )
            classes.add(code)
    data = None
    if "data" in provision:
        refs: list[str] = []
        for i, item in enumerate(_items(provision["data"], "provision.data")):
            element = f"provision.data[{i}]"
            if not isinstance(item, dict) or set(item) - {"id", "extension", "meaning",
                                                          "reference"}:  # fmt: skip
                raise Refused(f"Consent.{element} must have a meaning and a reference")
            if item.get("meaning") != "instance":
                raise Refused(
                    f"Consent.{element}.meaning cannot be honoured: only instance is supported"
                )
            ref = item.get("reference")
            value = ref.get("reference") if isinstance(ref, dict) else None
            rtype, _, rid = value.partition("/") if isinstance(value, str) else ("", "", "")
            if rtype not in listable or not re.fullmatch(r"[A-Za-z0-9\-.]{1,64}", rid):
                raise Refused(
                    f"Consent.{element}.reference must be a relative reference to one of "
                    f"the patient's resources ({', '.join(sorted(listable))})"
                )
            if classes is not None and rtype not in classes:
                raise Refused(
                    f"Consent.{element}.reference names a {rtype}, a type provision.class "
                    "leaves out"
                )
            if isinstance(value, str) and value not in refs:
                refs.append(value)
        data = tuple(refs)
    return Terms(start, end, frozenset(classes) if classes is not None else None, data)


def _is_coded(concept: Any, expected: Json) -> bool:
    """Whether a CodeableConcept carries the (system, code) of ``expected``'s first coding."""
    want = expected["coding"][0]
    codings = concept.get("coding") if isinstance(concept, dict) else None
    return isinstance(codings, list) and any(
        isinstance(c, dict) and c.get("system") == want["system"] and c.get("code") == want["code"]
        for c in codings
    )


def files_of(resource: dict[str, Any]) -> list[str]:
    """The ``Binary/<id>`` references of a document's or a report's files (DocumentReference
    ``content.attachment.url``, DiagnosticReport ``presentedForm.url``)."""
    attachments = [c.get("attachment") or {} for c in resource.get("content") or []]
    attachments += list(resource.get("presentedForm") or [])
    return [
        url
        for url in (a.get("url") for a in attachments if isinstance(a, dict))
        if isinstance(url, str) and url.startswith("Binary/")
    ]


# --- shares with a person outside (F21) ----------------------------------------------------------

#: Canonical URLs of the gateway's extensions on an outside share's Consent, under the
#: hospital's base (``{base}/StructureDefinition/<name>``).
PIN_EXTENSION = "share-pin"
COMMENT_EXTENSION = "share-comment"
STATE_EXTENSION = "share-state"
LAST_USED_EXTENSION = "share-last-used"
#: ``Consent.provision.actor.reference`` of the recipient: the contained RelatedPerson.
RECIPIENT_REF = "#recipient"
_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]{1,189}\.[^@\s]{2,63}")
_MOBILE = re.compile(r"\+?[0-9]{8,15}")


@dataclass(frozen=True, slots=True)
class Recipient:
    """The person outside a Consent shares with: an email address, a mobile (the PIN goes by
    SMS then), and the PIN and comment the patient chose (write-only extensions)."""

    email: str
    phone: str | None
    pin: str | None
    comment: str | None


def names_recipient(resource: dict[str, Any]) -> bool:
    """Whether a Consent's provision names a contained recipient (a share with a person
    outside) rather than a partner clinic."""
    provision = resource.get("provision")
    actors = provision.get("actor") if isinstance(provision, dict) else None
    return isinstance(actors, list) and any(
        isinstance(a, dict)
        and isinstance(a.get("reference"), dict)
        and str(a["reference"].get("reference", "")).startswith("#")
        for a in actors
    )


def _extension(resource: dict[str, Any], url: str) -> str | None:
    found = [
        e for e in resource.get("extension") or [] if isinstance(e, dict) and e.get("url") == url
    ]
    if not found:
        return None
    value = found[0].get("valueString")
    if len(found) > 1 or not isinstance(value, str):
        raise Refused(f"Consent.extension {url.rsplit('/', 1)[-1]} must be one valueString")
    return value


def recipient_of(resource: dict[str, Any], extension_base: str) -> Recipient:
    """The recipient of an outside share's Consent, or ``Refused`` naming the element: one
    provision actor (role IRCP) referencing the contained RelatedPerson ``#recipient`` with an
    email address (``telecom`` system email) and optionally a mobile (system sms), no
    organization; the PIN and the comment as extensions."""
    if resource.get("organization"):
        raise Refused("Consent.organization: a share with a person outside names no organization")
    provision = resource["provision"]
    actors = provision.get("actor")
    if not isinstance(actors, list) or len(actors) != 1:
        raise Refused("Consent.provision.actor must be the one recipient")
    actor = actors[0]
    if (
        set(actor) - {"id", "extension", "role", "reference"}
        or not _is_coded(actor.get("role"), RECIPIENT)
        or actor["reference"] != {"reference": RECIPIENT_REF}
    ):
        raise Refused(
            f"Consent.provision.actor[0] must have the role IRCP and the reference {RECIPIENT_REF}"
        )
    contained = [
        c
        for c in resource.get("contained") or []
        if isinstance(c, dict) and c.get("id") == RECIPIENT_REF[1:]
    ]
    if len(contained) != 1 or contained[0].get("resourceType") != "RelatedPerson":
        raise Refused("Consent.contained must hold the recipient as RelatedPerson 'recipient'")
    person = contained[0]
    emails, mobiles = [], []
    for point in person.get("telecom") or []:
        system = point.get("system") if isinstance(point, dict) else None
        value = point.get("value") if isinstance(point, dict) else None
        if system == "email" and isinstance(value, str):
            emails.append(value.strip())
        elif system == "sms" and isinstance(value, str):
            mobiles.append(value.replace(" ", ""))
        else:
            raise Refused("Consent.contained[recipient].telecom holds an email and a mobile (sms)")
    if len(emails) != 1 or not _EMAIL.fullmatch(emails[0]):
        raise Refused("Consent.contained[recipient].telecom must hold one valid email address")
    if len(mobiles) > 1 or (mobiles and not _MOBILE.fullmatch(mobiles[0])):
        raise Refused("Consent.contained[recipient].telecom holds at most one valid mobile number")
    base = extension_base.rstrip("/")
    comment = _extension(resource, f"{base}/{COMMENT_EXTENSION}")
    if comment is not None and len(comment) > 1000:
        raise Refused("Consent.extension share-comment is longer than 1000 characters")
    return Recipient(
        emails[0],
        mobiles[0] if mobiles else None,
        _extension(resource, f"{base}/{PIN_EXTENSION}"),
        comment,
    )


def from_outside_share(record: Any, state: str, extension_base: str) -> Json:
    """The Consent of one share with a person outside (``id``, ``his_patient_id``, ``email``,
    ``phone``, ``comment``, ``resources``, ``created``, ``period_start``, ``period_end``,
    ``withdrawn_at``, ``locked_at``, ``last_used_at``); ``state`` one of active, pending,
    expired, revoked, locked. The PIN is never part of it."""
    patient = reference("Patient", record["his_patient_id"])
    base = extension_base.rstrip("/")
    end = record["period_end"]
    ended = record["withdrawn_at"] or record["locked_at"]
    if ended is not None and ended < end:
        end = max(ended, record["period_start"])
    telecom = [{"system": "email", "value": record["email"]}]
    if record["phone"]:
        telecom.append({"system": "sms", "value": record["phone"]})
    provision: Json = {
        "type": "permit",
        "period": period(record["period_start"], end),
        "actor": [{"role": RECIPIENT, "reference": {"reference": RECIPIENT_REF}}],
    }
    if record["resources"] is not None:
        provision["data"] = [
            {"meaning": "instance", "reference": {"reference": ref}}
            for ref in sorted(record["resources"].split())
        ]
    extension: list[Json] = [{"url": f"{base}/{STATE_EXTENSION}", "valueCode": state}]
    if record["last_used_at"] is not None:
        extension.append(
            {
                "url": f"{base}/{LAST_USED_EXTENSION}",
                "valueDateTime": instant(record["last_used_at"]),
            }
        )
    if record["comment"]:
        extension.append({"url": f"{base}/{COMMENT_EXTENSION}", "valueString": record["comment"]})
    changed = max(
        t for t in (record["created"], record["withdrawn_at"], record["locked_at"]) if t is not None
    )
    return {
        "resourceType": "Consent",
        "id": f"share-{record['id']}",
        "meta": {"lastUpdated": instant(changed)},
        "language": record["language"],
        "contained": [
            {
                "resourceType": "RelatedPerson",
                "id": RECIPIENT_REF[1:],
                "patient": patient,
                "telecom": telecom,
            }
        ],
        "extension": extension,
        "status": "active" if state in ("active", "pending") else "inactive",
        "scope": SCOPE,
        "category": [CATEGORY],
        "patient": patient,
        "dateTime": instant(record["created"]),
        "performer": [patient],
        "policyRule": POLICY_RULE,
        "provision": provision,
    }
