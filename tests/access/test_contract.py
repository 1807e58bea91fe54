"""The access contract: every credential kind x every surface and interaction of the gateway.

Columns (``tests/access/conftest.py`` makes each through its production path): anonymous, a
malformed token, an expired and a revoked SMART token, a forged result code and a forged viewer
token (their prefixes, not their signatures or records); A's patient token (``patient/*.rs``, A in
context); a guardian acting for the minor W (W in context); the guardian's ``user/*.rs`` token
over their own record and W's; A's own ``user/*.rs`` token; A's query-filtered token
(``patient/Observation.rs?category=laboratory`` only); a partner clinic A shared with and one
nobody shared with (SMART Backend Services); a result-code token of one of A's lab reports; a
viewer token of one of A's studies.

Rows: one request each. The expectations come from the rules, not from today's answers:

* no, malformed, expired or revoked token: 401 with a ``Bearer`` challenge (``invalid_token``
  when a token was sent), on every protected surface;
* another patient's resource, study, series or instance: 404 exactly like a missing one;
* a type or interaction outside the credential's scopes or kind: 403 ``insufficient_scope``;
* a result code reads its one DiagnosticReport and that report's PDF, nothing else; a viewer
  token searches and retrieves its one study (only A's instances of it), nothing else;
* a partner reads only the consented patient's data, never AuditEvent or Consent, never STOW;
* /metadata and discovery are open; a bearer token never stands for a signed-in person.

``test_every_route_has_rows`` fails when the app has a route (and method) no row requests.
"""

from __future__ import annotations

import base64
import functools
import html
import io
import json
import re
import secrets
import time
import uuid
import zipfile
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey
from pydicom.dataset import Dataset
from werkzeug.routing import Map, Rule

from demo.synthetic import Patient, StudySpec, build_study
from tests.access.conftest import make_share
from tests.access.contract import (
    COLUMNS,
    DENIED,
    EMPTY,
    FORBIDDEN,
    LOGIN,
    MISSING_,
    OK,
    Row,
    assert_only_own,
    cells,
    concerned,
    every,
    judge,
    params,
)
from tests.access.questionnaire_rows import QUESTIONNAIRE_ROWS
from tests.access.subscription_rows import SUBSCRIPTION_ROWS
from tests.access.world import MISSING, MISSING_UID, Credential, World
from tests.booking.his import add_slots, utcnow
from tests.dicomweb.conftest import new_uid

M = MISSING_  # short, for the table
NO_ID = "0" * 32

# --- known defects: those cells keep the right expectation, marked xfail(strict) -----------------

#: The credentials that reach A's study on DICOMweb.
A_READERS = ("patient", "user", "partner", "viewer")


def known(reason: str, *names: str) -> dict[str, str]:
    return {name: reason for name in names}


# --- helpers of the rows -------------------------------------------------------------------------


def first(world: World, study: str) -> tuple[str, str]:
    """The first (series, instance) of ``study`` as loaded for its own patient."""
    return world.instances[study][0]


def cross_series(world: World) -> str:
    """A series of another study of A's: study A with a series of study B."""
    other = world.other_study()
    if other == MISSING_UID:
        return first(world, world.study_of(world.b))[0]
    return first(world, other)[0]


def cross_sop(world: World) -> str:
    """The first instance of ``cross_series``."""
    series = cross_series(world)
    return next(sop for study in world.instances.values() for x, sop in study if x == series)


def s(world: World) -> str:
    return world.mixed_study


def a_series(world: World) -> str:
    return first(world, world.mixed_study)[0]


def a_sop(world: World) -> str:
    return first(world, world.mixed_study)[1]


def instance(world: World) -> str:
    return f"/dicomweb/studies/{s(world)}/series/{a_series(world)}/instances/{a_sop(world)}"


def missing_instance(world: World) -> str:
    return f"/dicomweb/studies/{s(world)}/series/{a_series(world)}/instances/{MISSING_UID}"


def names(*uids: Any, who: tuple[str, ...] | None = None) -> Any:
    """A check: each UID (of the world) is in an OK answer (of the credentials ``who``)."""

    def check(world: World, credential: Credential, response: Any) -> None:
        if who is not None and credential.name not in who:
            return
        data = response.get_data()
        for uid in uids:
            value = uid(world)
            assert value.encode() in data, f"{value} is missing from the answer"

    return check


def matches(*names: str) -> Any:
    """A check: the credentials ``names`` get at least one match (their patients have data)."""

    def check(world: World, credential: Credential, response: Any) -> None:
        if credential.name in names:
            found = [e for e in response.get_json().get("entry", [])]
            assert found, "no match where the credential's patient has data"

    return check


ALL_OF_A = ("patient", "user", "filtered", "partner")


def exported(world: World, credential: Credential, response: Any) -> None:
    """A check: the ZIP holds A's instances of the study (and, by ``assert_only_own``, no one
    else's)."""
    archive = zipfile.ZipFile(io.BytesIO(response.get_data()))
    data = b"".join(archive.read(name) for name in archive.namelist())
    assert a_sop(world).encode() in data


def pdf(response: Any) -> None:
    """The Binary's own bytes: the report's PDF."""
    assert response.mimetype == "application/pdf", response.mimetype
    assert response.get_data().startswith(b"%PDF")


def next_link(world: World, name: str) -> dict[str, str]:
    if "next" not in world.cache:
        answer = world.http.get(
            "/fhir/Observation?_count=1",
            headers={"Authorization": f"Bearer {world.tokens['patient']}"},
        )
        assert answer.status_code == 200
        link = next(x["url"] for x in answer.get_json()["link"] if x["relation"] == "next")
        parts = urlsplit(link)
        world.cache["next"] = f"{parts.path}?{parts.query}"
    return {"next": world.cache["next"]}


def _local_next(bundle: dict[str, Any]) -> str:
    link = next(x["url"] for x in bundle["link"] if x["relation"] == "next")
    parts = urlsplit(link)
    return f"{parts.path}?{parts.query}"


def everything_link(world: World, name: str) -> dict[str, str]:
    """A next link of A's $everything under A's patient token."""
    if "everything" not in world.cache:
        answer = world.http.get(
            f"/fhir/Patient/{world.a}/$everything?_count=2",
            headers={"Authorization": f"Bearer {world.tokens['patient']}"},
        )
        assert answer.status_code == 200
        world.cache["everything"] = _local_next(answer.get_json())
    return {"next": world.cache["everything"]}


def find_link(world: World, name: str) -> dict[str, str]:
    """A next link of an Appointment/$find under A's patient token."""
    if "find-next" not in world.cache:
        answer = world.http.get(
            "/fhir/Appointment/$find?_count=1",
            headers={"Authorization": f"Bearer {world.tokens['patient']}"},
        )
        assert answer.status_code == 200
        world.cache["find-next"] = _local_next(answer.get_json())
    return {"next": world.cache["find-next"]}


def audit_link(world: World, name: str) -> dict[str, str]:
    """A next link of A's AuditEvent search under A's patient token."""
    if "audit-next" not in world.cache:
        world.app.extensions["audit_writer"].flush()
        answer = world.http.get(
            "/fhir/AuditEvent?_count=1",
            headers={"Authorization": f"Bearer {world.tokens['patient']}"},
        )
        assert answer.status_code == 200
        world.cache["audit-next"] = _local_next(answer.get_json())
    return {"next": world.cache["audit-next"]}


def audit_events(world: World, name: str) -> dict[str, str]:
    """One AuditEvent about A (A's token wrote it) and one about B."""
    if "events" not in world.cache:
        world.app.extensions["audit_writer"].flush()
        found = {}
        for who, token in (("a", world.tokens["patient"]), ("b", world.tokens["other"])):
            pid = world.a if who == "a" else world.b
            answer = world.http.get(
                "/fhir/AuditEvent?_count=200", headers={"Authorization": f"Bearer {token}"}
            )
            assert answer.status_code == 200, answer.get_data(as_text=True)[:300]
            events = [e["resource"] for e in answer.get_json().get("entry", [])]
            about = [
                e["id"]
                for e in events
                if {x["what"]["reference"] for x in e.get("entity", []) if x["role"]["code"] == "1"}
                == {f"Patient/{pid}"}
            ]
            assert about, f"no AuditEvent about {who}"
            found[who] = about[0]
        world.cache["events"] = found
    return world.cache["events"]  # type: ignore[no-any-return]


def about_none_of(who: str) -> Any:
    """A check: no event of the answer is about ``who`` (``a`` or ``b``) in the patient role."""

    def check(world: World, credential: Credential, response: Any) -> None:
        pid = world.a if who == "a" else world.b
        if pid in credential.patients:
            return
        for entry in response.get_json().get("entry", []):
            if entry["resource"].get("resourceType") == "AuditEvent":
                assert pid not in concerned(entry["resource"]), entry["resource"]["id"]

    return check


def consent_body(world: World, patient: int, status: str = "active") -> dict[str, Any]:
    return {
        "resourceType": "Consent",
        "status": status,
        "patient": {"reference": f"Patient/{patient}"},
        "organization": [
            {
                "identifier": {
                    "system": world.app.config["SHARING_CLIENT_SYSTEM"],
                    "value": world.spare_partner,
                }
            }
        ],
    }


PAST = {"start": "2020-01-01", "end": "2020-12-31"}
LAB_CLASS = {"system": "http://hl7.org/fhir/resource-types", "code": "Observation"}


def unknown_partner(world: World, consent: dict[str, Any]) -> dict[str, Any]:
    org = consent["organization"][0]["identifier"]
    return {**consent, "organization": [{"identifier": {**org, "value": "no-such-clinic"}}]}


def own_data(world: World) -> dict[str, Any]:
    return {"meaning": "instance", "reference": {"reference": f"Observation/{obs(world, world.a)}"}}


def data_of_b(world: World) -> dict[str, Any]:
    """A provision.data entry naming B's Observation: A cannot share what is not A's."""
    return {"meaning": "instance", "reference": {"reference": f"Observation/{obs(world, world.b)}"}}


def fresh_consent(world: World, name: str) -> dict[str, str]:
    """A new active Consent of A's (to the spare partner), made with A's token."""
    answer = world.http.post(
        "/fhir/Consent",
        json=consent_body(world, world.a),
        headers={"Authorization": f"Bearer {world.tokens['patient']}"},
    )
    assert answer.status_code == 201, answer.get_data(as_text=True)[:300]
    return {"consent": str(answer.get_json()["id"])}


BOUNDARY = "contract-boundary"


def stow_body(world: World) -> bytes:
    """One new instance of A's (its own new study), as a STOW-RS request body."""
    if "stow" in world.cache:
        return world.cache["stow"]  # type: ignore[no-any-return]
    mrn = str(world.cache.get("mrn_a") or _mrn(world, world.a))
    spec = StudySpec(
        study_uid=new_uid(),
        patient=Patient(mrn, "Upload", "Test", datetime(1990, 1, 1).date(), "O"),
        accession_number="",
        modality="OT",
        performed_at=datetime(2025, 2, 3, 10, 0),
        max_size=16,
    )
    ds: Dataset = next(iter(build_study(spec)))
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    head = f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n".encode()
    world.cache["stow"] = head + out.getvalue() + f"\r\n--{BOUNDARY}--\r\n".encode()
    return world.cache["stow"]  # type: ignore[no-any-return]


def _mrn(world: World, patient: int) -> str:
    http = world.app.test_client()
    found = http.get(
        f"/fhir/Patient/{patient}",
        headers={"Authorization": f"Bearer {world.tokens['patient']}"},
    ).get_json()
    mrn = next(i["value"] for i in found["identifier"] if "mrn" in i.get("system", "").lower())
    world.cache["mrn_a"] = mrn
    return str(mrn)


STOW_TYPE = f'multipart/related; type="application/dicom"; boundary={BOUNDARY}'


# --- the table -----------------------------------------------------------------------------------

#: A's resources: who reads them (patient-level grants in A's context, A's user grant, the
#: partner A shared with), who gets a 404 (everybody else acting for other patients), who a 403
#: (the credential kinds or scopes that never cover the type).
A_DATA = dict(
    patient=OK,
    guardian=M,
    guardian_user=M,
    user=OK,
    filtered=FORBIDDEN,
    partner=OK,
    partner_none=M,
    result_code=FORBIDDEN,
    viewer=FORBIDDEN,
    # a share of A's coded report and A's two-patient study: no other type
    share=FORBIDDEN,
)
#: B's resources: missing to every credential that may read the type at all.
B_DATA = dict(A_DATA, patient=M, user=M, partner=M)
#: searches: narrowed to the credential's patients (OK checks that), never refused for that
SEARCH = dict(A_DATA, guardian=OK, guardian_user=OK, partner_none=EMPTY)
#: A's study on DICOMweb: as A's data, and the viewer token of that very study reads it
A_STUDY = dict(A_DATA, filtered=FORBIDDEN, viewer=OK, share=OK)
#: B's series or instances under A's study path, another study's series under it: missing
NOBODY = dict(A_STUDY, patient=M, user=M, partner=M, viewer=M, share=M)
#: A QIDO search under A's study for a series that is not A's: empty, like a missing series
#: A series under a study path that is not the caller's series of that study: 404 exactly as a
#: series that does not exist (NOBODY: every credential).
NOT_IN_STUDY = NOBODY
#: QIDO over every study: narrowed to the credential's patients (and the viewer's study)
QIDO_ALL = dict(A_STUDY, guardian=OK, guardian_user=OK, partner_none=EMPTY)
#: pages of the signed-in person: a bearer token is no session
SESSION = every(LOGIN)
#: The person's app management (a session page): no token asks to sign in; a token is never a
#: session, so it is refused by RFC 6750: an unusable one 401 invalid_token, a good one 403.
MANAGEMENT = cells(FORBIDDEN, anonymous=LOGIN)


def obs(world: World, patient: int) -> str:
    return world.of("Observation", patient)


FHIR_ROWS = [
    Row(
        "fhir-read-own",
        "GET",
        lambda w: f"/fhir/Observation/{obs(w, w.a)}",
        cells(**dict(A_DATA, filtered=OK)),
        missing=lambda w: f"/fhir/Observation/{MISSING}",
    ),
    Row(
        "fhir-read-other-patient",
        "GET",
        lambda w: f"/fhir/Observation/{obs(w, w.b)}",
        cells(**dict(B_DATA, filtered=M)),
        missing=lambda w: f"/fhir/Observation/{MISSING}",
    ),
    Row(
        "fhir-read-patient",
        "GET",
        lambda w: f"/fhir/Patient/{w.a}",
        cells(**A_DATA),
        missing=lambda w: f"/fhir/Patient/{MISSING}",
    ),
    Row(
        "fhir-read-ward",
        "GET",
        lambda w: f"/fhir/Patient/{w.ward}",
        cells(**dict(B_DATA, guardian=OK, guardian_user=OK)),
        missing=lambda w: f"/fhir/Patient/{MISSING}",
    ),
    Row(
        "fhir-read-guardian",
        "GET",
        lambda w: f"/fhir/Patient/{w.guardian}",
        cells(**dict(B_DATA, guardian_user=OK)),
        missing=lambda w: f"/fhir/Patient/{MISSING}",
    ),
    Row(
        "fhir-read-related-person",
        "GET",
        lambda w: f"/fhir/RelatedPerson/{w.link}",
        cells(**dict(B_DATA, guardian=OK, guardian_user=OK)),
        missing=lambda w: f"/fhir/RelatedPerson/{MISSING}",
    ),
    Row(
        "fhir-read-coded-report",
        "GET",
        lambda w: f"/fhir/DiagnosticReport/{w.report}",
        cells(**dict(A_DATA, result_code=OK, share=OK)),
        missing=lambda w: f"/fhir/DiagnosticReport/lab-{MISSING}",
    ),
    Row(
        "fhir-read-other-report-of-a",
        "GET",
        lambda w: f"/fhir/DiagnosticReport/{w.other_report}",
        cells(**dict(A_DATA, result_code=M, share=M)),
        missing=lambda w: f"/fhir/DiagnosticReport/lab-{MISSING}",
    ),
    Row(
        "fhir-read-report-of-b",
        "GET",
        lambda w: f"/fhir/DiagnosticReport/{w.of('DiagnosticReport', w.b)}",
        cells(**dict(B_DATA, result_code=M, share=M)),
        missing=lambda w: f"/fhir/DiagnosticReport/rad-{MISSING}",
    ),
    Row(
        "fhir-read-imaging-study",
        "GET",
        lambda w: f"/fhir/ImagingStudy/{w.of('ImagingStudy', w.a)}",
        # not the study A shared outside (that is the two-patient one): missing to the share
        cells(**dict(A_DATA, share=M)),
        missing=lambda w: f"/fhir/ImagingStudy/{MISSING}",
    ),
    Row(
        "fhir-search-get",
        "GET",
        lambda w: "/fhir/Observation?_count=50",
        cells(**dict(SEARCH, filtered=OK)),
        check=matches(*ALL_OF_A),
    ),
    Row(
        "fhir-search-post",
        "POST",
        lambda w: "/fhir/Observation/_search",
        cells(**dict(SEARCH, filtered=OK)),
        form=lambda w: {"_count": "50"},
        check=matches(*ALL_OF_A),
    ),
    Row(
        "fhir-search-aimed-at-b",
        "GET",
        lambda w: f"/fhir/Observation?patient={w.b}",
        cells(**dict(SEARCH, patient=EMPTY, user=EMPTY, partner=EMPTY, filtered=EMPTY)),
    ),
    Row(
        "fhir-search-id-of-b",
        "GET",
        lambda w: f"/fhir/Observation?_id={obs(w, w.b)}",
        cells(**dict(SEARCH, patient=EMPTY, user=EMPTY, partner=EMPTY, filtered=EMPTY)),
    ),
    Row(
        # [base]?_type=: each type decided on its own, narrowed like its own search
        "fhir-system-search",
        "GET",
        lambda w: "/fhir?_type=Observation,Patient&_count=50",
        cells(**dict(SEARCH, filtered=OK)),
        check=matches(*ALL_OF_A),
    ),
    Row(
        "fhir-system-search-post",
        "POST",
        lambda w: "/fhir/_search",
        cells(**dict(SEARCH, filtered=OK)),
        form=lambda w: {"_type": "Observation", "_count": "50"},
        check=matches(*ALL_OF_A),
    ),
    Row(
        "fhir-system-search-aimed-at-b",
        "GET",
        lambda w: f"/fhir?_type=Observation&patient={w.b}",
        cells(**dict(SEARCH, patient=EMPTY, user=EMPTY, partner=EMPTY, filtered=EMPTY)),
    ),
    Row(
        # Patient/[id]/[type]: the compartment of a patient, narrowed by the grant as any search
        "fhir-compartment-own",
        "GET",
        lambda w: f"/fhir/Patient/{w.a}/Observation?_count=50",
        cells(**dict(SEARCH, filtered=OK, guardian=EMPTY, guardian_user=EMPTY)),
        check=matches(*ALL_OF_A),
    ),
    Row(
        "fhir-compartment-post",
        "POST",
        lambda w: f"/fhir/Patient/{w.a}/Observation/_search",
        cells(**dict(SEARCH, filtered=OK, guardian=EMPTY, guardian_user=EMPTY)),
        form=lambda w: {"_count": "50"},
        check=matches(*ALL_OF_A),
    ),
    Row(
        "fhir-compartment-of-b",
        "GET",
        lambda w: f"/fhir/Patient/{w.b}/Observation",
        cells(**dict(SEARCH, patient=EMPTY, user=EMPTY, partner=EMPTY, filtered=EMPTY)),
    ),
    Row(
        "fhir-compartment-ward",
        "GET",
        lambda w: f"/fhir/Patient/{w.ward}/Observation?_count=50",
        cells(**dict(SEARCH, patient=EMPTY, user=EMPTY, partner=EMPTY, filtered=EMPTY)),
    ),
    Row(
        "fhir-search-patient",
        "GET",
        lambda w: "/fhir/Patient",
        cells(**SEARCH),
        check=matches("patient", "user", "partner", "guardian", "guardian-user"),
    ),
    Row(
        "fhir-include",
        "GET",
        lambda w: (
            "/fhir/DiagnosticReport?_include=DiagnosticReport:result"
            "&_include=DiagnosticReport:subject&_count=50"
        ),
        # the share's search finds its one report; the included types are not shared
        cells(**dict(SEARCH, share=OK)),
        check=matches("patient", "user", "partner", "guardian-user"),
    ),
    Row(
        "fhir-revinclude",
        "GET",
        lambda w: f"/fhir/Patient?_id={w.a}&_revinclude=Observation:patient",
        cells(**dict(SEARCH, guardian=EMPTY, guardian_user=EMPTY)),
        check=matches("patient", "user", "partner"),
    ),
    Row(
        "fhir-everything-own",
        "GET",
        lambda w: f"/fhir/Patient/{w.a}/$everything?_count=50",
        cells(**A_DATA),
        missing=lambda w: f"/fhir/Patient/{MISSING}/$everything?_count=50",
        check=matches("patient", "user", "partner"),
    ),
    Row(
        "fhir-everything-post",
        "POST",
        lambda w: f"/fhir/Patient/{w.a}/$everything",
        cells(**A_DATA),
        missing=lambda w: f"/fhir/Patient/{MISSING}/$everything",
        form=lambda w: {"_count": "50"},
        check=matches("patient", "user", "partner"),
    ),
    Row(
        "fhir-everything-ward",
        "GET",
        lambda w: f"/fhir/Patient/{w.ward}/$everything?_count=50",
        cells(**dict(B_DATA, guardian=OK, guardian_user=OK)),
        missing=lambda w: f"/fhir/Patient/{MISSING}/$everything?_count=50",
        check=matches("guardian", "guardian-user"),
    ),
    Row(
        "fhir-everything-of-b",
        "GET",
        lambda w: f"/fhir/Patient/{w.b}/$everything",
        cells(**B_DATA),
        missing=lambda w: f"/fhir/Patient/{MISSING}/$everything",
    ),
    Row(
        # a next link of A's patient token, followed with each credential
        "fhir-paging-link",
        "GET",
        lambda w: "{next}",
        cells(
            400,
            patient=OK,
            result_code=FORBIDDEN,
            viewer=FORBIDDEN,
            share=FORBIDDEN,
        ),
        setup=next_link,
    ),
    *[
        Row(
            f"fhir-search-{param.lstrip('_')}",
            "GET",
            (lambda q: lambda w: f"/fhir/Observation?{q}")(query),
            cells(400, result_code=FORBIDDEN, viewer=FORBIDDEN, share=FORBIDDEN),
        )
        for param, query in (
            ("_filter", f"_filter=code eq {MISSING}"),
            ("_query", "_query=nothing-here"),
            ("_list", f"_list={MISSING}"),
        )
    ],
    Row(
        # the FHIR ImagingStudy of the two-patient study: its series come from the PACS
        "fhir-read-imaging-study-two-patients",
        "GET",
        lambda w: f"/fhir/ImagingStudy/{w.imaging_study(w.mixed_study)}",
        cells(**dict(A_DATA, share=OK)),
        missing=lambda w: f"/fhir/ImagingStudy/{MISSING}",
        check=names(a_series),
    ),
    Row(
        "fhir-search-imaging-study",
        "GET",
        lambda w: "/fhir/ImagingStudy",
        cells(**dict(SEARCH, viewer=FORBIDDEN)),
    ),
    Row(
        # a next link of A's $everything under A's patient token, followed with each credential
        "fhir-everything-paging-link",
        "GET",
        lambda w: "{next}",
        cells(**dict(A_DATA, patient=OK, user=400, partner=400)),
        missing=lambda w: w.cache["everything"].replace(f"/Patient/{w.a}/", f"/Patient/{MISSING}/"),
        setup=everything_link,
    ),
    Row(
        "fhir-binary-of-coded-report",
        "GET",
        lambda w: f"/fhir/Binary/{w.report_binary}",
        cells(**dict(A_DATA, result_code=OK, share=OK)),
        missing=lambda w: f"/fhir/Binary/{MISSING}",
        check=lambda w, c, r: pdf(r),
    ),
    Row(
        "fhir-binary-other-of-a",
        "GET",
        lambda w: f"/fhir/Binary/{next(b for b in w.owned['Binary'][w.a] if b != w.report_binary)}",
        cells(**dict(A_DATA, result_code=M, share=M)),
        missing=lambda w: f"/fhir/Binary/{MISSING}",
    ),
    Row(
        "fhir-binary-of-b",
        "GET",
        lambda w: f"/fhir/Binary/{w.of('Binary', w.b)}",
        cells(**dict(B_DATA, result_code=M, share=M)),
        missing=lambda w: f"/fhir/Binary/{MISSING}",
    ),
]

#: AuditEvent and Consent: the patient's own business; never a partner's, never a result code's
#: or a viewer's, and not under a scope that names only Observation.
PERSONAL = dict(SEARCH, filtered=FORBIDDEN, partner=FORBIDDEN, partner_none=FORBIDDEN)

PERSONAL_ROWS = [
    Row(
        "audit-search",
        "GET",
        lambda w: "/fhir/AuditEvent",
        cells(**PERSONAL),
        check=matches("patient", "user"),
    ),
    Row(
        # a next link of A's AuditEvent search under A's patient token, followed by each
        "audit-paging-link",
        "GET",
        lambda w: "{next}",
        cells(**dict(PERSONAL, guardian=400, guardian_user=400, user=400)),
        setup=audit_link,
    ),
    Row(
        "audit-read-own",
        "GET",
        lambda w: "/fhir/AuditEvent/{a}",
        cells(**dict(PERSONAL, guardian=M, guardian_user=M)),
        missing=lambda w: f"/fhir/AuditEvent/{NO_ID}",
        setup=audit_events,
    ),
    Row(
        "audit-read-of-b",
        "GET",
        lambda w: "/fhir/AuditEvent/{b}",
        cells(**dict(PERSONAL, patient=M, user=M, guardian=M, guardian_user=M)),
        missing=lambda w: f"/fhir/AuditEvent/{NO_ID}",
        setup=audit_events,
    ),
    Row(
        # patient is served: it matches the caller's own requests that named Patient/B (a
        # read answered 404), never an event about B (OK checks each event's patients)
        "audit-search-aimed-at-b",
        "GET",
        lambda w: f"/fhir/AuditEvent?patient=Patient/{w.b}",
        cells(**PERSONAL),
        check=about_none_of("b"),
    ),
    Row(
        "audit-compartment-own",
        "GET",
        lambda w: f"/fhir/Patient/{w.a}/AuditEvent",
        cells(**PERSONAL),
        check=matches("patient", "user"),
    ),
    Row(
        "audit-compartment-of-b",
        "GET",
        lambda w: f"/fhir/Patient/{w.b}/AuditEvent",
        cells(**PERSONAL),
        check=about_none_of("b"),
    ),
    Row(
        "consent-search",
        "GET",
        lambda w: "/fhir/Consent",
        cells(**PERSONAL),
        check=matches("patient", "user"),
    ),
    Row(
        "consent-read-own",
        "GET",
        lambda w: f"/fhir/Consent/{w.consent_a}",
        cells(**dict(PERSONAL, guardian=M, guardian_user=M)),
        missing=lambda w: f"/fhir/Consent/{MISSING}",
    ),
    Row(
        "consent-read-of-b",
        "GET",
        lambda w: f"/fhir/Consent/{w.consent_b}",
        cells(**dict(PERSONAL, patient=M, user=M, guardian=M, guardian_user=M)),
        missing=lambda w: f"/fhir/Consent/{MISSING}",
    ),
    Row(
        # only the patient token carries patient/Consent.c; the guardian's (W in context)
        # does too, but A is not W
        "consent-create",
        "POST",
        lambda w: "/fhir/Consent",
        cells(FORBIDDEN, patient=OK),
        body=lambda w: consent_body(w, w.a),
        status=201,
    ),
    # what cannot be honoured exactly is refused, never accepted and ignored (wider)
    *[
        Row(
            f"consent-create-{what}",
            "POST",
            lambda w: "/fhir/Consent",
            cells(FORBIDDEN, patient=422),
            body=(lambda c: lambda w: c(w, consent_body(w, w.a)))(change),
        )
        for what, change in (
            ("unknown-partner", unknown_partner),
            ("provision-period", lambda w, c: {**c, "provision": {"period": PAST}}),
            ("provision-deny", lambda w, c: {**c, "provision": {"type": "deny"}}),
            ("provision-data-of-b", lambda w, c: {**c, "provision": {"data": [data_of_b(w)]}}),
        )
    ],
    # what can be honoured is: the share narrowed to a class or to A's own listed resources
    *[
        Row(
            f"consent-create-{what}",
            "POST",
            lambda w: "/fhir/Consent",
            cells(FORBIDDEN, patient=OK),
            body=(lambda c: lambda w: c(w, consent_body(w, w.a)))(change),
            status=201,
        )
        for what, change in (
            ("provision-class", lambda w, c: {**c, "provision": {"class": [LAB_CLASS]}}),
            ("provision-data", lambda w, c: {**c, "provision": {"data": [own_data(w)]}}),
        )
    ],
    Row(
        "consent-withdraw-own",
        "PUT",
        lambda w: "/fhir/Consent/{consent}",
        cells(FORBIDDEN, patient=OK, guardian=M),
        missing=lambda w: f"/fhir/Consent/{MISSING}",
        body=lambda w: consent_body(w, w.a, "inactive"),
        setup=fresh_consent,
    ),
    Row(
        "consent-withdraw-of-b",
        "PUT",
        lambda w: f"/fhir/Consent/{w.consent_b}",
        cells(FORBIDDEN, patient=M, guardian=M),
        missing=lambda w: f"/fhir/Consent/{MISSING}",
        body=lambda w: consent_body(w, w.b, "inactive"),
    ),
]


# --- patients' uploads (F17) ---------------------------------------------------------------------


def _pdf() -> bytes:
    from tests.uploads.samples import pdf

    return pdf()


def _upload(world: World, token: str, subject: int | None = None) -> dict[str, str]:
    """A new upload (its Binary and its DocumentReference) made with ``token``."""
    headers = {"Authorization": f"Bearer {token}"}
    made = world.http.post(
        "/fhir/Binary", data=_pdf(), headers={**headers, "Content-Type": "application/pdf"}
    )
    assert made.status_code == 201, made.get_data(as_text=True)[:300]
    body = upload_doc_body(world, made.get_json()["id"], subject)
    doc = world.http.post("/fhir/DocumentReference", json=body, headers=headers)
    assert doc.status_code == 201, doc.get_data(as_text=True)[:300]
    return {"binary": made.get_json()["id"], "doc": doc.get_json()["id"], "body": doc.get_json()}


def upload_of(who: str) -> Any:
    """The one upload of A's ("patient") or B's ("other") the read rows ask for."""

    def made(world: World) -> dict[str, Any]:
        if f"upload-{who}" not in world.cache:
            world.cache[f"upload-{who}"] = _upload(world, world.tokens[who])
        return world.cache[f"upload-{who}"]  # type: ignore[no-any-return]

    return made


def upload_doc_body(world: World, binary: str, subject: int | None) -> dict[str, Any]:
    base = world.app.config["UPLOADS_BASE"]
    body: dict[str, Any] = {
        "resourceType": "DocumentReference",
        "status": "current",
        "type": {
            "coding": [{"system": f"{base}/CodeSystem/patient-document-type", "code": "other"}]
        },
        "content": [{"attachment": {"url": f"Binary/{binary}"}}],
    }
    if subject is not None:
        body["subject"] = {"reference": f"Patient/{subject}"}
    return body


def fresh_binary_body(who: str, subject: Any) -> Any:
    """A DocumentReference body pointing at a new Binary uploaded with ``who``'s credential."""

    def body(world: World) -> dict[str, Any]:
        headers = {**world.credentials[who].headers, "Content-Type": "application/pdf"}
        made = world.http.post("/fhir/Binary", data=_pdf(), headers=headers)
        assert made.status_code == 201, made.get_data(as_text=True)[:300]
        return upload_doc_body(world, made.get_json()["id"], subject(world))

    return body


def fresh_upload(world: World, name: str) -> dict[str, str]:
    """A new upload of A's, made with A's token (the body rows then send is its own)."""
    made = _upload(world, world.tokens["patient"])
    world.cache["fresh-upload"] = made
    return {"upload": made["doc"]}


def described(world: World) -> dict[str, Any]:
    return {**world.cache["fresh-upload"]["body"], "description": "a new description"}


def lists_upload_of_a(world: World, credential: Credential, response: Any) -> None:
    ids = [e["resource"]["id"] for e in response.get_json().get("entry", [])]
    assert (upload_of("patient")(world)["doc"] in ids) == (world.a in credential.patients)


UPLOAD_CATEGORY = "category={base}/CodeSystem/document-source|patient-supplied"


def uploads_search(world: World) -> str:
    upload_of("patient")(world)  # A has one before any cell searches
    return "/fhir/DocumentReference?" + UPLOAD_CATEGORY.format(
        base=world.app.config["UPLOADS_BASE"]
    )


NO_UPLOAD = "upload-" + NO_ID
#: What only A's own patient token may write (the others: no write scope, a partner never
#: writes, a result code and a viewer token cover no upload); the guardian's grant is W's.
WRITE_A = {"patient": OK, "guardian": M}
UPLOAD_READ_A = dict(
    patient=OK,
    guardian=M,
    guardian_user=M,
    user=OK,
    filtered=FORBIDDEN,
    partner=OK,
    partner_none=M,
    result_code=FORBIDDEN,
    viewer=FORBIDDEN,
    # a share with a person outside covers only what it lists: no upload was shared
    share=FORBIDDEN,
)
UPLOAD_READ_B = dict(UPLOAD_READ_A, patient=M, user=M, partner=M)


def iti65_bundle(world: World) -> dict[str, Any]:
    """An IHE MHD ITI-65 transaction: A's SubmissionSet, one document, its PDF."""
    binary, doc = f"urn:uuid:{uuid.uuid4()}", f"urn:uuid:{uuid.uuid4()}"
    document = upload_doc_body(world, "", world.a)
    document["content"] = [{"attachment": {"contentType": "application/pdf", "url": binary}}]
    pdf = base64.b64encode(_pdf()).decode()
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": f"urn:uuid:{uuid.uuid4()}",
                "resource": {
                    "resourceType": "List",
                    "status": "current",
                    "mode": "working",
                    "code": {
                        "coding": [
                            {
                                "system": "https://profiles.ihe.net/ITI/MHD/CodeSystem/MHDlistTypes",
                                "code": "submissionset",
                            }
                        ]
                    },
                    "subject": {"reference": f"Patient/{world.a}"},
                    "entry": [{"item": {"reference": doc}}],
                },
                "request": {"method": "POST", "url": "List"},
            },
            {
                "fullUrl": doc,
                "resource": document,
                "request": {"method": "POST", "url": "DocumentReference"},
            },
            {
                "fullUrl": binary,
                "resource": {
                    "resourceType": "Binary",
                    "contentType": "application/pdf",
                    "data": pdf,
                },
                "request": {"method": "POST", "url": "Binary"},
            },
        ],
    }


def provided_to_a(world: World, credential: Credential, response: Any) -> None:
    """Every document and file the transaction made is A's, readable with A's token."""
    answer = response.get_json()
    assert answer["type"] == "transaction-response"
    made = [e["response"]["location"] for e in answer["entry"][1:]]
    assert len(made) == 2
    for location in made:
        path = "/fhir/" + location.split("/fhir/", 1)[1].rsplit("/_history/", 1)[0]
        read = world.http.get(path, headers={"Authorization": f"Bearer {world.tokens['patient']}"})
        assert read.status_code == 200, path


UPLOAD_ROWS = [
    Row(
        "upload-binary-create",
        "POST",
        lambda w: "/fhir/Binary",
        cells(FORBIDDEN, patient=OK, guardian=OK),
        raw=lambda w: _pdf(),
        headers={"Content-Type": "application/pdf"},
        status=201,
    ),
    Row(
        "upload-document-create",
        "POST",
        lambda w: "/fhir/DocumentReference",
        cells(FORBIDDEN, patient=OK),
        body=fresh_binary_body("patient", lambda w: w.a),
        status=201,
    ),
    Row(
        "upload-document-create-for-ward",
        "POST",
        lambda w: "/fhir/DocumentReference",
        cells(FORBIDDEN, guardian=OK),
        body=fresh_binary_body("guardian", lambda w: w.ward),
        status=201,
    ),
    Row(
        "upload-search",
        "GET",
        uploads_search,
        cells(
            OK,
            filtered=FORBIDDEN,
            partner_none=EMPTY,
            result_code=FORBIDDEN,
            viewer=FORBIDDEN,
            share=FORBIDDEN,
        ),
        check=lists_upload_of_a,
    ),
    Row(
        "upload-read-own",
        "GET",
        lambda w: f"/fhir/DocumentReference/{upload_of('patient')(w)['doc']}",
        cells(**UPLOAD_READ_A),
        missing=lambda w: f"/fhir/DocumentReference/{NO_UPLOAD}",
    ),
    Row(
        "upload-read-of-b",
        "GET",
        lambda w: f"/fhir/DocumentReference/{upload_of('other')(w)['doc']}",
        cells(**UPLOAD_READ_B),
        missing=lambda w: f"/fhir/DocumentReference/{NO_UPLOAD}",
    ),
    Row(
        "upload-binary-read-own",
        "GET",
        lambda w: f"/fhir/Binary/{upload_of('patient')(w)['binary']}",
        cells(**dict(UPLOAD_READ_A, result_code=M, share=M)),
        missing=lambda w: f"/fhir/Binary/{NO_UPLOAD}",
    ),
    Row(
        "upload-binary-read-of-b",
        "GET",
        lambda w: f"/fhir/Binary/{upload_of('other')(w)['binary']}",
        cells(**dict(UPLOAD_READ_B, result_code=M, share=M)),
        missing=lambda w: f"/fhir/Binary/{NO_UPLOAD}",
    ),
    Row(
        "upload-describe-own",
        "PUT",
        lambda w: "/fhir/DocumentReference/{upload}",
        cells(FORBIDDEN, **WRITE_A),
        missing=lambda w: f"/fhir/DocumentReference/{NO_UPLOAD}",
        body=described,
        setup=fresh_upload,
    ),
    Row(
        "upload-describe-of-b",
        "PUT",
        lambda w: f"/fhir/DocumentReference/{upload_of('other')(w)['doc']}",
        cells(FORBIDDEN, patient=M, guardian=M),
        missing=lambda w: f"/fhir/DocumentReference/{NO_UPLOAD}",
        body=lambda w: {**upload_of("other")(w)["body"], "description": "not B's author"},
    ),
    Row(
        "upload-delete-own",
        "DELETE",
        lambda w: "/fhir/DocumentReference/{upload}",
        cells(FORBIDDEN, **WRITE_A),
        missing=lambda w: f"/fhir/DocumentReference/{NO_UPLOAD}",
        setup=fresh_upload,
        status=204,
    ),
    Row(
        "upload-delete-of-b",
        "DELETE",
        lambda w: f"/fhir/DocumentReference/{upload_of('other')(w)['doc']}",
        cells(FORBIDDEN, patient=M, guardian=M),
        missing=lambda w: f"/fhir/DocumentReference/{NO_UPLOAD}",
    ),
    Row(
        "mhd-provide-document-bundle",
        "POST",
        lambda w: "/fhir",
        cells(FORBIDDEN, patient=200),
        body=iti65_bundle,
        check=provided_to_a,
    ),
    Row(
        "hospital-document-delete",
        "DELETE",
        lambda w: f"/fhir/DocumentReference/{w.of('DocumentReference', w.a)}",
        every(405),
    ),
    Row(
        "upload-usage-own",
        "GET",
        lambda w: f"/fhir/Patient/{w.a}/$upload-usage",
        cells(**UPLOAD_READ_A),
        missing=lambda w: f"/fhir/Patient/{MISSING}/$upload-usage",
    ),
    Row(
        "upload-usage-of-b",
        "GET",
        lambda w: f"/fhir/Patient/{w.b}/$upload-usage",
        cells(**UPLOAD_READ_B),
        missing=lambda w: f"/fhir/Patient/{MISSING}/$upload-usage",
    ),
]


# --- booking (F19): $find of free slots, $book of one for the person in one's care ------------


def _booking_cell(world: World, name: str) -> dict[str, str]:
    """Before a booking cell: remember whose cell it is (its body names their patient)."""
    world.cache["booking-cell"] = name
    return {}


def _own_patient(world: World) -> int:
    """The patient a booking cell books for: the guardian's ward, else A."""
    return world.ward if world.cache.get("booking-cell") == "guardian" else world.a


def _book_body(world: World, patient: int, slot: int | None = None) -> dict[str, Any]:
    if slot is None:  # days ahead: beyond the window in which a patient may still cancel
        slot = add_slots(world.his_url, 1, first=utcnow() + timedelta(days=3))[0]
    return {
        "resourceType": "Parameters",
        "parameter": [
            {
                "name": "appointment-resource",
                "resource": {
                    "resourceType": "Appointment",
                    "status": "booked",
                    "slot": [{"reference": f"Slot/{slot}"}],
                    "participant": [{"actor": {"reference": f"Patient/{patient}"}}],
                },
            }
        ],
    }


def _booked_by(world: World, token: str, patient: int) -> str:
    """An appointment booked for ``patient`` with their own patient token."""
    answer = world.http.post(
        "/fhir/Appointment/$book",
        json=_book_body(world, patient),
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 200, answer.get_data(as_text=True)[:300]
    return str(answer.get_json()["entry"][0]["resource"]["id"])


def _video_of_a(world: World, name: str) -> dict[str, str]:
    """A video appointment of A's, booked with A's token."""
    slot = add_slots(world.his_url, 1, telemedicine=True, first=utcnow() + timedelta(days=3))[0]
    answer = world.http.post(
        "/fhir/Appointment/$book",
        json=_book_body(world, world.a, slot),
        headers={"Authorization": f"Bearer {world.tokens['patient']}"},
    )
    assert answer.status_code == 200, answer.get_data(as_text=True)[:300]
    return {"video": str(answer.get_json()["entry"][0]["resource"]["id"])}


def _room_only_for_the_patient(world: World, credential: Credential, response: Any) -> None:
    """Someone acting for A gets the join link with a token; a partner gets no room at all."""
    appointment = response.get_json()
    rooms = [e for e in appointment.get("extension", []) if "virtualService" in e["url"]]
    if credential.name == "partner":
        assert rooms == []
        assert "patientInstruction" not in appointment
        return
    [room] = rooms
    address = next(p["valueUrl"] for p in room["extension"] if p["url"] == "address")
    assert "?jwt=" in address


def _cancel_of(who: str) -> Any:
    def setup(world: World, name: str) -> dict[str, str]:
        patient = world.a if who == "patient" else world.b
        world.cache["cancel"] = _booked_by(world, world.tokens[who], patient)
        return {}

    return setup


def _cancel_body(world: World) -> dict[str, Any]:
    return {"resourceType": "Appointment", "id": world.cache["cancel"], "status": "cancelled"}


def _booked_for(world: World, credential: Credential, response: Any) -> None:
    [entry] = response.get_json()["entry"]
    assert entry["resource"]["status"] == "booked"
    actors = [p["actor"]["reference"] for p in entry["resource"]["participant"]]
    assert f"Patient/{_own_patient(world)}" in actors


#: Booking: a patient, or a guardian for the minor in their care (their launch scopes carry
#: ``patient/Appointment.cu``); user-level reading tokens, the filtered token, a partner (who
#: never writes), a result code and a viewer never book. Free slots are no one's data: whoever
#: may search Slot may $find (a partner too); the filtered token and the single-resource
#: credentials may not.
BOOKERS = {"patient": OK, "guardian": OK}
FIND = dict(A_DATA, guardian=OK, guardian_user=OK, partner_none=OK)
FIND_PARAMETERS = {
    "resourceType": "Parameters",
    "parameter": [{"name": "visit-type", "valueString": "ROUTINE"}],
}

BOOKING_ROWS = [
    Row("find", "GET", lambda w: "/fhir/Appointment/$find?_count=5", cells(**FIND)),
    Row(
        "appointment-video-read",
        "GET",
        lambda w: "/fhir/Appointment/{video}",
        cells(**A_DATA),
        missing=lambda w: f"/fhir/Appointment/{MISSING}",
        setup=_video_of_a,
        check=_room_only_for_the_patient,
    ),
    Row(
        # a next link of $find under A's patient token: signed over its caller, so any other
        # caller that may $find is refused (400), as a search's paging link is
        "find-paging-link",
        "GET",
        lambda w: "{next}",
        cells(
            **dict(FIND, guardian=400, guardian_user=400, user=400, partner=400, partner_none=400)
        ),
        setup=find_link,
    ),
    Row(
        "find-post",
        "POST",
        lambda w: "/fhir/Appointment/$find",
        cells(**FIND),
        body=lambda w: FIND_PARAMETERS,
    ),
    Row(
        "book-own",
        "POST",
        lambda w: "/fhir/Appointment/$book",
        cells(FORBIDDEN, **BOOKERS),
        body=lambda w: _book_body(w, _own_patient(w)),
        setup=_booking_cell,
        check=_booked_for,
    ),
    Row(
        # B is no one's in care here but their own: unknown to the others who may book
        "book-for-b",
        "POST",
        lambda w: "/fhir/Appointment/$book",
        cells(FORBIDDEN, patient=404, guardian=404),
        body=lambda w: _book_body(w, w.b),
    ),
    Row(
        "book-cancel-own",
        "POST",
        lambda w: "/fhir/Appointment/$book",
        cells(FORBIDDEN, patient=OK, guardian=404),
        body=_cancel_body,
        setup=_cancel_of("patient"),
    ),
    Row(
        "book-cancel-of-b",
        "POST",
        lambda w: "/fhir/Appointment/$book",
        cells(FORBIDDEN, patient=404, guardian=404),
        body=_cancel_body,
        setup=_cancel_of("other"),
    ),
]


def study_path(suffix: str = "") -> Any:
    return lambda w: f"/dicomweb/studies/{s(w)}{suffix}"


def missing_study(suffix: str = "") -> Any:
    return lambda w: f"/dicomweb/studies/{MISSING_UID}{suffix}"


DICOM_ROWS = [
    Row(
        "qido-studies",
        "GET",
        lambda w: "/dicomweb/studies",
        cells(**QIDO_ALL),
        check=names(s, who=A_READERS),
    ),
    Row(
        "qido-studies-of-b-by-uid",
        "GET",
        lambda w: f"/dicomweb/studies?StudyInstanceUID={w.study_of(w.b)}",
        cells(**dict(QIDO_ALL, patient=EMPTY, user=EMPTY, partner=EMPTY, viewer=EMPTY)),
    ),
    Row(
        "qido-studies-by-patient-id-of-b",
        "GET",
        lambda w: f"/dicomweb/studies?PatientID={w.mrn[w.b]}",
        cells(**dict(QIDO_ALL, patient=EMPTY, user=EMPTY, partner=EMPTY, viewer=EMPTY)),
    ),
    Row(
        "qido-all-series",
        "GET",
        lambda w: "/dicomweb/series",
        cells(**QIDO_ALL),
        check=names(a_series, who=A_READERS),
    ),
    Row(
        "qido-all-instances",
        "GET",
        lambda w: "/dicomweb/instances",
        cells(**QIDO_ALL),
        check=names(a_sop, who=A_READERS),
    ),
    Row(
        "qido-study-series",
        "GET",
        study_path("/series"),
        cells(**A_STUDY),
        missing=missing_study("/series"),
        check=names(a_series),
    ),
    Row(
        "qido-study-instances",
        "GET",
        study_path("/instances"),
        cells(**A_STUDY),
        missing=missing_study("/instances"),
        check=names(a_sop),
    ),
    Row(
        "qido-series-instances",
        "GET",
        lambda w: f"/dicomweb/studies/{s(w)}/series/{a_series(w)}/instances",
        cells(**A_STUDY),
        missing=lambda w: f"/dicomweb/studies/{s(w)}/series/{MISSING_UID}/instances",
        check=names(a_sop),
    ),
    Row(
        "qido-planted-series-instances",
        "GET",
        lambda w: f"/dicomweb/studies/{s(w)}/series/{w.planted[0][0]}/instances",
        cells(**NOT_IN_STUDY),
        missing=lambda w: f"/dicomweb/studies/{s(w)}/series/{MISSING_UID}/instances",
    ),
    Row(
        "qido-cross-study-series-instances",
        "GET",
        lambda w: f"/dicomweb/studies/{s(w)}/series/{cross_series(w)}/instances",
        cells(**NOT_IN_STUDY),
        missing=lambda w: f"/dicomweb/studies/{s(w)}/series/{MISSING_UID}/instances",
    ),
    Row(
        "qido-series-of-b-under-a-instances",
        "GET",
        lambda w: f"/dicomweb/studies/{s(w)}/series/{first(w, w.study_of(w.b))[0]}/instances",
        cells(**NOT_IN_STUDY),
        missing=lambda w: f"/dicomweb/studies/{s(w)}/series/{MISSING_UID}/instances",
    ),
    Row(
        "qido-study-of-b-series",
        "GET",
        lambda w: f"/dicomweb/studies/{w.study_of(w.b)}/series",
        cells(**NOBODY),
        missing=missing_study("/series"),
    ),
    Row(
        "qido-viewer-token-in-query",
        "GET",
        study_path("/series"),
        cells(DENIED, viewer=OK, share=OK),
        in_query=True,
        check=names(a_series),
    ),
    Row(
        "qido-other-study-of-a-series",
        "GET",
        lambda w: f"/dicomweb/studies/{w.other_study()}/series",
        cells(**dict(A_STUDY, viewer=M, share=M)),
        missing=missing_study("/series"),
    ),
    Row(
        "wado-other-study-of-a-metadata",
        "GET",
        lambda w: f"/dicomweb/studies/{w.other_study()}/metadata",
        cells(**dict(A_STUDY, viewer=M, share=M)),
        missing=missing_study("/metadata"),
    ),
    Row(
        "wado-study-of-guardian-metadata",
        "GET",
        lambda w: f"/dicomweb/studies/{w.study_of(w.guardian)}/metadata",
        cells(**dict(NOBODY, guardian_user=OK)),
        missing=missing_study("/metadata"),
    ),
    Row(
        "wado-viewer-token-in-query",
        "GET",
        study_path("/metadata"),
        cells(DENIED, viewer=OK, share=OK),
        in_query=True,
        check=names(a_sop),
    ),
    Row(
        "wado-study",
        "GET",
        study_path(),
        cells(**A_STUDY),
        missing=missing_study(),
        check=names(a_sop),
    ),
    Row(
        "wado-study-of-b",
        "GET",
        lambda w: f"/dicomweb/studies/{w.study_of(w.b)}",
        cells(**NOBODY),
        missing=missing_study(),
    ),
    Row(
        "wado-series",
        "GET",
        lambda w: f"/dicomweb/studies/{s(w)}/series/{a_series(w)}",
        cells(**A_STUDY),
        missing=lambda w: f"/dicomweb/studies/{s(w)}/series/{MISSING_UID}",
        check=names(a_sop),
    ),
    Row(
        "wado-planted-series",
        "GET",
        lambda w: f"/dicomweb/studies/{s(w)}/series/{w.planted[0][0]}",
        cells(**NOBODY),
        missing=lambda w: f"/dicomweb/studies/{s(w)}/series/{MISSING_UID}",
    ),
    Row(
        "wado-cross-study-series",
        "GET",
        lambda w: f"/dicomweb/studies/{s(w)}/series/{cross_series(w)}",
        cells(**NOBODY),
        missing=lambda w: f"/dicomweb/studies/{s(w)}/series/{MISSING_UID}",
    ),
    Row(
        "wado-series-of-b-under-a",
        "GET",
        lambda w: f"/dicomweb/studies/{s(w)}/series/{first(w, w.study_of(w.b))[0]}",
        cells(**NOBODY),
        missing=lambda w: f"/dicomweb/studies/{s(w)}/series/{MISSING_UID}",
    ),
    Row(
        "wado-cross-study-instance",
        "GET",
        lambda w: f"/dicomweb/studies/{s(w)}/series/{cross_series(w)}/instances/{cross_sop(w)}",
        cells(**NOBODY),
        missing=lambda w: (
            f"/dicomweb/studies/{s(w)}/series/{cross_series(w)}/instances/{MISSING_UID}"
        ),
    ),
    Row(
        "wado-instance",
        "GET",
        instance,
        cells(**A_STUDY),
        missing=missing_instance,
        check=names(a_sop),
    ),
    Row(
        "wado-planted-instance",
        "GET",
        lambda w: f"/dicomweb/studies/{s(w)}/series/{w.planted[0][0]}/instances/{w.planted[0][1]}",
        cells(**NOBODY),
        missing=lambda w: (
            f"/dicomweb/studies/{s(w)}/series/{w.planted[0][0]}/instances/{MISSING_UID}"
        ),
    ),
    Row(
        "wado-study-metadata",
        "GET",
        study_path("/metadata"),
        cells(**A_STUDY),
        missing=missing_study("/metadata"),
        check=names(a_sop),
    ),
    Row(
        "wado-series-metadata",
        "GET",
        lambda w: f"/dicomweb/studies/{s(w)}/series/{a_series(w)}/metadata",
        cells(**A_STUDY),
        missing=lambda w: f"/dicomweb/studies/{s(w)}/series/{MISSING_UID}/metadata",
        check=names(a_sop),
    ),
    Row(
        "wado-instance-metadata",
        "GET",
        lambda w: instance(w) + "/metadata",
        cells(**A_STUDY),
        missing=lambda w: missing_instance(w) + "/metadata",
        check=names(a_sop),
    ),
    Row(
        "wado-planted-instance-metadata",
        "GET",
        lambda w: (
            f"/dicomweb/studies/{s(w)}/series/{w.planted[0][0]}/instances/{w.planted[0][1]}"
            "/metadata"
        ),
        cells(**NOBODY),
        missing=lambda w: (
            f"/dicomweb/studies/{s(w)}/series/{w.planted[0][0]}/instances/{MISSING_UID}/metadata"
        ),
    ),
    Row(
        "wado-frames",
        "GET",
        lambda w: instance(w) + "/frames/1",
        cells(**A_STUDY),
        missing=lambda w: missing_instance(w) + "/frames/1",
    ),
    Row(
        "wado-bulkdata",
        "GET",
        lambda w: instance(w) + "/bulkdata/7FE00010",
        cells(**A_STUDY),
        missing=lambda w: missing_instance(w) + "/bulkdata/7FE00010",
    ),
    Row(
        "wado-rendered-instance",
        "GET",
        lambda w: instance(w) + "/rendered",
        cells(**A_STUDY),
        missing=lambda w: missing_instance(w) + "/rendered",
    ),
    Row(
        "wado-thumbnail-instance",
        "GET",
        lambda w: instance(w) + "/thumbnail",
        cells(**A_STUDY),
        missing=lambda w: missing_instance(w) + "/thumbnail",
    ),
    Row(
        "wado-rendered-frame",
        "GET",
        lambda w: instance(w) + "/frames/1/rendered",
        cells(**A_STUDY),
        missing=lambda w: missing_instance(w) + "/frames/1/rendered",
    ),
    Row(
        "wado-thumbnail-frame",
        "GET",
        lambda w: instance(w) + "/frames/1/thumbnail",
        cells(**A_STUDY),
        missing=lambda w: missing_instance(w) + "/frames/1/thumbnail",
    ),
    Row(
        "wado-thumbnail-study",
        "GET",
        study_path("/thumbnail"),
        cells(**A_STUDY),
        missing=missing_study("/thumbnail"),
    ),
    Row(
        "wado-thumbnail-series",
        "GET",
        lambda w: f"/dicomweb/studies/{s(w)}/series/{a_series(w)}/thumbnail",
        cells(**A_STUDY),
        missing=lambda w: f"/dicomweb/studies/{s(w)}/series/{MISSING_UID}/thumbnail",
    ),
    Row(
        "wado-thumbnail-planted-series",
        "GET",
        lambda w: f"/dicomweb/studies/{s(w)}/series/{w.planted[0][0]}/thumbnail",
        cells(**NOBODY),
        missing=lambda w: f"/dicomweb/studies/{s(w)}/series/{MISSING_UID}/thumbnail",
    ),
    Row(
        "wado-rendered-study",
        "GET",
        study_path("/rendered"),
        cells(**A_STUDY),
        missing=missing_study("/rendered"),
    ),
    Row(
        "wado-rendered-series",
        "GET",
        lambda w: f"/dicomweb/studies/{s(w)}/series/{a_series(w)}/rendered",
        cells(**A_STUDY),
        missing=lambda w: f"/dicomweb/studies/{s(w)}/series/{MISSING_UID}/rendered",
    ),
    Row(
        "wado-rendered-planted-series",
        "GET",
        lambda w: f"/dicomweb/studies/{s(w)}/series/{w.planted[0][0]}/rendered",
        cells(**NOBODY),
        missing=lambda w: f"/dicomweb/studies/{s(w)}/series/{MISSING_UID}/rendered",
    ),
    Row(
        # none of the credentials carries a create scope (patient/ImagingStudy.c)
        "stow",
        "POST",
        lambda w: "/dicomweb/studies",
        cells(FORBIDDEN),
        headers={"Content-Type": STOW_TYPE},
        raw=stow_body,
    ),
    Row(
        "stow-into-study",
        "POST",
        study_path(),
        cells(FORBIDDEN),
        headers={"Content-Type": STOW_TYPE},
        raw=stow_body,
    ),
    Row(
        "export-get",
        "GET",
        study_path("/export"),
        cells(**dict(A_STUDY, viewer=FORBIDDEN)),
        missing=missing_study("/export"),
        check=exported,
    ),
    Row(
        "export-post",
        "POST",
        study_path("/export"),
        cells(**dict(A_STUDY, viewer=FORBIDDEN)),
        missing=missing_study("/export"),
        form=lambda w: {"password": "correct horse battery"},
    ),
    Row(
        "export-study-of-b",
        "GET",
        lambda w: f"/dicomweb/studies/{w.study_of(w.b)}/export",
        cells(**dict(NOBODY, viewer=FORBIDDEN)),
        missing=missing_study("/export"),
    ),
    Row(
        "viewer-link",
        "POST",
        study_path("/viewer-link"),
        # a share token mints no viewer link: the link would outlive the share's revocation
        cells(**dict(A_STUDY, viewer=FORBIDDEN, share=FORBIDDEN)),
        missing=missing_study("/viewer-link"),
        status=201,
    ),
    Row(
        "viewer-link-study-of-b",
        "POST",
        lambda w: f"/dicomweb/studies/{w.study_of(w.b)}/viewer-link",
        cells(**dict(NOBODY, viewer=FORBIDDEN, share=FORBIDDEN)),
        missing=missing_study("/viewer-link"),
    ),
]

#: Writes the FHIR API does not serve: 405 whoever asks (the method, not the caller, is wrong).
UNSERVED = [
    ("POST", lambda w: "/fhir/Observation"),
    ("PUT", lambda w: "/fhir/Observation"),
    ("PATCH", lambda w: "/fhir/Observation"),
    ("DELETE", lambda w: "/fhir/Observation"),
    ("PUT", lambda w: f"/fhir/Observation/{obs(w, w.a)}"),
    ("PATCH", lambda w: f"/fhir/Observation/{obs(w, w.a)}"),
    ("DELETE", lambda w: f"/fhir/Observation/{obs(w, w.a)}"),
    ("POST", lambda w: f"/fhir/Observation/{obs(w, w.a)}"),
    ("GET", lambda w: "/fhir/Observation/_search"),
    ("PUT", lambda w: "/fhir/Observation/_search"),
    ("PATCH", lambda w: "/fhir/Observation/_search"),
    ("DELETE", lambda w: "/fhir/Observation/_search"),
    ("PUT", lambda w: f"/fhir/Patient/{w.a}/$everything"),
    ("PATCH", lambda w: f"/fhir/Patient/{w.a}/$everything"),
    ("DELETE", lambda w: f"/fhir/Patient/{w.a}/$everything"),
    ("POST", lambda w: "/fhir/metadata"),
    ("PUT", lambda w: "/fhir/metadata"),
    ("PATCH", lambda w: "/fhir/metadata"),
    ("DELETE", lambda w: "/fhir/metadata"),
    ("PUT", lambda w: "/fhir"),
    ("PATCH", lambda w: "/fhir"),
    ("DELETE", lambda w: "/fhir"),
    ("POST", lambda w: f"/fhir/Patient/{w.a}/Observation"),
    ("PUT", lambda w: f"/fhir/Patient/{w.a}/Observation"),
    ("PATCH", lambda w: f"/fhir/Patient/{w.a}/Observation"),
    ("DELETE", lambda w: f"/fhir/Patient/{w.a}/Observation"),
    ("GET", lambda w: f"/fhir/Patient/{w.a}/Observation/_search"),
    ("PUT", lambda w: f"/fhir/Patient/{w.a}/Observation/_search"),
    ("PATCH", lambda w: f"/fhir/Patient/{w.a}/Observation/_search"),
    ("DELETE", lambda w: f"/fhir/Patient/{w.a}/Observation/_search"),
]
UNSERVED_ROWS = [
    Row(f"fhir-{method.lower()}-unserved-{i}", method, path, every(405))
    for i, (method, path) in enumerate(UNSERVED)
]
#: Addresses under /dicomweb no DICOMweb route serves: 404 (or 405 for a method a real route
#: does not take) in DICOMweb's own format, whoever asks and before anyone's credentials count.
DICOMWEB_UNKNOWN = [
    *((m, lambda w: "/dicomweb/") for m in ("GET", "POST", "PUT", "PATCH", "DELETE")),
    *(
        (m, lambda w: "/dicomweb/no/such/address")
        for m in ("GET", "POST", "PUT", "PATCH", "DELETE")
    ),
]
DICOMWEB_UNKNOWN_ROWS = [
    Row(
        f"dicomweb-{method.lower()}-unknown-{i}",
        method,
        path,
        every(404),
    )
    for i, (method, path) in enumerate(DICOMWEB_UNKNOWN)
]

OPEN_ROWS = [
    Row("metadata", "GET", lambda w: "/fhir/metadata", every(200)),
    Row(
        "smart-configuration", "GET", lambda w: "/fhir/.well-known/smart-configuration", every(200)
    ),
    Row("jwks", "GET", lambda w: "/oauth/jwks", every(200)),
    Row(
        "openid-configuration",
        "GET",
        lambda w: "/.well-known/openid-configuration",
        every(200),
    ),
    Row("health-live", "GET", lambda w: "/health/live", every(200)),
    Row("health-ready", "GET", lambda w: "/health/ready", every(200)),
    Row("viewer-app-config", "GET", lambda w: "/viewer/app-config.js", every(200)),
    Row("viewer-index", "GET", lambda w: "/viewer/", every(200)),
    Row("viewer-file", "GET", lambda w: "/viewer/index.html", every(200)),
    Row("static-missing", "GET", lambda w: "/static/nothing-here.css", every(404)),
    Row("design-stylesheet", "GET", lambda w: "/design/nhsuk-frontend.min.css", every(200)),
    Row("design-theme", "GET", lambda w: "/design/theme.css", every(200)),
    # the proof of work of the account and result-code forms (F3): public, holds no data
    Row("altcha-challenge", "GET", lambda w: "/altcha/challenge", every(200)),
    Row("altcha-setup", "GET", lambda w: "/altcha/setup.js", every(200)),
    Row("altcha-widget", "GET", lambda w: "/altcha/altcha.min.js", every(200)),
]


def oauth_error(code: str) -> Any:
    """A check: an OAuth error answer with ``code`` and no token in it."""

    def check(world: World, credential: Credential, response: Any) -> None:
        body = response.get_json()
        assert body["error"] == code, body
        assert "access_token" not in body, body
        assert "active" not in body, body

    return check


def introspect_form(w: World) -> dict[str, str]:
    return {"token": w.tokens["patient"]}


def not_a_code(w: World) -> dict[str, str]:
    """A wrong code for a national ID nobody has, new each time: the attempt limits count per
    national ID and per address, and this row is about the bearer, not the limits."""
    return {"code": "000000", "national_id": f"9{secrets.randbelow(10**12):012d}"}


def neutral_refusal(response: Any) -> None:
    """A check: the page says the pair is wrong, not which half, and sets no token."""
    page = response.get_data(as_text=True)
    assert "The code or the national ID number is not right" in page, page[:300]
    assert "result_token" not in response.headers.get("Set-Cookie", "")


OAUTH_ROWS = [
    # a bearer token is no client authentication (RFC 6749 §2.3, RFC 7662 §2.1, RFC 7009 §2.1)
    Row(
        "oauth-token-with-bearer-only",
        "POST",
        lambda w: "/oauth/token",
        every(400),
        form=lambda w: {"grant_type": "client_credentials", "scope": "system/*.rs"},
        check=oauth_error("invalid_client"),
    ),
    Row(
        "oauth-introspect", "POST", lambda w: "/oauth/introspect", every(401), form=introspect_form
    ),
    Row(
        "oauth-revoke-without-client",
        "POST",
        lambda w: "/oauth/revoke",
        every(401),
        form=lambda w: {"token": "not-a-token-of-anybody"},
    ),
    Row("oauth-register-disabled", "POST", lambda w: "/oauth/register", every(404)),
    Row("oauth-authorize", "GET", lambda w: "/oauth/authorize?response_type=code", SESSION),
    Row("oauth-authorize-post", "POST", lambda w: "/oauth/authorize", SESSION),
    Row("oauth-apps", "GET", lambda w: "/oauth/apps", MANAGEMENT),
    Row(
        "oauth-apps-revoke",
        "POST",
        lambda w: "/oauth/apps/revoke",
        MANAGEMENT,
    ),
    Row(
        "oauth-launch",
        "POST",
        lambda w: "/oauth/launch",
        MANAGEMENT,
    ),
    # a confidential client's own launch on the back channel: its client credentials first; a
    # bearer token (A's own grant, a share's, a partner's) is no client authentication, so
    # nothing here gets a launch value, whoever's token rides in the form
    Row(
        "oauth-client-launch",
        "POST",
        lambda w: "/oauth/client-launch",
        every(401),
        form=lambda w: {"subject_token": w.tokens["patient"], "patient": str(w.a)},
        check=oauth_error("invalid_client"),
    ),
    Row(
        "result-access-wrong-code",
        "POST",
        lambda w: "/auth/result-access",
        every(400),
        form=not_a_code,
        environ=lambda: {"REMOTE_ADDR": f"10.77.{secrets.randbelow(250)}.{secrets.randbelow(250)}"},
        check=lambda w, c, r: oauth_error("invalid_grant")(w, c, r),
    ),
    # the same as a page for people (F9): the code and the national ID are the credential; the
    # one-report token stays in the page's own cookie, no bearer token opens anything there
    Row("result-access-page", "GET", lambda w: "/result-access", every(200)),
    Row(
        "result-access-page-wrong-code",
        "POST",
        lambda w: "/result-access",
        every(400),
        form=not_a_code,
        environ=lambda: {"REMOTE_ADDR": f"10.78.{secrets.randbelow(250)}.{secrets.randbelow(250)}"},
        check=lambda w, c, r: neutral_refusal(r),
    ),
    Row("result-access-page-pdf", "GET", lambda w: "/result-access/report.pdf", every(401)),
    Row("result-access-page-close", "POST", lambda w: "/result-access/close", every(303)),
    # the registration desk's API takes its own admin token, never a patient's
    Row(
        "accounts-api",
        "POST",
        lambda w: "/account/api/accounts",
        cells(DENIED),
        body=lambda w: {"national_id": "1", "email": "x@example.org"},
    ),
]

#: The account pages: a bearer token never makes a person signed in.
ACCOUNT_PAGES = [
    ("GET", "/account/"),
    ("GET", "/account/profile"),
    ("POST", "/account/profile"),
    ("GET", "/account/identities"),
    ("POST", "/account/identities"),
    ("POST", "/account/identities/1/remove"),
    ("GET", "/account/notifications"),
    ("POST", "/account/notifications"),
    ("GET", "/account/email"),
    ("POST", "/account/email"),
    ("POST", "/account/email-code"),
    ("GET", "/account/password"),
    ("POST", "/account/password"),
    ("GET", "/account/totp"),
    ("POST", "/account/totp"),
    ("GET", "/account/second-factor"),
    ("POST", "/account/second-factor"),
    ("GET", "/account/welcome"),
    ("POST", "/account/welcome"),
    ("POST", "/account/logout"),
]
#: Pages anybody may open (signing in, registering, recovering an account).
PUBLIC_PAGES = [
    ("GET", "/account/login", 200),
    ("POST", "/account/login", 400),
    ("GET", "/account/register", 200),
    ("POST", "/account/register", 400),
    ("GET", "/account/forgot", 200),
    ("POST", "/account/forgot", 400),
    ("GET", "/account/reset/not-a-token", 200),
    ("POST", "/account/reset/not-a-token", 400),
    ("GET", "/account/activate/not-a-token", 400),
    ("POST", "/account/activate/not-a-token", 400),
    ("GET", "/account/lang/en", 302),
]
ACCOUNT_ROWS = [
    Row(
        f"account-{method.lower()}-{path.strip('/').replace('/', '-')}",
        method,
        (lambda p: lambda w: p)(path),
        SESSION,
    )
    for method, path in ACCOUNT_PAGES
] + [
    Row(
        f"public-{method.lower()}-{path.strip('/').replace('/', '-')}",
        method,
        (lambda p: lambda w: p)(path),
        every(status),
    )
    for method, path, status in PUBLIC_PAGES
]


def fresh_share(world: World, name: str) -> dict[str, str]:
    """A new share of A's coded report (made with A's token): the path of its link."""
    path, _pin = make_share(
        world.app, world.a, world.tokens["patient"], f"DiagnosticReport/{world.report}"
    )
    return {"link": path}


def shows_the_share_to_its_holder(world: World, credential: Credential, response: Any) -> None:
    """A check: the share's page lists its report's file to the share's own token, and to any
    other credential only the PIN form."""
    page = response.get_data(as_text=True)
    files = f"{world.tokens['share_link']}/files/"
    if credential.name == "share":
        assert f'{files}{world.report_binary}"' in page, page[:400]
        assert f'{files}{world.other_binary}"' not in page
        assert 'name="pin"' not in page
        # the shared study: the viewer and the export, the share token in their URLs
        links = [html.unescape(x) for x in re.findall(r'href="([^"]+)"', page)]
        viewer = next(x for x in links if x.startswith("/viewer/viewer?"))
        assert parse_qs(urlsplit(viewer).query)["StudyInstanceUIDs"] == [world.mixed_study]
        export = next(x for x in links if x.endswith("/export?" + urlsplit(x).query))
        assert urlsplit(export).path == f"/dicomweb/studies/{world.mixed_study}/export"
        got = world.app.test_client().get(export)
        assert got.status_code == 200, got.get_data()[:200]
        exported(world, credential, got)
        assert_only_own(world, credential, got)
        assert not any(uid in page for uid in world.studies[world.a] if uid != world.mixed_study)
    else:
        assert files not in page
        assert 'name="pin"' in page


def share_pdf(world: World, credential: Credential, response: Any) -> None:
    if credential.name != "share":
        return
    pdf(response)
    assert response.headers["Content-Disposition"].startswith("attachment")


def no_share_cookie(world: World, name: str) -> dict[str, str]:
    """The shared client holds no share cookie (the right-PIN row leaves one): each cell is
    judged on its own credential."""
    world.http.delete_cookie("share_token", path=world.tokens["share_link"])
    return {}


#: The recipient's pages of a share with a person outside (F21): the link and the PIN are the
#: credential; a share token opens what was shared, no other credential does.
SHARE_ONLY = dict(every(401), share=OK)

SHARE_ROWS = [
    Row(
        "share-page",
        "GET",
        lambda w: w.tokens["share_link"],
        every(200),
        check=shows_the_share_to_its_holder,
        setup=no_share_cookie,
    ),
    Row("share-page-unknown-link", "GET", lambda w: f"/share/{NO_ID}", every(404)),
    Row(
        # the right PIN opens the share whatever else the request carries
        "share-pin-right",
        "POST",
        lambda w: w.tokens["share_link"],
        every(303),
        form=lambda w: {"pin": w.tokens["share_pin"]},
        setup=no_share_cookie,
    ),
    Row(
        # a fresh share for each cell: wrong PINs here must not lock the world's share
        "share-pin-wrong",
        "POST",
        lambda w: "{link}",
        every(400),
        form=lambda w: {"pin": "000000" if w.tokens["share_pin"] != "000000" else "111111"},
        setup=fresh_share,
    ),
    Row(
        "share-file",
        "GET",
        lambda w: f"{w.tokens['share_link']}/files/{w.report_binary}",
        SHARE_ONLY,
        check=share_pdf,
        setup=no_share_cookie,
    ),
    Row(
        "share-file-not-shared",
        "GET",
        lambda w: f"{w.tokens['share_link']}/files/{w.other_binary}",
        dict(SHARE_ONLY, share=M),
        missing=lambda w: f"{w.tokens['share_link']}/files/{MISSING}",
        setup=no_share_cookie,
    ),
    Row(
        "share-file-of-b",
        "GET",
        lambda w: f"{w.tokens['share_link']}/files/{w.of('Binary', w.b)}",
        dict(SHARE_ONLY, share=M),
        missing=lambda w: f"{w.tokens['share_link']}/files/{MISSING}",
        setup=no_share_cookie,
    ),
]


ROWS = (
    FHIR_ROWS
    + SHARE_ROWS
    + PERSONAL_ROWS
    + UPLOAD_ROWS
    + BOOKING_ROWS
    + DICOM_ROWS
    + UNSERVED_ROWS
    + DICOMWEB_UNKNOWN_ROWS
    + OPEN_ROWS
    + OAUTH_ROWS
    + ACCOUNT_ROWS
    + QUESTIONNAIRE_ROWS
    + SUBSCRIPTION_ROWS
)


@pytest.mark.parametrize(("row", "credential"), params(ROWS))
def test_cell(world: World, row: Row, credential: str) -> None:
    judge(world, row, credential)


# --- the table covers every route ----------------------------------------------------------------

#: Routes outside the product: the test-only sign-in of the fixtures.
NOT_THE_API = {"/_test/sign-in/<int:account_id>"}


def uncovered(world: World, url_map: Map) -> set[tuple[str, str]]:
    """The (route, method) pairs of ``url_map`` no row requests."""
    adapter = url_map.bind("gateway.test")
    covered: set[tuple[str, str]] = set()
    for row in ROWS:
        path = row.path(world).split("?")[0]
        if "{" in path:
            path = next(iter(_setup_paths(world, row)))
        rule, _ = adapter.match(path, method=row.method, return_rule=True)
        covered.add((rule.rule, row.method))
    wanted = {
        (rule.rule, method)
        for rule in url_map.iter_rules()
        if rule.rule not in NOT_THE_API
        for method in rule.methods or ()
        if method not in ("HEAD", "OPTIONS")
    }
    return wanted - covered


def test_every_route_has_rows(world: World) -> None:
    """Every (route, method) of the app is requested by some row: a new route cannot be added
    without its rows."""
    assert sorted(uncovered(world, world.app.url_map)) == []


def test_a_new_route_without_rows_is_noticed(world: World) -> None:
    rules = [rule.empty() for rule in world.app.url_map.iter_rules()]
    added = Rule("/fhir/Patient/<id>/$new-operation", methods=["GET"], endpoint="new")
    assert uncovered(world, Map([*rules, added])) == {("/fhir/Patient/<id>/$new-operation", "GET")}


def _setup_paths(world: World, row: Row) -> list[str]:
    assert row.setup is not None
    return [row.path(world).format(**row.setup(world, "patient")).split("?")[0]]


def test_the_table_is_whole() -> None:
    """Every row says what every credential gets; names are unique; known defects name
    credentials of the table."""
    assert len({row.name for row in ROWS}) == len(ROWS)
    for row in ROWS:
        assert set(row.expect) == set(COLUMNS), row.name
        assert set(row.xfail) <= set(COLUMNS), row.name


# --- what the table cannot say in one request --------------------------------------------------


@pytest.mark.parametrize("surface", ["qido", "wado"])
def test_a_viewers_requests_are_in_the_patients_access_history(world: World, surface: str) -> None:
    """What a viewer link opens is audited as the access of whoever minted it: A sees it."""
    path = {
        "qido": f"/dicomweb/studies/{world.mixed_study}/series",
        "wado": f"/dicomweb/studies/{world.mixed_study}/metadata",
    }[surface]
    own = {"Authorization": f"Bearer {world.tokens['patient']}"}

    def about_the_study() -> set[str]:
        world.app.extensions["audit_writer"].flush()
        answer = world.http.get("/fhir/AuditEvent?_count=200", headers=own)
        assert answer.status_code == 200
        return {
            e["resource"]["id"]
            for e in answer.get_json().get("entry", [])
            if any(
                x["what"].get("identifier", {}).get("value") == f"urn:oid:{world.mixed_study}"
                for x in e["resource"].get("entity", [])
            )
        }

    before = about_the_study()
    answer = world.http.get(path, headers=world.credentials["viewer"].headers)
    assert answer.status_code == 200
    assert about_the_study() - before, "the viewer's request is not in A's access history"


@functools.cache
def _narrow_key() -> RSAKey:
    return RSAKey.generate_key(2048, {"kid": "narrow-partner"})


def consented_partner(world: World, registered: str, asked: str) -> Any:
    """A partner registered for ``registered``, whom A shared with, asking a token for
    ``asked`` with its private_key_jwt assertion: the token endpoint's answer."""
    key = _narrow_key()
    store = world.app.extensions["smart_oauth"].store
    client_id, _ = store.register_client(
        name=f"Partner {secrets.token_hex(3)}",
        kind="partner",
        auth_method="private_key_jwt",
        scope=registered,
        jwks=json.dumps({"keys": [key.as_dict(private=False)]}),
    )
    consent = world.http.post(
        "/fhir/Consent",
        json={
            **consent_body(world, world.a),
            "organization": [
                {
                    "identifier": {
                        "system": world.app.config["SHARING_CLIENT_SYSTEM"],
                        "value": client_id,
                    }
                }
            ],
        },
        headers={"Authorization": f"Bearer {world.tokens['patient']}"},
    )
    assert consent.status_code == 201
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": "http://gateway.test/oauth/token",
        "exp": int(time.time()) + 240,
        "jti": uuid.uuid4().hex,
    }
    assertion = jwt.encode(
        {"alg": "RS384", "kid": key.kid, "typ": "JWT"}, claims, key, algorithms=["RS384"]
    )
    return world.http.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "scope": asked,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion,
        },
    )


@pytest.mark.parametrize(
    "asked",
    [
        "system/*.rs",
        "system/Patient.rs",
        "system/Observation.rs system/Patient.rs",
    ],
)
def test_a_partner_gets_nothing_beyond_its_registration(world: World, asked: str) -> None:
    """A partner registered for Observation only: whatever it asks, its token reads nothing
    else of the patient who shared with it (invalid_scope, or a token narrowed to Observation)."""
    answer = consented_partner(world, "system/Observation.rs", asked)
    if answer.status_code != 200:
        assert answer.get_json()["error"] == "invalid_scope", answer.get_json()
        return
    body = answer.get_json()
    assert set(body["scope"].split()) <= {"system/Observation.rs"}, body["scope"]
    auth = {"Authorization": f"Bearer {body['access_token']}"}
    assert world.http.get(f"/fhir/Patient/{world.a}", headers=auth).status_code == 403
    assert (
        world.http.get(f"/fhir/Observation/{obs(world, world.a)}", headers=auth).status_code == 200
    )


def test_a_partner_never_stores_images_whatever_its_scopes(world: World) -> None:
    """Even registered and granted ``system/ImagingStudy.c``, a partner's STOW-RS of the
    consented patient's images is refused: partners read what was shared, nothing more."""
    scope = "system/*.rs system/ImagingStudy.c"
    answer = consented_partner(world, scope, scope)
    if answer.status_code != 200:
        assert answer.get_json()["error"] == "invalid_scope", answer.get_json()
        return
    auth = {"Authorization": f"Bearer {answer.get_json()['access_token']}"}
    stored = world.http.post(
        "/dicomweb/studies",
        data=stow_body(world),
        headers={**auth, "Content-Type": STOW_TYPE},
    )
    assert stored.status_code == 403, stored.get_data()[:300]
