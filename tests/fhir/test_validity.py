"""Every resource of the demo HIS, as the API serves it, is valid FHIR R4.

The demo HIS is built exactly as ``make demo`` builds it (same size, same seed, today's date)
and every searchable type is walked through all its pages, plus every Binary. Each resource is
checked against HL7's official R4 JSON schema and parsed by the fhir.resources R4B models (R4B
and R4 are structurally the same for these types; fhir.resources has no R4 4.0.1 package).
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import os
from pathlib import Path

import pytest

from demo.generator import generate
from fhir_gateway.fhir.registry import registry
from fhir_gateway.his.sql import make_engine
from gateway.app import create_app
from tests.conftest import SHARED_R4, app_config
from tests.fhir.helpers import walk

DEMO_PATIENTS = 200  # keep equal to the Makefile's DEMO_PATIENTS
DEMO_SEED = 1


def _schema_path() -> Path:
    return Path(os.environ.get("FHIR_R4_SCHEMA", SHARED_R4 / "fhir.schema.json"))


@pytest.fixture(scope="module")
def validators():  # type: ignore[no-untyped-def]
    jsonschema = pytest.importorskip("jsonschema")
    path = _schema_path()
    if not path.exists():
        pytest.skip(f"the official R4 schema is not at {path} (set FHIR_R4_SCHEMA)")
    schema = json.loads(path.read_text())
    cls = jsonschema.validators.validator_for(schema)
    out = {}
    for rtype in registry():
        sub = {"$ref": f"#/definitions/{rtype}", "definitions": schema["definitions"]}
        out[rtype] = cls(sub)
    return out


@pytest.fixture(scope="module")
def demo_client(tmp_path_factory):  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path_factory.mktemp('demo') / 'his.sqlite'}"
    engine = make_engine(url)
    generate(engine, patients=DEMO_PATIENTS, seed=DEMO_SEED, today=dt.date.today())
    engine.dispose()
    return create_app(app_config(url)).test_client()


def _model(rtype: str):  # type: ignore[no-untyped-def]
    module = importlib.import_module(f"fhir.resources.R4B.{rtype.lower()}")
    return getattr(module, rtype)


@pytest.mark.slow
def test_every_resource_of_the_demo_his_is_valid(demo_client, validators):
    checked = {}
    for rtype, spec in registry().items():
        if not spec.searchable:
            continue
        resources = walk(demo_client, f"/fhir/{rtype}?_count=1000")
        assert resources, f"no {rtype} in the demo HIS"
        _check_all(rtype, resources, validators)
        checked[rtype] = len(resources)
        if rtype == "DocumentReference":
            binaries = [
                demo_client.get(
                    f"/fhir/{d['content'][0]['attachment']['url']}",
                    headers={"Accept": "application/fhir+json"},
                ).get_json(force=True)
                for d in resources
            ]
            _check_all("Binary", binaries, validators)
            checked["Binary"] = len(binaries)
    assert sum(checked.values()) > 10_000, checked


def _check_all(rtype: str, resources: list[dict], validators: dict) -> None:
    model = _model(rtype)
    for resource in resources:
        errors = sorted(validators[rtype].iter_errors(resource), key=str)
        assert not errors, (rtype, resource.get("id"), [e.message[:200] for e in errors[:3]])
        model.model_validate(resource)
