"""Cross-patient attack matrix: every resource type the API serves x every interaction, under
real bearer tokens of the SMART authorization server.

The types come from the gateway's own registry (``fhir_gateway.fhir.registry``) and its
compartment rule (``access.policy.COMPARTMENT_TYPES``), plus the types served from the
state database (AuditEvent, Consent); a type added later is covered without touching this file
(``test_the_matrix_knows_every_type_the_api_serves`` fails for a new static route).

Two patients A and B of the seeded HIS, and a guardian acting for a minor (the RelatedPerson of
a HIS guardian link), each with tokens from a full authorization-code launch. The HIS is a copy
of the seeded one with a few cross-patient references planted the way real HIS data goes wrong
(A's document filed under B's episode, B's bulletin under A's episode, B's lab result inside
A's bulletin, ...), so that ``_include`` and ``_revinclude`` from A's resources do point at B's
and only the narrowing keeps them out.

Requirement: no or bad token: 401 with WWW-Authenticate. A type outside the grant: 403, not an
empty 200. Patient and RelatedPerson grants narrow every query to their compartment(s);
query-filtered scopes apply to search, read, includes and $everything alike. Nothing leaks
through _include, _revinclude, :iterate, chained parameters, _has, paging links, Binary,
$everything or history. Another patient's resource answers exactly like a missing one.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from access.policy import COMPARTMENT_TYPES
from fhir_gateway.fhir.registry import registry
from fhir_gateway.his import schema as t
from gateway.app import create_app
from smart_auth.oauth.store import digest
from smart_auth.oauth.tables import oauth_token
from smart_auth.sharing import service as sharing
from tests.conftest import BASE, app_config
from tests.smart_auth.test_oauth_fixtures import (
    add_account,
    add_app,
    authorize_params,
    exchange,
    get_code,
    his_guardian_link,
    make_app,
    pkce,
)

SPECS = registry()
#: Types holding patients' data: narrowed to the grant's compartments.
PATIENT_TYPES = tuple(rtype for rtype in SPECS if rtype in COMPARTMENT_TYPES)
SEARCHABLE = tuple(rtype for rtype in PATIENT_TYPES if SPECS[rtype].searchable)
#: Patient data served from the state database by static routes, outside the registry.
STATE_TYPES = ("AuditEvent", "Consent")
EVERY_TYPE = (*SPECS, *STATE_TYPES)
#: Served from the state database but not patient data: the subscription topics (public Basic
#: resources) and an app's own Subscriptions, whose owner checks are in tests/notifications
#: and the access contract.
APP_TYPES = {"Basic", "Subscription"}
#: /fhir routes that are not a resource type.
NOT_TYPES = {"metadata", ".well-known"}

LAB = "http://terminology.hl7.org/CodeSystem/observation-category|laboratory"
VITALS = "http://terminology.hl7.org/CodeSystem/observation-category|vital-signs"
ALL = "launch/patient openid fhirUser offline_access patient/*.rs"
MISSING = "987654321"


def _includes(rtype: str) -> list[str]:
    return [f"{rtype}:{p.code}" for p in SPECS[rtype].reference_params]


def _revincludes(rtype: str) -> list[str]:
    return [
        f"{source}:{p.code}"
        for source, spec in SPECS.items()
        if spec.searchable
        for p in spec.reference_params
        if rtype in p.targets
    ]


def _patient_params(rtype: str) -> list[str]:
    """Reference parameters of a type that can point at a Patient."""
    return [p.code for p in SPECS[rtype].reference_params if "Patient" in p.targets]


# --- the world: the HIS copy, the patients, their resources --------------------------------------


def owners(resource: dict[str, Any]) -> set[int]:
    """Every patient a resource names: a Patient's own id and every ``Patient/N`` reference."""
    found: set[int] = set()
    if resource.get("resourceType") == "Patient":
        found.add(int(resource["id"]))
    stack: list[Any] = [resource]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            ref = node.get("reference")
            if isinstance(ref, str) and re.fullmatch(r"Patient/\d+", ref):
                found.add(int(ref.split("/")[1]))
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


def resources(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    """Every resource of a Bundle but OperationOutcomes (matches and includes)."""
    return [
        e["resource"]
        for e in bundle.get("entry", [])
        if e["resource"]["resourceType"] != "OperationOutcome"
    ]


def matched(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]


def _local(url: str) -> str:
    assert url.startswith(BASE), url
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def next_link(bundle: dict[str, Any], relation: str = "next") -> str | None:
    found = [x["url"] for x in bundle.get("link", []) if x["relation"] == relation]
    return _local(found[0]) if found else None


@dataclass
class World:
    his_url: str
    a: int
    b: int
    guardian: int
    ward: int
    link: int
    #: type -> patient -> ids of that patient's resources (found with open access)
    owned: dict[str, dict[int, list[str]]]
    #: (type, id) -> the resource as open access sees it
    found: dict[tuple[str, str], dict[str, Any]]
    national_id: dict[int, str]
    family: dict[int, str]
    #: planted cross-patient references: (base type, include, A's base id, B's target)
    planted: list[tuple[str, str, str, tuple[str, str]]] = field(default_factory=list)

    def of(self, rtype: str, patient: int) -> list[str]:
        return self.owned.get(rtype, {}).get(patient, [])

    def mine(self, rtype: str) -> str:
        ids = self.of(rtype, self.a)
        return ids[0] if ids else missing_id(rtype, self.victim(rtype))

    def victim(self, rtype: str) -> str:
        """One of B's resources of the type, else another patient's (never A's)."""
        ids = self.of(rtype, self.b)
        if ids:
            return ids[0]
        for patient, others in sorted(self.owned.get(rtype, {}).items()):
            if patient not in (self.a, self.guardian, self.ward) and others:
                return others[0]
        pytest.fail(f"nobody but A has a {rtype} in the test HIS")

    def forbidden_for(self, *patients: int) -> set[tuple[str, str]]:
        """(type, id) of every patient resource outside the given patients' compartments."""
        mine = set(patients)
        return {key for key, r in self.found.items() if owners(r) and not owners(r) <= mine}


def missing_id(rtype: str, like: str) -> str:
    """An id of the same shape as ``like`` that no record has."""
    prefix = re.match(r"[a-z]+-", like)
    return (prefix.group(0) if prefix else "") + MISSING


def _walk_open(client: FlaskClient, path: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    nxt: str | None = path
    while nxt:
        answer = client.get(nxt)
        assert answer.status_code == 200, (nxt, answer.get_data(as_text=True)[:300])
        bundle = answer.get_json(force=True)
        out += matched(bundle)
        nxt = next_link(bundle)
    return out


def _first(conn: sa.Connection, stmt: Any) -> Any:
    value = conn.execute(stmt.limit(1)).scalar()
    assert value is not None, str(stmt)
    return value


def _plant(his_url: str, a: int, b: int) -> list[tuple[str, str, str, tuple[str, str]]]:
    """Cross-patient references of the kind real HIS data has (a record filed under the wrong
    episode or bulletin). Each: an include from A's resource that reaches one of B's."""
    engine = sa.create_engine(his_url)
    ep, doc, lb, lr, io = t.episode, t.document, t.lab_bulletin, t.lab_result, t.imaging_order
    planted = []
    with engine.begin() as conn:
        a_episode = _first(conn, sa.select(ep.c.id).where(ep.c.patient_id == a).order_by(ep.c.id))
        b_episode = _first(conn, sa.select(ep.c.id).where(ep.c.patient_id == b).order_by(ep.c.id))
        a_doc = _first(conn, sa.select(doc.c.id).where(doc.c.patient_id == a).order_by(doc.c.id))
        conn.execute(sa.update(doc).where(doc.c.id == a_doc).values(episode_id=b_episode))
        planted.append(
            (
                "DocumentReference",
                "DocumentReference:encounter",
                str(a_doc),
                ("Encounter", str(b_episode)),
            )
        )
        conn.execute(sa.update(ep).where(ep.c.id == a_episode).values(parent_id=b_episode))
        planted.append(
            ("Encounter", "Encounter:part-of", str(a_episode), ("Encounter", str(b_episode)))
        )
        b_bulletin = _first(conn, sa.select(lb.c.id).where(lb.c.patient_id == b).order_by(lb.c.id))
        conn.execute(sa.update(lb).where(lb.c.id == b_bulletin).values(episode_id=a_episode))
        planted.append(
            (
                "Encounter",
                "DiagnosticReport:encounter",
                str(a_episode),
                ("DiagnosticReport", f"lab-{b_bulletin}"),
            )
        )
        a_bulletin = _first(conn, sa.select(lb.c.id).where(lb.c.patient_id == a).order_by(lb.c.id))
        b_result = _first(conn, sa.select(lr.c.id).where(lr.c.patient_id == b).order_by(lr.c.id))
        conn.execute(sa.update(lr).where(lr.c.id == b_result).values(bulletin_id=a_bulletin))
        planted.append(
            (
                "DiagnosticReport",
                "DiagnosticReport:result",
                f"lab-{a_bulletin}",
                ("Observation", str(b_result)),
            )
        )
        b_study = _first(
            conn,
            sa.select(io.c.id)
            .where(io.c.patient_id == b, io.c.study_uid.is_not(None))
            .order_by(io.c.id),
        )
        conn.execute(sa.update(io).where(io.c.id == b_study).values(episode_id=a_episode))
        planted.append(
            ("Encounter", "ImagingStudy:encounter", str(a_episode), ("ImagingStudy", str(b_study)))
        )
    engine.dispose()
    return planted


def _survey(open_client: FlaskClient) -> tuple[dict, dict]:
    owned: dict[str, dict[int, list[str]]] = {}
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for rtype in SEARCHABLE:
        for r in _walk_open(open_client, f"/fhir/{rtype}?_count=1000"):
            found[(rtype, r["id"])] = r
            for patient in owners(r):
                owned.setdefault(rtype, {}).setdefault(patient, []).append(r["id"])
    for (rtype, _), doc in list(found.items()):
        if rtype != "DocumentReference":
            continue
        for content in doc.get("content", []):
            url = content.get("attachment", {}).get("url", "")
            if url.startswith("Binary/"):
                bid = url.removeprefix("Binary/")
                found[("Binary", bid)] = {
                    "resourceType": "Binary",
                    "id": bid,
                    "securityContext": doc["subject"],
                }
                for patient in owners(doc):
                    owned.setdefault("Binary", {}).setdefault(patient, []).append(bid)
    return owned, found


def _pick(owned: dict[str, dict[int, list[str]]], exclude: set[int]) -> tuple[int, int]:
    """A and B: the two patients whose records cover the most types (then the most records)."""
    patients = {p for by in owned.values() for p in by} - exclude

    def score(p: int) -> tuple[int, int, int, int]:
        have = [len(owned.get(rtype, {}).get(p, [])) for rtype in PATIENT_TYPES]
        return (sum(n > 0 for n in have), sum(n > 1 for n in have), sum(have), -p)

    ranked = sorted(patients, key=score, reverse=True)
    return ranked[0], ranked[1]


@pytest.fixture(scope="module")
def world(sqlite_his: str, tmp_path_factory: pytest.TempPathFactory) -> World:
    path = tmp_path_factory.mktemp("attack-his") / "his.sqlite"
    shutil.copy(sqlite_his.removeprefix("sqlite:///"), path)
    his_url = f"sqlite:///{path}"
    link, guardian, ward = his_guardian_link(his_url)
    owned, found = _survey(create_app(app_config(his_url)).test_client())
    a, b = _pick(owned, {guardian, ward})
    # moves references between records, never a record to another patient: the survey holds
    planted = _plant(his_url, a, b)
    people = {int(k[1]): r for k, r in found.items() if k[0] == "Patient"}
    return World(
        his_url=his_url,
        a=a,
        b=b,
        guardian=guardian,
        ward=ward,
        link=link,
        owned=owned,
        found=found,
        national_id={p: r["identifier"][0]["value"] for p, r in people.items()},
        family={p: r["name"][0]["family"] for p, r in people.items()},
        planted=planted,
    )


@pytest.fixture(scope="module")
def open_client(world: World) -> FlaskClient:
    """Development open access over the same HIS copy: what is there to leak."""
    return create_app(app_config(world.his_url)).test_client()


# --- the gateway with authorization on, and the tokens --------------------------------------------


@pytest.fixture(scope="module")
def gateway(world: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    app = make_app(world.his_url, tmp_path_factory.mktemp("attack-state"))
    yield app
    app.extensions["audit_writer"].close()
    app.extensions["state_engine"].dispose()


def _launch(
    app: Flask,
    scope: str,
    patients: tuple[tuple[int, str], ...],
    pick: int | None,
    account_id: int | None = None,
) -> dict:
    """A full authorization-code launch of a new public app acting for ``pick`` (None: no
    patient in context), by a new account acting for ``patients`` (or by ``account_id``)."""
    client = app.test_client()
    if account_id is None:
        account_id = add_account(app, *patients)
    client.get(f"/_test/sign-in/{account_id}")
    client_id, _ = add_app(app)
    verifier, challenge = pkce()
    query = get_code(client, authorize_params(client_id, challenge, scope), patient=pick)
    answer = exchange(client, client_id, query["code"][0], verifier)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    token = answer.get_json()
    assert token.get("patient") == (str(pick) if pick is not None else None)
    return {"client": client, "client_id": client_id, "account_id": account_id, **token}


@dataclass
class Tokens:
    a: str
    b: str
    guardian_self: str
    guardian_ward: str
    #: user/ scopes, no patient in context: the guardian's own record and the minor's
    guardian_user: str
    #: one type only: patient/Observation.rs and patient/Encounter.rs
    only: dict[str, str]
    #: query-filtered Observation scopes, by name, with the filter they carry
    filtered: dict[str, tuple[str, str]]
    expired: str
    revoked: str


def _lab_code(world: World) -> str:
    """An Observation code of A's that some, not all, of A's Observations carry."""
    counts: dict[str, int] = {}
    for oid in world.of("Observation", world.a):
        coding = world.found[("Observation", oid)]["code"]["coding"][0]
        key = f"{coding['system']}|{coding['code']}"
        counts[key] = counts.get(key, 0) + 1
    total = sum(counts.values())
    partial = [c for c, n in sorted(counts.items()) if n < total]
    assert partial, "A needs Observations of at least two codes"
    return partial[0]


@pytest.fixture(scope="module")
def tokens(gateway: Flask, world: World) -> Tokens:
    a, b, g, w = world.a, world.b, world.guardian, world.ward

    def access(scope: str, who: int = a) -> str:
        return str(_launch(gateway, scope, ((who, "self"),), who)["access_token"])

    guardian = ((g, "self"), (w, "guardian"))
    rest = "launch/patient patient/Patient.rs patient/DiagnosticReport.rs"
    code = _lab_code(world)
    filtered = {
        "category-vital-signs": f"category={VITALS}",
        "one-code": f"code={code}",
    }
    expired = access(ALL)
    with gateway.extensions["state_engine"].begin() as conn:
        conn.execute(
            sa.update(oauth_token)
            .where(oauth_token.c.access_hash == digest(expired))
            .values(expires_at=int(time.time()) - 1)
        )
    done = _launch(gateway, ALL, ((a, "self"),), a)
    revoked = done["client"].post(
        "/oauth/revoke", data={"token": done["access_token"], "client_id": done["client_id"]}
    )
    assert revoked.status_code == 200
    # one account, the guardian's, acting for their own record and for the minor
    own = _launch(gateway, ALL, guardian, g)
    return Tokens(
        a=access(ALL),
        b=access(ALL, b),
        guardian_self=own["access_token"],
        guardian_ward=_launch(gateway, ALL, guardian, w, own["account_id"])["access_token"],
        guardian_user=_launch(
            gateway, "openid fhirUser user/*.rs", guardian, None, own["account_id"]
        )["access_token"],
        only={
            "Observation": access("launch/patient patient/Observation.rs"),
            "Encounter": access("launch/patient patient/Encounter.rs"),
        },
        filtered={
            name: (access(f"{rest} patient/Observation.rs?{f}"), f) for name, f in filtered.items()
        },
        expired=expired,
        revoked=done["access_token"],
    )


@pytest.fixture(scope="module")
def http(gateway: Flask) -> FlaskClient:
    return gateway.test_client()


def call(
    http: FlaskClient,
    token: str | None,
    path: str,
    *,
    method: str = "GET",
    data: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> Any:
    sent = dict(headers or {})
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    return http.open(path, method=method, data=data, headers=sent)


def bundle_of(answer: Any) -> dict[str, Any]:
    assert answer.status_code == 200, answer.get_data(as_text=True)[:500]
    body = answer.get_json(force=True)
    assert body["resourceType"] == "Bundle"
    return body


def walk(http: FlaskClient, token: str, path: str) -> list[dict[str, Any]]:
    """Every resource (matches and includes) of a search or $everything, through its pages."""
    out: list[dict[str, Any]] = []
    nxt: str | None = path
    for _ in range(200):
        if nxt is None:
            return out
        bundle = bundle_of(call(http, token, nxt))
        out += resources(bundle)
        nxt = next_link(bundle)
    raise AssertionError("too many pages")


def assert_outcome(answer: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert answer.status_code == status, (status, answer.get_data(as_text=True)[:500])
    body = answer.get_json(force=True)
    assert body["resourceType"] == "OperationOutcome", body
    if code is not None:
        assert body["issue"][0]["code"] == code, body
    return body


_VOLATILE = {"X-Request-ID", "Content-Length"}


def assert_like_missing(
    http: FlaskClient,
    token: str,
    template: str,
    real: str,
    missing: str,
    **kw: Any,
) -> None:
    """The answer for ``real`` is the answer for an id no record has, but for the id's text."""
    theirs = call(http, token, template.format(id=real), **kw)
    absent = call(http, token, template.format(id=missing), **kw)
    assert theirs.status_code == absent.status_code, template
    assert theirs.status_code not in (200, 304), theirs.get_data(as_text=True)[:300]
    assert theirs.get_data(as_text=True).replace(real, "{id}") == absent.get_data(
        as_text=True
    ).replace(missing, "{id}")
    head = {k: v for k, v in theirs.headers.items() if k not in _VOLATILE}
    assert head == {k: v for k, v in absent.headers.items() if k not in _VOLATILE}


def assert_only(found: list[dict[str, Any]], world: World, *patients: int) -> None:
    """Nothing in ``found`` names a patient outside ``patients`` or is such a patient's."""
    forbidden = world.forbidden_for(*patients)
    for r in found:
        assert owners(r) <= set(patients), (r["resourceType"], r.get("id"), owners(r))
        assert (r["resourceType"], r.get("id")) not in forbidden, (r["resourceType"], r["id"])


# --- the matrix covers what the gateway serves ----------------------------------------------------


def test_the_matrix_knows_every_type_the_api_serves(gateway: Flask) -> None:
    static = {
        rule.rule.split("/")[2]
        for rule in gateway.url_map.iter_rules()
        if rule.rule.startswith("/fhir/") and "<" not in rule.rule.split("/")[2]
    }
    left = static - NOT_TYPES - APP_TYPES
    assert left <= set(EVERY_TYPE), left - set(EVERY_TYPE)
    statement = gateway.test_client().get("/fhir/metadata").get_json()
    advertised = {r["type"] for rest in statement["rest"] for r in rest["resource"]}
    assert advertised == set(EVERY_TYPE) | APP_TYPES
    assert set(SEARCHABLE) < set(PATIENT_TYPES) <= set(SPECS)
    for rtype in SEARCHABLE:
        assert rtype == "Patient" or "patient" in SPECS[rtype].params, rtype


@pytest.mark.parametrize("rtype", [r for r in SPECS if r not in PATIENT_TYPES])
def test_types_outside_the_compartment_name_no_patient(
    open_client: FlaskClient, rtype: str
) -> None:
    """A type left out of the compartment rule is never narrowed: it must hold no patient data."""
    if not SPECS[rtype].searchable:
        pytest.skip(f"{rtype} cannot be searched")
    found = _walk_open(open_client, f"/fhir/{rtype}?_count=1000")
    assert found, f"the test HIS has no {rtype}"
    assert [r["id"] for r in found if owners(r)] == []


def test_the_planted_references_do_reach_b_without_narrowing(
    open_client: FlaskClient, world: World
) -> None:
    """The attack paths exist: under open access A's resources include B's."""
    assert world.planted
    for base, include, base_id, target in world.planted:
        kind = "_revinclude" if not include.startswith(f"{base}:") else "_include"
        bundle = bundle_of(open_client.get(f"/fhir/{base}?_id={base_id}&{kind}={include}"))
        got = {(r["resourceType"], r["id"]) for r in resources(bundle)}
        assert target in got, (include, target, got)
        assert world.b in owners(world.found[target])


# --- 401: no or bad token, on every type and interaction -----------------------------------------

CREDENTIALS = [
    "none",
    "garbage",
    "empty-bearer",
    "basic",
    "expired",
    "revoked",
    "token-with-suffix",
    "other-scheme",
]


def _credentials(tokens: Tokens, kind: str) -> dict[str, str]:
    return {
        "none": {},
        "garbage": {"Authorization": "Bearer not-a-token"},
        "empty-bearer": {"Authorization": "Bearer "},
        "basic": {"Authorization": "Basic eDp5"},
        "expired": {"Authorization": f"Bearer {tokens.expired}"},
        "revoked": {"Authorization": f"Bearer {tokens.revoked}"},
        "token-with-suffix": {"Authorization": f"Bearer {tokens.a}x"},
        "other-scheme": {"Authorization": f"Token {tokens.a}"},
    }[kind]


@pytest.mark.parametrize("credential", CREDENTIALS)
@pytest.mark.parametrize("rtype", EVERY_TYPE)
def test_no_or_bad_token_is_401_with_www_authenticate(
    http: FlaskClient, world: World, tokens: Tokens, rtype: str, credential: str
) -> None:
    headers = _credentials(tokens, credential)
    known = world.victim(rtype) if rtype in PATIENT_TYPES else "1"
    requests = [
        ("GET", f"/fhir/{rtype}", None),
        ("GET", f"/fhir/{rtype}?_id={known}", None),
        ("GET", f"/fhir/{rtype}/{known}", None),
        ("HEAD", f"/fhir/{rtype}/{known}", None),
        ("POST", f"/fhir/{rtype}/_search", {"_id": known}),
    ]
    if rtype == "Patient":
        requests += [
            ("GET", f"/fhir/Patient/{world.b}/$everything", None),
            ("POST", f"/fhir/Patient/{world.b}/$everything", {}),
        ]
    bodies = set()
    for method, path, data in requests:
        answer = http.open(path, method=method, data=data, headers=headers)
        assert answer.status_code == 401, (method, path, answer.get_data(as_text=True)[:300])
        assert answer.headers["WWW-Authenticate"].startswith("Bearer realm="), path
        if method != "HEAD":
            bodies.add(answer.get_data(as_text=True))
            assert_outcome(answer, 401, "login")
    # the same answer whatever was asked: nothing to learn before authenticating
    assert len(bodies) == 1, bodies
    # the same token is honoured where it is valid (the 401 is about the credential)
    if credential == "token-with-suffix":
        assert call(http, tokens.a, f"/fhir/Patient/{world.a}").status_code == 200


# --- another patient's resource answers like a missing one ---------------------------------------


@pytest.mark.parametrize("rtype", PATIENT_TYPES)
def test_read_of_b_answers_like_a_missing_id(
    http: FlaskClient, world: World, tokens: Tokens, rtype: str
) -> None:
    victim = world.victim(rtype)
    missing = missing_id(rtype, victim)
    assert_like_missing(http, tokens.a, f"/fhir/{rtype}/{{id}}", victim, missing)
    assert_like_missing(http, tokens.a, f"/fhir/{rtype}/{{id}}", victim, missing, method="HEAD")
    for header in ({"If-None-Match": "*"}, {"If-None-Match": 'W/"1"'}, {"Accept": "*/*"}):
        assert_like_missing(
            http, tokens.a, f"/fhir/{rtype}/{{id}}", victim, missing, headers=header
        )
    fhir_json = {"Accept": "application/fhir+json"}
    assert_like_missing(http, tokens.a, f"/fhir/{rtype}/{{id}}", victim, missing, headers=fhir_json)
    assert_like_missing(http, tokens.a, f"/fhir/{rtype}/{{id}}?_format=json", victim, missing)
    assert_outcome(call(http, tokens.a, f"/fhir/{rtype}/{victim}"), 404, "not-found")
    # positive controls: the owner reads it, and A reads A's own
    owner = tokens.b if victim in world.of(rtype, world.b) else None
    if owner is not None:
        assert call(http, owner, f"/fhir/{rtype}/{victim}").status_code == 200
    if world.of(rtype, world.a):
        mine = call(http, tokens.a, f"/fhir/{rtype}/{world.mine(rtype)}", headers=fhir_json)
        assert mine.status_code == 200
        assert world.a in owners(mine.get_json(force=True))


@pytest.mark.parametrize(
    "interaction", ["history-instance", "vread", "history-type-of-id", "compartment"]
)
@pytest.mark.parametrize("rtype", PATIENT_TYPES)
def test_history_and_vread_of_b_answer_like_a_missing_id(
    http: FlaskClient, world: World, tokens: Tokens, rtype: str, interaction: str
) -> None:
    """History is not served; whatever answers, B's ids answer like missing ones. A compartment
    search is served (search.html#compartments): B's compartment is, for A, exactly the empty
    searchset of a patient no record has."""
    template = {
        "history-instance": f"/fhir/{rtype}/{{id}}/_history",
        "vread": f"/fhir/{rtype}/{{id}}/_history/1",
        "history-type-of-id": f"/fhir/{rtype}/_history?_id={{id}}",
        "compartment": f"/fhir/Patient/{{id}}/{rtype}",
    }[interaction]
    if interaction == "compartment":
        victim, missing = str(world.b), MISSING
        theirs = call(http, tokens.a, template.format(id=victim))
        absent = call(http, tokens.a, template.format(id=missing))
        assert theirs.status_code == absent.status_code, template
        if theirs.status_code == 200:
            assert "entry" not in bundle_of(theirs), template
        assert theirs.get_data(as_text=True).replace(victim, "{id}") == absent.get_data(
            as_text=True
        ).replace(missing, "{id}")
        return
    victim = world.victim(rtype)
    assert_like_missing(http, tokens.a, template, victim, missing_id(rtype, victim))


def _search_variants(rtype: str) -> list[str]:
    out = ["_id", "_id-mine-or-theirs", "_id-count", "_id-total", "post-_id", "post-_id-in-query"]
    if rtype == "Patient":
        out += ["identifier", "identifier-with-system", "name"]
    for code in _patient_params(rtype):
        out += [
            code,
            f"{code}-literal",
            f"{code}-url",
            f"{code}-typed",
            f"{code}-or",
            f"post-{code}",
        ]
    return out


def _variant(world: World, rtype: str, variant: str, me: int, mine: str) -> list[tuple[str, str]]:
    """The parameters of one way of asking for B's resources (``post-``: POST _search), by a
    caller acting for patient ``me`` who holds the resource ``mine``."""
    b, victim = world.b, world.victim(rtype)
    name = variant.removeprefix("post-")
    system = world.found[("Patient", str(b))]["identifier"][0]["system"]
    fixed = {
        "_id": [("_id", victim)],
        "_id-in-query": [("_id", victim)],
        "_id-mine-or-theirs": [("_id", f"{mine},{victim}")],
        "_id-count": [("_id", victim), ("_summary", "count")],
        "_id-total": [("_id", victim), ("_total", "accurate")],
        "identifier": [("identifier", world.national_id[b])],
        "identifier-with-system": [("identifier", f"{system}|{world.national_id[b]}")],
        "name": [("family", world.family[b]), ("_id", str(b))],
    }
    if name in fixed:
        return fixed[name]
    code, _, form = name.partition("-")
    value = {
        "": str(b),
        "literal": f"Patient/{b}",
        "url": f"{BASE}/Patient/{b}",
        "typed": str(b),
        "or": f"{me},{b}",
    }[form]
    return [(f"{code}:Patient" if form == "typed" else code, value)]


SEARCH_CASES = [(rtype, v) for rtype in SEARCHABLE for v in _search_variants(rtype)]
#: who searches: A's patient/ grant, and the guardian's user/ grant over two records
ATTACKERS = ["A", "guardian-user"]


def _ask(
    client: FlaskClient, token: str | None, rtype: str, variant: str, pairs: list
) -> dict[str, Any]:
    extra = {"_count": "1000"}
    if variant == "post-_id-in-query":
        path = f"/fhir/{rtype}/_search?{pairs[0][0]}={pairs[0][1]}"
        answer = call(client, token, path, method="POST", data=extra)
    elif variant.startswith("post-"):
        answer = call(
            client, token, f"/fhir/{rtype}/_search", method="POST", data=dict(pairs) | extra
        )
    else:
        query = "&".join(f"{k}={v}" for k, v in [*pairs, *extra.items()])
        answer = call(client, token, f"/fhir/{rtype}?{query}")
    return bundle_of(answer)


@pytest.mark.parametrize(("rtype", "variant"), SEARCH_CASES)
@pytest.mark.parametrize("attacker", ATTACKERS)
def test_searches_aimed_at_b_return_none_of_bs(
    http: FlaskClient,
    open_client: FlaskClient,
    world: World,
    tokens: Tokens,
    attacker: str,
    rtype: str,
    variant: str,
) -> None:
    if attacker == "A":
        token, patients = tokens.a, (world.a,)
    else:
        token, patients = tokens.guardian_user, (world.ward, world.guardian)
    held = [i for p in patients for i in world.of(rtype, p)]
    mine = held[0] if held else missing_id(rtype, world.victim(rtype))
    pairs = _variant(world, rtype, variant, patients[0], mine)
    # what the same search finds without narrowing, and whose it is
    everyone = _ask(open_client, None, rtype, variant, pairs)
    share = {r["id"] for r in matched(everyone) if owners(r) <= set(patients)}
    bs = {r["id"] for r in matched(everyone) if owners(r) <= {world.b}}
    aimed = variant.startswith(("_id", "post-_id", "identifier")) and "mine" not in variant
    if aimed and world.victim(rtype) in world.of(rtype, world.b):
        assert bs or everyone.get("total"), "the attack must aim at something"
    bundle = _ask(http, token, rtype, variant, pairs)
    assert_only(resources(bundle), world, *patients)
    ids = {r["id"] for r in matched(bundle)}
    # exactly the caller's share of it: the narrowing removes B's, not the caller's own
    assert ids == share
    if "total" in bundle:
        assert bundle["total"] == len(share)
    if variant == "_id-mine-or-theirs" and held:
        assert ids == {mine}
    # B's token finds B's share: the search itself works
    theirs = _ask(http, tokens.b, rtype, variant, pairs)
    assert {r["id"] for r in matched(theirs)} == bs
    if variant == "_id-count":
        bs = world.victim(rtype) in world.of(rtype, world.b)
        assert theirs["total"] == (everyone["total"] if bs else 0) == (1 if bs else 0)


# --- _include, _revinclude, :iterate, chains, _has ----------------------------------------------

INCLUDE_CASES = [
    (rtype, kind, spec)
    for rtype in SEARCHABLE
    for kind, specs in (("_include", _includes(rtype)), ("_revinclude", _revincludes(rtype)))
    for spec in specs
]


@pytest.mark.parametrize(("rtype", "kind", "spec"), INCLUDE_CASES)
def test_includes_from_as_resources_never_bring_bs(
    http: FlaskClient, world: World, tokens: Tokens, rtype: str, kind: str, spec: str
) -> None:
    mine = ",".join(world.of(rtype, world.a)[:50]) or MISSING
    theirs = world.victim(rtype)
    for ids in (f"{mine},{theirs}", theirs):
        found = walk(http, tokens.a, f"/fhir/{rtype}?_id={ids}&{kind}={spec}&_count=200")
        assert_only(found, world, world.a)
    for base, include, base_id, target in world.planted:
        if (base, include) == (rtype, spec):
            found = walk(http, tokens.a, f"/fhir/{rtype}?_id={base_id}&{kind}={spec}")
            got = {(r["resourceType"], r["id"]) for r in found}
            assert (rtype, base_id) in got  # A's own base resource
            assert target not in got


@pytest.mark.parametrize(
    "name", ["_include:iterate", "_revinclude:iterate", "_include:recurse", "_revinclude:recurse"]
)
@pytest.mark.parametrize("rtype", SEARCHABLE)
@pytest.mark.parametrize("prefer", ["lenient", "strict"])
def test_iterate_is_refused_not_ignored(
    http: FlaskClient, world: World, tokens: Tokens, rtype: str, name: str, prefer: str
) -> None:
    specs = _includes(rtype) if name.startswith("_include") else _revincludes(rtype)
    spec = specs[0] if specs else f"{rtype}:patient"
    answer = call(
        http,
        tokens.a,
        f"/fhir/{rtype}?{name}={spec}",
        headers={"Prefer": f"handling={prefer}"},
    )
    assert_outcome(answer, 400, "not-supported")


def _chains(world: World, rtype: str) -> list[tuple[str, str]]:
    b = world.b
    out = []
    for code in _patient_params(rtype):
        out += [
            (f"{code}.identifier", world.national_id[b]),
            (f"{code}:Patient.identifier", world.national_id[b]),
            (f"{code}.name", world.family[b]),
            (f"{code}.family", world.family[b]),
            (f"{code}._id", str(b)),
        ]
    for source, spec in SPECS.items():
        for p in spec.reference_params:
            if rtype in p.targets and spec.searchable:
                ident = world.victim(source) if source in PATIENT_TYPES else "1"
                out.append((f"_has:{source}:{p.code}:_id", ident))
    return out


CHAIN_CASES = [(rtype, prefer) for rtype in SEARCHABLE for prefer in ("lenient", "strict")]


@pytest.mark.parametrize(("rtype", "prefer"), CHAIN_CASES)
def test_chains_and_has_are_refused_with_a_clear_400(
    http: FlaskClient, world: World, tokens: Tokens, rtype: str, prefer: str
) -> None:
    chains = _chains(world, rtype)
    if not chains:
        pytest.skip(f"{rtype} has no reference to chain through")
    for name, value in chains:
        answer = call(
            http,
            tokens.a,
            f"/fhir/{rtype}?{name}={value}",
            headers={"Prefer": f"handling={prefer}"},
        )
        body = assert_outcome(answer, 400, "not-supported")
        assert name.split(":")[0].split(".")[0] in body["issue"][0]["diagnostics"], name
        posted = call(http, tokens.a, f"/fhir/{rtype}/_search", method="POST", data={name: value})
        assert_outcome(posted, 400, "not-supported")


# --- $everything, paging links, Binary -----------------------------------------------------------


def test_everything_of_b_answers_like_a_missing_patient(
    http: FlaskClient, world: World, tokens: Tokens
) -> None:
    template = "/fhir/Patient/{id}/$everything"
    b = str(world.b)
    assert_like_missing(http, tokens.a, template, b, MISSING)
    assert_like_missing(http, tokens.a, template, b, MISSING, method="POST", data={})
    assert_like_missing(http, tokens.a, template + "?_type=Observation", b, MISSING)
    assert call(http, tokens.b, template.format(id=b)).status_code == 200


def test_everything_of_a_holds_only_as_compartment(
    http: FlaskClient, world: World, tokens: Tokens
) -> None:
    found = walk(http, tokens.a, f"/fhir/Patient/{world.a}/$everything?_count=100")
    assert_only(found, world, world.a)
    got = {(r["resourceType"], r["id"]) for r in found}
    for rtype in SEARCHABLE:
        assert {(rtype, i) for i in world.of(rtype, world.a)} <= got, rtype


def test_paging_links_of_b_are_refused_to_a(
    http: FlaskClient, world: World, tokens: Tokens
) -> None:
    replayed = 0
    for rtype in SEARCHABLE:
        if len(world.of(rtype, world.b)) < 2:
            continue
        first = bundle_of(call(http, tokens.b, f"/fhir/{rtype}?_count=1"))
        nxt = next_link(first)
        assert nxt is not None, rtype
        second = bundle_of(call(http, tokens.b, nxt))
        assert matched(second)
        assert owners(matched(second)[0]) == {world.b}
        back = next_link(second, "previous")
        assert back is not None
        for link in (nxt, back):
            assert_outcome(call(http, tokens.a, link), 400, "invalid")
            cursor = dict(pair.split("=", 1) for pair in urlsplit(link).query.split("&"))["_cursor"]
            posted = call(
                http,
                tokens.a,
                f"/fhir/{rtype}/_search",
                method="POST",
                data={"_count": "1", "_cursor": cursor},
            )
            assert_outcome(posted, 400, "invalid")
        replayed += 1
    assert replayed >= len(SEARCHABLE) // 2, "B needs records to page through"
    everything = bundle_of(call(http, tokens.b, f"/fhir/Patient/{world.b}/$everything?_count=2"))
    nxt = next_link(everything)
    assert nxt is not None
    assert call(http, tokens.b, nxt).status_code == 200
    assert_outcome(call(http, tokens.a, nxt), 404, "not-found")  # B is missing to A
    same_cursor = nxt.replace(f"/Patient/{world.b}/", f"/Patient/{world.a}/")
    assert_outcome(call(http, tokens.a, same_cursor), 400, "invalid")


def test_paging_links_are_bound_to_the_grant_not_the_account(
    http: FlaskClient, world: World, tokens: Tokens
) -> None:
    """One account, three grants: a link made under one is refused under the others."""
    grants = {
        "ward": tokens.guardian_ward,
        "own record": tokens.guardian_self,
        "both": tokens.guardian_user,
    }
    rtype = next(r for r in SEARCHABLE if len(world.of(r, world.ward)) >= 2)
    for name, token in grants.items():
        nxt = next_link(bundle_of(call(http, token, f"/fhir/{rtype}?_count=1")))
        assert nxt is not None, name
        assert call(http, token, nxt).status_code == 200
        for other, replayed in grants.items():
            if other != name:
                assert_outcome(call(http, replayed, nxt), 400, "invalid")


def test_binary_of_b_answers_like_missing_in_every_form(
    http: FlaskClient, world: World, tokens: Tokens
) -> None:
    victim = world.victim("Binary")
    for query, headers in (
        ("", {}),
        ("", {"Accept": "application/pdf"}),
        ("", {"Accept": "application/fhir+json"}),
        ("?_format=json", {}),
        ("?_format=application/fhir%2Bjson", {}),
    ):
        assert_like_missing(
            http, tokens.a, f"/fhir/Binary/{{id}}{query}", victim, MISSING, headers=headers
        )
    assert call(http, tokens.b, f"/fhir/Binary/{victim}").status_code == 200
    mine = call(http, tokens.a, f"/fhir/Binary/{world.mine('Binary')}")
    assert mine.status_code == 200
    assert mine.data
    for path in ("/fhir/Binary", f"/fhir/Binary?_id={victim}"):
        assert call(http, tokens.a, path).status_code in (404, 405)


# --- types outside the grant: 403, never an empty 200 --------------------------------------------


@pytest.mark.parametrize("rtype", EVERY_TYPE)
def test_a_type_outside_the_grant_is_403(
    http: FlaskClient, world: World, tokens: Tokens, rtype: str
) -> None:
    granted = "Encounter" if rtype == "Observation" else "Observation"
    token = tokens.only[granted]
    own = world.mine(rtype) if rtype in PATIENT_TYPES else "1"
    theirs = world.victim(rtype) if rtype in PATIENT_TYPES else "2"
    answers = [
        call(http, token, f"/fhir/{rtype}/{own}"),
        call(http, token, f"/fhir/{rtype}/{theirs}"),
    ]
    if (rtype in SPECS and SPECS[rtype].searchable) or rtype in STATE_TYPES:
        answers += [
            call(http, token, f"/fhir/{rtype}"),
            call(http, token, f"/fhir/{rtype}?_id={own}"),
        ]
    if rtype in SPECS and SPECS[rtype].searchable:
        answers.append(call(http, token, f"/fhir/{rtype}/_search", method="POST", data={}))
    for answer in answers:
        assert_outcome(answer, 403, "forbidden")
    # B's resource and A's own answer alike: a refusal says nothing about existence
    assert answers[0].get_data() == answers[1].get_data()
    # the granted type itself works
    assert call(http, token, f"/fhir/{granted}?_count=1").status_code == 200


def test_everything_under_a_one_type_grant_never_shows_other_types(
    http: FlaskClient, world: World, tokens: Tokens
) -> None:
    answer = call(http, tokens.only["Observation"], f"/fhir/Patient/{world.a}/$everything")
    if answer.status_code == 200:
        types = {r["resourceType"] for r in resources(answer.get_json(force=True))}
        assert types <= {"Observation"}
    else:
        assert_outcome(answer, 403, "forbidden")


ONE_TYPE_INCLUDES = [
    (base, kind, spec, granted)
    for granted in ("Observation", "Encounter")
    for base in (granted,)
    for kind, specs in (("_include", _includes(base)), ("_revinclude", _revincludes(base)))
    for spec in specs
]


@pytest.mark.parametrize(("base", "kind", "spec", "granted"), ONE_TYPE_INCLUDES)
def test_includes_of_an_ungranted_type_are_left_out(
    http: FlaskClient, world: World, tokens: Tokens, base: str, kind: str, spec: str, granted: str
) -> None:
    """access.AccessPolicy.may: an included type the grant does not cover is left out, as the
    searched type itself would be refused."""
    found = walk(http, tokens.only[granted], f"/fhir/{base}?{kind}={spec}&_count=200")
    assert found, "A's own resources of the granted type"
    assert {r["resourceType"] for r in found} == {granted}
    assert_only(found, world, world.a)


# --- query-filtered scopes: search, read, includes and $everything alike ------------------------


@pytest.fixture(scope="module")
def filtered(open_client: FlaskClient, world: World, tokens: Tokens) -> dict[str, dict]:
    """For each filtered grant: its token, and A's Observations it may and may not see."""
    out = {}
    for name, (token, condition) in tokens.filtered.items():
        visible = {
            r["id"]
            for r in _walk_open(
                open_client, f"/fhir/Observation?patient={world.a}&{condition}&_count=1000"
            )
        }
        hidden = set(world.of("Observation", world.a)) - visible
        assert hidden, name
        out[name] = {"token": token, "visible": visible, "hidden": hidden}
    return out


FILTER_INTERACTIONS = [
    "read",
    "search",
    "search-_id",
    "post-search",
    "count",
    "everything",
    "include",
    "revinclude",
]


@pytest.mark.parametrize("interaction", FILTER_INTERACTIONS)
@pytest.mark.parametrize("grant", ["category-vital-signs", "one-code"])
def test_query_filtered_scopes_apply_to_every_interaction(
    http: FlaskClient, world: World, filtered: dict, grant: str, interaction: str
) -> None:
    token, visible, hidden = (filtered[grant][k] for k in ("token", "visible", "hidden"))
    one_hidden = sorted(hidden)[0]
    a = world.a
    if interaction == "read":
        assert_like_missing(http, token, "/fhir/Observation/{id}", one_hidden, MISSING)
        for oid in sorted(visible)[:3]:
            assert call(http, token, f"/fhir/Observation/{oid}").status_code == 200
        return
    paths = {
        "search": "/fhir/Observation?_count=1000",
        "search-_id": f"/fhir/Observation?_id={','.join(sorted(hidden)[:20])}",
        "count": "/fhir/Observation?_summary=count",
        "everything": f"/fhir/Patient/{a}/$everything?_count=200",
        "include": "/fhir/DiagnosticReport?_include=DiagnosticReport:result&_count=200",
        "revinclude": f"/fhir/Patient?_id={a}&_revinclude=Observation:patient",
    }
    if interaction == "post-search":
        answer = call(
            http, token, "/fhir/Observation/_search", method="POST", data={"_count": "1000"}
        )
        found = resources(bundle_of(answer))
    elif interaction == "count":
        bundle = bundle_of(call(http, token, paths["count"]))
        assert bundle["total"] == len(visible)
        return
    else:
        found = walk(http, token, paths[interaction])
    assert_only(found, world, a)
    seen = {r["id"] for r in found if r["resourceType"] == "Observation"}
    assert not seen & hidden
    if interaction in ("search", "post-search"):
        assert seen == visible
    elif interaction == "search-_id":
        assert seen == set()
    elif interaction == "include":
        # the reports are there; only their filtered-out results are not
        assert any(r["resourceType"] == "DiagnosticReport" for r in found)
    else:
        assert seen <= visible


# --- the guardian: a RelatedPerson grant for a minor, and their own -----------------------------


@pytest.mark.parametrize("acting_for", ["ward", "own record", "both (user scopes)"])
@pytest.mark.parametrize("rtype", PATIENT_TYPES)
def test_a_guardian_sees_the_chosen_persons_data_only(
    http: FlaskClient, world: World, tokens: Tokens, rtype: str, acting_for: str
) -> None:
    token, patients, others = {
        "ward": (tokens.guardian_ward, [world.ward], [world.guardian]),
        "own record": (tokens.guardian_self, [world.guardian], [world.ward]),
        "both (user scopes)": (tokens.guardian_user, [world.guardian, world.ward], []),
    }[acting_for]
    mine = [i for p in patients for i in world.of(rtype, p)]
    if SPECS[rtype].searchable:
        found = walk(http, token, f"/fhir/{rtype}?_count=1000")
        assert_only(found, world, *patients)
        assert {r["id"] for r in found} == set(mine)
        aimed = walk(http, token, f"/fhir/{rtype}?_id={world.victim(rtype)}")
        assert aimed == []
    for oid in mine[:3]:
        assert call(http, token, f"/fhir/{rtype}/{oid}").status_code == 200
    victim = world.victim(rtype)
    assert_like_missing(http, token, f"/fhir/{rtype}/{{id}}", victim, missing_id(rtype, victim))
    # the other person of the guardian link is outside this grant too
    for oid in [i for p in others for i in world.of(rtype, p)][:1]:
        assert_like_missing(http, token, f"/fhir/{rtype}/{{id}}", oid, missing_id(rtype, oid))


def test_the_guardians_related_person_is_the_wards(
    http: FlaskClient, world: World, tokens: Tokens
) -> None:
    rid = str(world.link)
    found = call(http, tokens.guardian_ward, f"/fhir/RelatedPerson/{rid}")
    assert found.status_code == 200
    assert owners(found.get_json(force=True)) == {world.ward}
    assert_like_missing(http, tokens.guardian_self, "/fhir/RelatedPerson/{id}", rid, MISSING)
    assert_like_missing(http, tokens.a, "/fhir/RelatedPerson/{id}", rid, MISSING)
    ward = walk(http, tokens.guardian_ward, f"/fhir/Patient/{world.ward}/$everything?_count=100")
    assert ("RelatedPerson", rid) in {(r["resourceType"], r["id"]) for r in ward}
    assert_only(ward, world, world.ward)
    assert_like_missing(
        http, tokens.guardian_ward, "/fhir/Patient/{id}/$everything", str(world.b), MISSING
    )


# --- state-database types: AuditEvent and Consent -------------------------------------------------


def concerned(event: dict[str, Any]) -> set[int]:
    """The patients an AuditEvent is about (entities in the patient role; a resource entity
    names what the caller asked for, which may be an id it made up or guessed)."""
    return {
        int(e["what"]["reference"].split("/")[1])
        for e in event.get("entity", [])
        if e["role"]["code"] == "1"
    }


def test_audit_history_stays_in_the_grants_compartments(
    gateway: Flask, http: FlaskClient, world: World, tokens: Tokens
) -> None:
    # every token leaves a trace: B's and the guardian's own record are read
    for token, patient in (
        (tokens.b, world.b),
        (tokens.guardian_self, world.guardian),
        (tokens.guardian_ward, world.ward),
        (tokens.a, world.a),
    ):
        assert call(http, token, f"/fhir/Patient/{patient}").status_code == 200
        assert call(http, token, "/fhir/Observation?_count=5").status_code == 200
    gateway.extensions["audit_writer"].flush()
    seen: dict[str, list[dict[str, Any]]] = {}
    for name, token, patients in (
        ("a", tokens.a, {world.a}),
        ("b", tokens.b, {world.b}),
        ("guardian-ward", tokens.guardian_ward, {world.ward}),
        ("guardian-self", tokens.guardian_self, {world.guardian}),
        ("guardian-user", tokens.guardian_user, {world.guardian, world.ward}),
    ):
        events = walk(http, token, "/fhir/AuditEvent?_count=200")
        assert events, name
        for event in events:
            # in the compartment of one of the grant's patients (AuditEvent.patient), or about
            # no patient at all (the account's own attempts that found nothing)
            about = concerned(event)
            assert not about or about & patients, (name, about, event["outcomeDesc"])
            assert world.b not in about or world.b in patients, name
        seen[name] = events
    # B's events are missing to A, and to the guardian's grants
    theirs = next(e["id"] for e in seen["b"] if concerned(e) == {world.b})
    missing = "0" * 32
    for token in (tokens.a, tokens.guardian_ward, tokens.guardian_self, tokens.guardian_user):
        assert_like_missing(http, token, "/fhir/AuditEvent/{id}", theirs, missing)
    own = next(e["id"] for e in seen["guardian-self"] if concerned(e) == {world.guardian})
    assert_like_missing(http, tokens.guardian_ward, "/fhir/AuditEvent/{id}", own, missing)
    assert call(http, tokens.guardian_self, f"/fhir/AuditEvent/{own}").status_code == 200
    assert call(http, tokens.guardian_user, f"/fhir/AuditEvent/{own}").status_code == 200


def test_consent_of_b_answers_like_a_missing_one(
    gateway: Flask, http: FlaskClient, world: World, tokens: Tokens
) -> None:
    share = sharing.grant_share(gateway.extensions["state_engine"], world.b, "partner-clinic")
    sid = str(share["id"])
    assert call(http, tokens.b, f"/fhir/Consent/{sid}").status_code == 200
    for token in (tokens.a, tokens.guardian_ward):
        assert_like_missing(http, token, "/fhir/Consent/{id}", sid, MISSING)
        found = resources(bundle_of(call(http, token, "/fhir/Consent")))
        assert sid not in {r["id"] for r in found}
        assert_only(found, world, world.a if token == tokens.a else world.ward)
    theirs = resources(bundle_of(call(http, tokens.b, "/fhir/Consent")))
    assert sid in {r["id"] for r in theirs}
