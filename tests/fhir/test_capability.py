"""The CapabilityStatement says exactly what works, and every advertised thing works."""

from __future__ import annotations

import json

import pytest

from conformance.capability import capability_statement
from fhir_gateway.fhir.registry import registry

_OFFICIAL = json.loads(
    (
        __import__("pathlib").Path(__file__).resolve().parents[2]
        / "conformance"
        / "data"
        / "r4-search-parameters.json"
    ).read_text()
)
_SAMPLE = {
    "token": "x",
    "string": "a",
    "uri": "http://example.org/x",
    "date": "ge2000-01-01",
}


def test_statement_shape(client):
    r = client.get("/fhir/metadata")
    cs = r.get_json(force=True)
    assert cs["resourceType"] == "CapabilityStatement"
    assert cs["fhirVersion"] == "4.0.1"
    assert cs["status"] == "active"
    assert cs["kind"] == "instance"
    served = {res["type"] for res in cs["rest"][0]["resource"]}
    # the state database's AuditEvent and Consent; the subscriptions and their topics (Basic)
    assert served == set(registry()) | {"AuditEvent", "Consent", "Subscription", "Basic"}
    assert r.headers["Access-Control-Allow-Origin"] == "*" or "Origin" not in r.request.headers


def test_python_fhirclient_parses_it(client):
    from fhirclient.models.capabilitystatement import CapabilityStatement

    parsed = CapabilityStatement(client.get("/fhir/metadata").get_json(force=True), strict=True)
    assert parsed.fhirVersion == "4.0.1"


def test_standard_parameters_are_declared_as_hl7_defines_them():
    for rtype, spec in registry().items():
        for code, param in spec.params.items():
            official = _OFFICIAL.get(rtype, {}).get(code) or _OFFICIAL["Resource"].get(code)
            if official is None:
                assert param.url.startswith("https://fhir-gateway.example/"), (rtype, code)
                continue
            assert (param.type, param.url) == (official["type"], official["url"]), (rtype, code)


def _value(rtype: str, param) -> str:  # type: ignore[no-untyped-def]
    if param.code == "active":
        return "true"
    if param.type == "reference":
        return f"{param.targets[0]}/1"
    return _SAMPLE[param.type]


@pytest.mark.parametrize("rtype", sorted(t for t, s in registry().items() if s.searchable))
def test_every_advertised_parameter_and_include_is_accepted(client, rtype):
    strict = {"Prefer": "handling=strict"}
    cs = capability_statement("http://gateway.test/fhir", "test")
    res = next(r for r in cs["rest"][0]["resource"] if r["type"] == rtype)
    spec = registry()[rtype]
    for sp in res["searchParam"]:
        param = spec.params[sp["name"]]
        r = client.get(
            f"/fhir/{rtype}", query_string={sp["name"]: _value(rtype, param)}, headers=strict
        )
        assert r.status_code == 200, (rtype, sp["name"], r.get_data(as_text=True)[:300])
        if param.modifiers - {"missing"}:
            modifier = sorted(param.modifiers - {"missing"})[0]
            r = client.get(
                f"/fhir/{rtype}",
                query_string={f"{sp['name']}:{modifier}": _value(rtype, param)},
                headers=strict,
            )
            assert r.status_code == 200, (rtype, sp["name"], modifier)
    for include in res.get("searchInclude", []):
        r = client.get(f"/fhir/{rtype}?_count=2&_include={include}", headers=strict)
        assert r.status_code == 200, include
    for revinclude in res.get("searchRevInclude", []):
        r = client.get(f"/fhir/{rtype}?_count=2&_revinclude={revinclude}", headers=strict)
        assert r.status_code == 200, revinclude
    for sort in spec.sorts:
        r = client.get(f"/fhir/{rtype}?_count=2&_sort=-{sort}", headers=strict)
        assert r.status_code == 200, sort


def test_system_search_and_the_patient_compartment_are_advertised_and_answer(client):
    from access.compartment import PATIENT_COMPARTMENT

    rest = client.get("/fhir/metadata").get_json(force=True)["rest"][0]
    assert rest["compartment"] == ["http://hl7.org/fhir/CompartmentDefinition/patient"]
    # search-system, and the one transaction served (IHE MHD ITI-65, patients' uploads)
    assert [i["code"] for i in rest["interaction"]] == ["search-system", "transaction"]
    strict = {"Prefer": "handling=strict"}
    values = {"_id": "1", "_lastUpdated": "ge2000", "patient": "Patient/1"}
    for param in rest["searchParam"]:
        query = {"_type": ",".join(PATIENT_COMPARTMENT), param["name"]: values[param["name"]]}
        r = client.get("/fhir", query_string=query, headers=strict)
        assert r.status_code == 200, (param["name"], r.get_data(as_text=True)[:300])
    for rtype in PATIENT_COMPARTMENT:
        r = client.get(f"/fhir/Patient/1/{rtype}?_count=1", headers=strict)
        assert r.status_code == 200, rtype
