"""The CapabilityStatement, generated from the search-parameter registry.

http://hl7.org/fhir/R4/capabilitystatement.html. Every type, interaction, search parameter,
include, revinclude and operation listed here is one the gateway serves (``registry()`` drives
both), and a test exercises each of them; so are the search of several types (``search-system``)
and the Patient compartment (``compartment``). Security extensions (SMART's ``oauth-uris``) are
added by the authorization server through ``security``; resources served by other parts of the
gateway than the HIS (the audit trail's AuditEvent, the sharing part's Consent) are described by
those parts and passed in as ``extra_resources`` (see ``add_resource``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fhir_gateway.fhir.registry import ResourceSpec, registry

SOFTWARE_NAME = "fhir-gateway"
#: Date of the statement: when the served capabilities last changed (a release date).
RELEASE_DATE = "2026-11-24"

_OPERATIONS = {
    "everything": "http://hl7.org/fhir/OperationDefinition/Patient-everything",
}


def _includes(spec: ResourceSpec) -> list[str]:
    return [f"{spec.type}:{p.code}" for p in spec.reference_params]


def _revincludes(spec: ResourceSpec, specs: Mapping[str, ResourceSpec]) -> list[str]:
    return [
        f"{other.type}:{p.code}"
        for other in specs.values()
        for p in other.reference_params
        if spec.type in p.targets
    ]


def _resource(spec: ResourceSpec, specs: Mapping[str, ResourceSpec]) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "type": spec.type,
        "profile": f"http://hl7.org/fhir/StructureDefinition/{spec.type}",
        "interaction": [{"code": code} for code in spec.interactions],
        "versioning": "versioned",
        "readHistory": False,
        "updateCreate": False,
        "conditionalRead": "full-support",
    }
    if "update" in spec.writes:
        # http.html#concurrency: an update may carry If-Match; a stale version is 412
        entry["versioning"] = "versioned-update"
    if spec.documentation:
        entry["documentation"] = spec.documentation
    if spec.searchable:
        if includes := _includes(spec):
            entry["searchInclude"] = includes
        if revincludes := _revincludes(spec, specs):
            entry["searchRevInclude"] = revincludes
        entry["searchParam"] = [
            {"name": p.code, "definition": p.url, "type": p.type, "documentation": p.description}
            for p in spec.params.values()
        ]
    if spec.operations:
        entry["operation"] = [
            {"name": name, "definition": _OPERATIONS[name]} for name in spec.operations
        ]
    return entry


PATIENT_COMPARTMENT_DEFINITION = "http://hl7.org/fhir/CompartmentDefinition/patient"


def _system_params() -> list[dict[str, Any]]:
    """The parameters of a search of several types (``interactions.SYSTEM_PARAMS``)."""
    common = registry()["Patient"].params
    out = [
        {"name": p.code, "definition": p.url, "type": p.type, "documentation": p.description}
        for p in (common["_id"], common["_lastUpdated"])
    ]
    out.append(
        {
            "name": "patient",
            "definition": "http://hl7.org/fhir/SearchParameter/clinical-patient",
            "type": "reference",
            "documentation": "The patient whose compartment the resources are in (every type "
            "listed in _type must be in the Patient compartment)",
        }
    )
    return out


def add_resource(config: Any, entry: Mapping[str, Any]) -> None:
    """Advertise a resource that a part of the gateway serves besides the HIS-backed ones.

    ``config`` is the Flask app's config; ``entry`` a ``CapabilityStatement.rest.resource``.
    """
    config.setdefault("CAPABILITY_RESOURCES", []).append(dict(entry))


def add_interaction(config: Any, entry: Mapping[str, Any]) -> None:
    """Advertise a system interaction (``CapabilityStatement.rest.interaction``) that a part
    of the gateway serves: patients' uploads serve ``transaction`` (IHE MHD ITI-65)."""
    config.setdefault("CAPABILITY_INTERACTIONS", []).append(dict(entry))


def _merge(served: dict[str, Any], extra: Mapping[str, Any]) -> None:
    """Add what another part serves of a HIS-backed type (patients' uploads write Binary and
    DocumentReference): its interactions, its documentation, its other elements where the
    HIS-backed entry has none."""
    codes = {i["code"] for i in served.get("interaction", [])}
    served["interaction"] = [
        *served.get("interaction", []),
        *(dict(i) for i in extra.get("interaction", []) if i["code"] not in codes),
    ]
    if extra.get("documentation"):
        served["documentation"] = " ".join(
            part for part in (served.get("documentation"), extra["documentation"]) if part
        )
    for key, value in extra.items():
        if key not in ("type", "interaction", "documentation"):
            served.setdefault(key, value)


def capability_statement(
    base_url: str,
    version: str,
    security: Mapping[str, Any] | None = None,
    extra_resources: Sequence[Mapping[str, Any]] = (),
    extra_interactions: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """The server's CapabilityStatement for clients of ``base_url``; ``extra_interactions``:
    system interactions other parts serve (``add_interaction``)."""
    specs = registry()
    rest: dict[str, Any] = {
        "mode": "server",
        "documentation": "Read and search over the hospital's HIS, mapped to FHIR R4; patients "
        "answer the questionnaires the hospital assigns them (QuestionnaireResponse update), "
        "read their access history and share their record with partner clinics.",
    }
    rest["security"] = dict(security) if security else {"cors": True}
    resources = [_resource(spec, specs) for spec in specs.values()]
    by_type = {entry["type"]: entry for entry in resources}
    for extra in extra_resources:
        served = by_type.get(extra["type"])
        if served is None:
            resources.append(dict(extra))
            by_type[extra["type"]] = resources[-1]
        else:
            _merge(served, extra)
    rest["resource"] = resources
    # http.html#search: GET [base]?_type=A,B with the parameters the types share
    rest["interaction"] = [
        {
            "code": "search-system",
            "documentation": "Needs _type (the types to search, each as far as the access "
            "granted covers it: the others are left out with a warning); takes _id, "
            "_lastUpdated, patient (compartment types only), _count, _summary=count, _total.",
        }
    ]
    rest["interaction"] += [dict(i) for i in extra_interactions]
    rest["searchParam"] = _system_params()
    # search.html#compartments: Patient/[id]/[type] for the Patient compartment's types
    rest["compartment"] = [PATIENT_COMPARTMENT_DEFINITION]
    return {
        "resourceType": "CapabilityStatement",
        "url": f"{base_url}/metadata",
        "version": version,
        "name": "FhirGateway",
        "title": "FHIR health-data gateway",
        "status": "active",
        "experimental": False,
        "date": RELEASE_DATE,
        "publisher": "The hospital operating this gateway",
        "kind": "instance",
        "software": {"name": SOFTWARE_NAME, "version": version},
        "implementation": {"description": "FHIR R4 gateway over the hospital HIS", "url": base_url},
        "fhirVersion": "4.0.1",
        "format": ["json", "application/fhir+json"],
        "rest": [rest],
    }
