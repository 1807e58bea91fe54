"""The search-parameter registry: which resource types, interactions and parameters the API has.

One table drives request parsing (``fhir_gateway.fhir.query``), the translation into HIS queries
(the connector must bind every parameter listed here: a test checks it) and the
CapabilityStatement (``conformance.capability``). Types, targets and descriptions of standard
parameters come from HL7's published R4 definitions (``conformance/data``), so nothing here can
drift from the standard.

FHIR R4 search: http://hl7.org/fhir/R4/search.html
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import MappingProxyType

_DATA = Path(__file__).resolve().parents[2] / "conformance" / "data" / "r4-search-parameters.json"

#: Modifiers supported per parameter type (search.html#modifiers). Reference parameters also
#: take a resource type as modifier (``subject:Patient=12``).
MODIFIERS: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "token": frozenset({"not", "missing"}),
        "string": frozenset({"exact", "contains", "missing"}),
        "reference": frozenset({"missing"}),
        "date": frozenset({"missing"}),
        "uri": frozenset({"missing"}),
    }
)
DATE_PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")


@dataclass(frozen=True)
class SearchParam:
    """One search parameter of one resource type."""

    code: str
    type: str
    url: str
    description: str
    targets: tuple[str, ...] = ()
    #: Element path of the references a reference parameter follows, used by ``_include``.
    path: tuple[str, ...] = ()

    @property
    def modifiers(self) -> frozenset[str]:
        return MODIFIERS.get(self.type, frozenset())


@dataclass(frozen=True)
class ResourceSpec:
    """What the API offers for one resource type."""

    type: str
    params: Mapping[str, SearchParam]
    #: Parameters ``_sort`` accepts (all of them dates or ``_id``).
    sorts: tuple[str, ...]
    searchable: bool = True
    operations: tuple[str, ...] = ()
    documentation: str = ""
    #: Write interactions served (``update``: QuestionnaireResponse, ``fhir.writes``).
    writes: tuple[str, ...] = ()
    reference_params: tuple[SearchParam, ...] = field(init=False)

    def __post_init__(self) -> None:
        refs = tuple(p for p in self.params.values() if p.type == "reference")
        object.__setattr__(self, "reference_params", refs)

    @property
    def interactions(self) -> tuple[str, ...]:
        reads = ("read", "search-type") if self.searchable else ("read",)
        return reads + self.writes


# (resource type) -> (parameters, sorts). Each reference parameter names the element path its
# references are found at, for _include. "_id" and "_lastUpdated" are added to every type.
_DECLARED: dict[str, tuple[dict[str, tuple[str, ...]], tuple[str, ...]]] = {
    "Patient": (
        {
            "identifier": (),
            "name": (),
            "family": (),
            "given": (),
            "gender": (),
            "birthdate": (),
            "active": (),
            "email": (),
            "phone": (),
        },
        ("birthdate",),
    ),
    "RelatedPerson": (
        {"patient": ("patient",), "identifier": (), "relationship": (), "name": ()},
        (),
    ),
    "Practitioner": ({"identifier": (), "name": (), "family": (), "given": (), "active": ()}, ()),
    "PractitionerRole": (
        {
            "practitioner": ("practitioner",),
            "organization": ("organization",),
            "location": ("location",),
            "specialty": (),
            "active": (),
        },
        (),
    ),
    "Organization": ({"identifier": (), "name": (), "type": (), "partof": ("partOf",)}, ()),
    "Location": ({"identifier": (), "name": (), "organization": ("managingOrganization",)}, ()),
    "HealthcareService": (
        {
            "identifier": (),
            "name": (),
            "organization": ("providedBy",),
            "location": ("location",),
            "specialty": (),
            "service-type": (),
            "active": (),
        },
        (),
    ),
    "Encounter": (
        {
            "identifier": (),
            "patient": ("subject",),
            "subject": ("subject",),
            "date": (),
            "status": (),
            "class": (),
            "type": (),
            "participant": ("participant", "individual"),
            "practitioner": ("participant", "individual"),
            "location": ("location", "location"),
            "service-provider": ("serviceProvider",),
            "part-of": ("partOf",),
        },
        ("date",),
    ),
    "Observation": (
        {
            "patient": ("subject",),
            "subject": ("subject",),
            "category": (),
            "code": (),
            "date": (),
            "status": (),
        },
        ("date",),
    ),
    "DiagnosticReport": (
        {
            "identifier": (),
            "patient": ("subject",),
            "subject": ("subject",),
            "category": (),
            "code": (),
            "date": (),
            "issued": (),
            "status": (),
            "encounter": ("encounter",),
            "result": ("result",),
            "performer": ("performer",),
            "results-interpreter": ("resultsInterpreter",),
            "imaging-study": ("imagingStudy",),
        },
        ("date",),
    ),
    "DocumentReference": (
        {
            "identifier": (),
            "patient": ("subject",),
            "subject": ("subject",),
            "type": (),
            "category": (),
            "date": (),
            "status": (),
            "encounter": ("context", "encounter"),
            "author": ("author",),
        },
        ("date",),
    ),
    "ImagingStudy": (
        {
            "identifier": (),
            "patient": ("subject",),
            "subject": ("subject",),
            "started": (),
            "modality": (),
            "status": (),
            "encounter": ("encounter",),
            "referrer": ("referrer",),
        },
        ("started",),
    ),
    "Schedule": (
        {"actor": ("actor",), "service-type": (), "specialty": (), "active": (), "date": ()},
        (),
    ),
    "Slot": (
        {"schedule": ("schedule",), "status": (), "start": (), "service-type": (), "specialty": ()},
        ("start",),
    ),
    "Appointment": (
        {
            "patient": ("participant", "actor"),
            "actor": ("participant", "actor"),
            "practitioner": ("participant", "actor"),
            "location": ("participant", "actor"),
            "date": (),
            "status": (),
            "service-type": (),
            "specialty": (),
            "slot": ("slot",),
            "appointment-type": (),
        },
        ("date",),
    ),
    "Questionnaire": (
        {"url": (), "name": (), "title": (), "status": (), "version": (), "date": ()},
        ("date",),
    ),
    "QuestionnaireResponse": (
        {
            "patient": ("subject",),
            "subject": ("subject",),
            "status": (),
            "authored": (),
            "questionnaire": (),
        },
        ("authored",),
    ),
}

#: Write interactions by type: a patient saves and submits the answers of an assigned
#: questionnaire (F18); nothing else is written through the HIS-backed API.
_WRITES: dict[str, tuple[str, ...]] = {"QuestionnaireResponse": ("update",)}

#: Parameters the gateway defines itself (no R4 equivalent), with their own definitions.
_CUSTOM: dict[tuple[str, str], dict[str, object]] = {
    ("DiagnosticReport", "imaging-study"): {
        "type": "reference",
        "target": ["ImagingStudy"],
        "description": "The imaging study a radiology report is about "
        "(DiagnosticReport.imagingStudy)",
    },
}
CUSTOM_DEFINITION_BASE = "https://fhir-gateway.example/SearchParameter"

_DOCS = {
    "DiagnosticReport": "Lab bulletins (lab-N), paraclinical tests (para-N), "
    "radiology reports (rad-N).",
    "Binary": "A document's file: its own bytes by default, a FHIR Binary for FHIR JSON Accept.",
    "ImagingStudy": "Imaging orders of the HIS that have been performed.",
    "QuestionnaireResponse": "A questionnaire the hospital assigned to the patient: in "
    "progress until submitted. The patient updates it with status in-progress to save answers "
    "and completed to submit them (answers checked against the Questionnaire: required, "
    "answer types, answerOption, enableWhen, repeats, maxLength; 422 with one issue per wrong "
    "item). A completed response is closed (409); If-Match with a stale version is 412.",
}


@cache
def _official() -> dict[str, dict[str, dict]]:
    return json.loads(_DATA.read_text(encoding="utf-8"))


def _param(resource_type: str, code: str, path: tuple[str, ...]) -> SearchParam:
    custom = _CUSTOM.get((resource_type, code))
    if custom is not None:
        definition = {**custom, "url": f"{CUSTOM_DEFINITION_BASE}/{resource_type}-{code}"}
    else:
        official = _official()
        definition = official[resource_type].get(code) or official["Resource"][code]
    return SearchParam(
        code=code,
        type=str(definition["type"]),
        url=str(definition["url"]),
        description=str(definition["description"]),
        targets=tuple(definition.get("target", ())),  # type: ignore[arg-type]
        path=path,
    )


def standard_param(resource_type: str, code: str) -> SearchParam:
    """HL7's definition of a standard parameter, for types served outside this registry (the
    audit trail's AuditEvent)."""
    return _param(resource_type, code, ())


@cache
def registry() -> Mapping[str, ResourceSpec]:
    """Every served resource type, in the order the CapabilityStatement lists them."""
    specs: dict[str, ResourceSpec] = {}
    for rtype, (declared, sorts) in sorted(_DECLARED.items()):
        codes = {"_id": (), "_lastUpdated": (), **declared}
        params = {code: _param(rtype, code, path) for code, path in codes.items()}
        specs[rtype] = ResourceSpec(
            type=rtype,
            params=MappingProxyType(params),
            sorts=("_id", "_lastUpdated", *sorts),
            operations=("everything",) if rtype == "Patient" else (),
            documentation=_DOCS.get(rtype, ""),
            writes=_WRITES.get(rtype, ()),
        )
    specs["Binary"] = ResourceSpec(
        type="Binary",
        params=MappingProxyType({}),
        sorts=(),
        searchable=False,
        documentation=_DOCS["Binary"],
    )
    return MappingProxyType(dict(sorted(specs.items())))


def spec_for(resource_type: str) -> ResourceSpec | None:
    return registry().get(resource_type)


#: Parameters of every resource type (search.html#all, #text, #content, #list, #has, #query,
#: #filter via the _filter extension) and the result parameters of search.html#return:
#: standard names whose meaning a client relies on. Those the gateway does not implement are
#: refused, never ignored: ignoring them would answer a wider set than asked for.
STANDARD_COMMON = frozenset(
    {
        "_id",
        "_lastUpdated",
        "_tag",
        "_profile",
        "_security",
        "_source",
        "_text",
        "_content",
        "_list",
        "_has",
        "_type",
        "_query",
        "_filter",
    }
)
STANDARD_RESULT = frozenset(
    {
        "_sort",
        "_count",
        "_include",
        "_revinclude",
        "_summary",
        "_total",
        "_elements",
        "_contained",
        "_containedType",
        "_format",
        "_pretty",
    }
)


def is_standard(resource_type: str, code: str) -> bool:
    """Whether R4 defines ``code`` as a search or result parameter of ``resource_type``."""
    if code in STANDARD_COMMON or code in STANDARD_RESULT:
        return True
    official = _official()
    return code in official.get(resource_type, {}) or code in official["Resource"]
