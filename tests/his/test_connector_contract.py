"""The HisConnector contract, on every database the default connector supports.

Every method of the protocol (read, read_many, search, count, ping, the change feed, what the
authorization server needs: find_patient, contacts, guardian_links, coded_bulletins, the
questionnaires' assignments_after and write_answers, the uploads' hand-off, and the booking's
writes: book_slot, change_appointment) runs against
``SqlConnector`` over the same small generated HIS on SQLite, PostgreSQL and MariaDB. Each
answer is checked twice: against the HIS's own tables on that database (what the method
promises), and against the answer on SQLite (the databases must not disagree: collation, case,
time precision, booleans and tie-breaking all show up here first).

PostgreSQL is the one at 127.0.0.1:5432 (``TEST_PG_URL``), MariaDB the one at 127.0.0.1:3306
(``TEST_MARIADB_URL``, driver PyMySQL); each run creates its own database there and drops it
afterwards, so parallel workers never meet. A server that does not answer skips its runs with
the reason.
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import os
import threading
import unicodedata
import uuid
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from demo.generator import generate
from fhir_gateway.fhir.query import QueryParser, SearchQuery
from fhir_gateway.fhir.registry import registry
from fhir_gateway.his import schema as t
from fhir_gateway.his.connector import (
    CHANGE_SOURCES,
    AppointmentChange,
    AppointmentUnchangeable,
    Contacts,
    HisConnector,
    HisUnreachable,
    Hit,
    IncomingDocument,
    SlotUnavailable,
)
from fhir_gateway.his.sql import SqlConnector, make_engine
from mappers import IdentifierSystems
from tests.conftest import TODAY, scratch_postgres

PATIENTS = 15
SEED = 11
BASE = "http://gateway.test/fhir"
SYSTEMS = IdentifierSystems.from_base("http://hospital.test/id")
MARIADB_ADMIN_URL = os.environ.get(
    "TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test?charset=utf8mb4"
)


# --- the databases ------------------------------------------------------------------------------


@contextmanager
def scratch_mariadb(prefix: str) -> Iterator[str]:
    """The URL of a new, empty MariaDB/MySQL database, dropped afterwards; skips the test where
    the server does not answer."""
    admin = sa.create_engine(MARIADB_ADMIN_URL, connect_args={"connect_timeout": 3})
    try:
        with admin.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Exception as exc:  # any failure means: no MariaDB here
        admin.dispose()
        shown = sa.make_url(MARIADB_ADMIN_URL).render_as_string(hide_password=True)
        pytest.skip(f"MariaDB at {shown} is not reachable ({type(exc).__name__})")
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
    url = sa.make_url(MARIADB_ADMIN_URL).set(database=name)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS `{name}`"))
        admin.dispose()


@contextmanager
def _his(kind: str, tmp: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{tmp / 'his.sqlite'}"
    elif kind == "postgresql":
        with scratch_postgres("his_contract") as url:
            yield url
    else:
        with scratch_mariadb("his_contract") as url:
            yield url


@contextmanager
def _generated(kind: str, tmp: Path) -> Iterator[tuple[SqlConnector, sa.Engine]]:
    with _his(kind, tmp) as url:
        engine = make_engine(url)
        generate(engine, patients=PATIENTS, seed=SEED, today=TODAY)
        connector = SqlConnector.from_url(url, SYSTEMS)
        try:
            yield connector, engine
        finally:
            connector.engine.dispose()
            engine.dispose()


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqlConnector]:
    """The connector on SQLite: what every database must answer alike."""
    with _generated("sqlite", tmp_path_factory.mktemp("reference")) as (connector, _):
        yield connector


@pytest.fixture(
    scope="module",
    params=[
        "sqlite",
        pytest.param("postgresql", marks=pytest.mark.postgres),
        pytest.param("mariadb", marks=pytest.mark.mariadb),
    ],
)
def his(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[SqlConnector, sa.Engine]]:
    """(the connector under test, an engine on the same HIS for the ground truth)."""
    with _generated(request.param, tmp_path_factory.mktemp(request.param)) as pair:
        yield pair


# --- helpers ------------------------------------------------------------------------------------


def plain(value: Any) -> Any:
    """A database-neutral form of a value for comparing answers across databases."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in sorted(value.items())}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, bool):
        return value
    if isinstance(value, decimal.Decimal | float):
        return round(float(value), 6)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, bytes | memoryview):
        return hashlib.sha256(bytes(value)).hexdigest()
    return value


def hits(found: list[Hit]) -> list[Any]:
    return [(h.kind, plain(h.key), plain(h.record)) for h in found]


def query(resource_type: str, *pairs: tuple[str, str]) -> SearchQuery:
    return QueryParser(BASE, 50, 1000).parse(registry()[resource_type], pairs)


def everything(connector: HisConnector, q: SearchQuery, patients: Any = None) -> list[Hit]:
    return connector.search(q, patients, after=None, before=None, limit=10_000)


def _rows(engine: sa.Engine, stmt: Any) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(stmt).all())


@pytest.fixture(scope="module")
def facts(reference: SqlConnector) -> dict[str, Any]:
    """Who is who in the generated HIS (the same on every database: one seed)."""
    engine = reference.engine
    p, g, b, r = t.patient.c, t.guardian_link.c, t.lab_bulletin.c, t.lab_result.c
    busy = _rows(
        engine,
        sa.select(r.patient_id, sa.func.count().label("n"))
        .group_by(r.patient_id)
        .order_by(sa.desc("n"), r.patient_id)
        .limit(1),
    )[0].patient_id
    people = _rows(engine, sa.select(t.patient).order_by(p.id))
    guardian = _rows(engine, sa.select(g.guardian_id).order_by(g.id).limit(1))[0].guardian_id
    coded = _rows(
        engine,
        sa.select(p.national_id)
        .join(t.lab_bulletin, b.patient_id == p.id)
        .where(b.status == "validated", b.access_code.is_not(None))
        .order_by(b.id)
        .limit(1),
    )[0].national_id
    other = next(x.id for x in people if x.id != busy)
    return {"busy": busy, "other": other, "people": people, "guardian": guardian, "coded": coded}


def _plain_letters(text: str) -> str:
    """``Ștef`` -> ``Stef``: the letters without their diacritics (ł has no decomposition)."""
    decomposed = unicodedata.normalize("NFKD", text.replace("ł", "l").replace("Ł", "L"))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _queries(f: dict[str, Any]) -> dict[str, SearchQuery]:
    busy = f"Patient/{f['busy']}"
    diacritic = next(
        (x for x in f["people"] if any(c in x.family for c in "ĂăÂâÎîȘșȚțĄąĆćĘęŁłŃńÓóŚśŹźŻż")),
        f["people"][0],
    )
    someone = f["people"][3]
    return {
        "patients by birth date": query("Patient", ("_sort", "birthdate")),
        "patients by family name": query("Patient", ("family", someone.family)),
        "patients by name, lower case with diacritics": query(
            "Patient", ("name", diacritic.family[:4].lower())
        ),
        "patients by exact name": query("Patient", ("name:exact", someone.given)),
        "patients by exact name in another case": query(
            "Patient", ("name:exact", someone.given.swapcase())
        ),
        "patients by name without its diacritics": query(
            "Patient", ("name", _plain_letters(diacritic.family[:4]))
        ),
        "patient by national ID": query("Patient", ("identifier", someone.national_id)),
        "female patients born before 1980": query(
            "Patient", ("gender", "female"), ("birthdate", "lt1980")
        ),
        "observations of a patient": query("Observation", ("patient", busy)),
        "observations since 2024, newest first": query(
            "Observation", ("patient", busy), ("date", "ge2024-01-01"), ("_sort", "-date")
        ),
        "observations of one code": query("Observation", ("code", "GLU")),
        "observations of one code in lower case": query("Observation", ("code", "glu")),
        "reports of three kinds by date": query(
            "DiagnosticReport", ("patient", busy), ("_sort", "date")
        ),
        "all reports newest first": query("DiagnosticReport", ("_sort", "-date")),
        "encounters newest first": query("Encounter", ("patient", busy), ("_sort", "-date")),
        "documents": query("DocumentReference", ("patient", busy)),
        "imaging studies": query("ImagingStudy", ("_sort", "started")),
        "appointments": query("Appointment", ("patient", busy), ("_sort", "date")),
        "free slots of two days": query(
            "Slot",
            ("start", f"ge{TODAY.isoformat()}"),
            ("start", f"lt{(TODAY + dt.timedelta(days=2)).isoformat()}"),
            ("status", "free"),
            ("_sort", "start"),
        ),
        "guardians": query("RelatedPerson"),
        "questionnaires": query("Questionnaire"),
        "questionnaire responses": query("QuestionnaireResponse", ("_sort", "-authored")),
        "practitioners": query("Practitioner", ("active", "true")),
        "organisations": query("Organization"),
        "updated since": query("Observation", ("_lastUpdated", "ge2025-01-01")),
    }


QUERY_NAMES = [
    "patients by birth date",
    "patients by family name",
    "patients by name, lower case with diacritics",
    "patients by exact name",
    "patients by exact name in another case",
    "patients by name without its diacritics",
    "patient by national ID",
    "female patients born before 1980",
    "observations of a patient",
    "observations since 2024, newest first",
    "observations of one code",
    "observations of one code in lower case",
    "reports of three kinds by date",
    "all reports newest first",
    "encounters newest first",
    "documents",
    "imaging studies",
    "appointments",
    "free slots of two days",
    "guardians",
    "questionnaires",
    "questionnaire responses",
    "practitioners",
    "organisations",
    "updated since",
]


#: Queries the generated HIS answers with something (the others may rightly find nothing).
NON_EMPTY = {
    "patients by birth date",
    "patients by family name",
    "patients by name, lower case with diacritics",
    "patients by exact name",
    "patient by national ID",
    "observations of a patient",
    "observations of one code",
    "reports of three kinds by date",
    "encounters newest first",
    "free slots of two days",
    "guardians",
    "questionnaires",
    "practitioners",
    "organisations",
}


def test_the_query_list_is_complete(facts: dict[str, Any]) -> None:
    assert list(_queries(facts)) == QUERY_NAMES


# --- read and read_many -------------------------------------------------------------------------


def test_read_answers_the_record_within_the_patients_only(
    his: tuple[SqlConnector, sa.Engine], reference: SqlConnector, facts: dict[str, Any]
) -> None:
    connector, engine = his
    busy, other = facts["busy"], facts["other"]
    record = connector.read("Patient", "patient", busy, None)
    assert record is not None
    assert record["id"] == busy
    assert plain(record) == plain(reference.read("Patient", "patient", busy, None))
    assert plain(connector.read("Patient", "patient", busy, frozenset({busy, other}))) == (
        plain(record)
    )
    assert connector.read("Patient", "patient", busy, frozenset({other})) is None
    assert connector.read("Patient", "patient", busy, frozenset()) is None
    assert connector.read("Patient", "patient", 10_000_000, None) is None
    assert connector.read("Patient", "no-such-kind", busy, None) is None
    # every kind of every type, one record each
    for src in [s for rtype in _types(connector) for s in connector.sources(rtype)]:
        table = src.id_col.table
        first = _rows(engine, sa.select(src.id_col).select_from(table).order_by(src.id_col))
        if not first:
            continue
        his_id = int(first[0][0])
        got = connector.read(src.resource_type, src.kind, his_id, None)
        want = reference.read(src.resource_type, src.kind, his_id, None)
        assert got is not None, (src.resource_type, src.kind)
        assert plain(got) == plain(want), (src.resource_type, src.kind)


def _types(connector: SqlConnector) -> list[str]:
    return sorted(registry())


def test_read_many_leaves_out_the_missing_and_the_others(
    his: tuple[SqlConnector, sa.Engine], reference: SqlConnector, facts: dict[str, Any]
) -> None:
    connector, engine = his
    busy = facts["busy"]
    r = t.lab_result.c
    mine = [
        int(x.id)
        for x in _rows(engine, sa.select(r.id).where(r.patient_id == busy).order_by(r.id).limit(3))
    ]
    theirs = [
        int(x.id)
        for x in _rows(engine, sa.select(r.id).where(r.patient_id != busy).order_by(r.id).limit(2))
    ]
    wanted = [("lab_result", i) for i in [*mine, *theirs, 10_000_000]]
    found = connector.read_many("Observation", wanted, None)
    assert sorted(rec["id"] for _, rec in found) == sorted(mine + theirs)
    assert plain(sorted(found, key=lambda x: x[1]["id"])) == plain(
        sorted(reference.read_many("Observation", wanted, None), key=lambda x: x[1]["id"])
    )
    narrowed = connector.read_many("Observation", wanted, frozenset({busy}))
    assert sorted(rec["id"] for _, rec in narrowed) == mine
    assert connector.read_many("Observation", wanted, frozenset()) == []
    assert connector.read_many("Observation", [("no-such-kind", mine[0])], None) == []
    patients = connector.read_many(
        "Patient", [("patient", busy), ("patient", facts["other"])], None
    )
    assert sorted(rec["id"] for _, rec in patients) == sorted([busy, facts["other"]])


# --- search and count ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", QUERY_NAMES)
def test_search_pages_and_counts_alike_everywhere(
    his: tuple[SqlConnector, sa.Engine],
    reference: SqlConnector,
    facts: dict[str, Any],
    name: str,
) -> None:
    connector, _ = his
    q = _queries(facts)[name]
    full = everything(connector, q)
    assert hits(full) == hits(everything(reference, q)), name
    assert connector.count(q, None) == len(full)
    if name in NON_EMPTY:
        assert full, f"the generated HIS should have {name}"
    # forwards, three at a time, from each page's last key
    pages: list[Hit] = []
    after = None
    while True:
        page = connector.search(q, None, after=after, before=None, limit=3)
        pages.extend(page)
        if len(page) < 3:
            break
        after = page[-1].key
    assert hits(pages) == hits(full)
    # backwards from the end, three at a time, each page still in forward order
    back: list[Hit] = []
    if full:
        before = full[-1].key
        back = [full[-1]]
        while True:
            page = connector.search(q, None, after=None, before=before, limit=3)
            back[:0] = page
            if len(page) < 3:
                break
            before = page[0].key
    assert hits(back) == hits(full)


def test_search_and_count_narrow_to_the_patients(
    his: tuple[SqlConnector, sa.Engine], reference: SqlConnector, facts: dict[str, Any]
) -> None:
    connector, _ = his
    busy = facts["busy"]
    q = query("Observation", ("_sort", "-date"))
    mine = everything(connector, q, frozenset({busy}))
    assert mine
    assert {h.record["patient_id"] for h in mine} == {busy}
    assert hits(mine) == hits(everything(reference, q, frozenset({busy})))
    assert connector.count(q, frozenset({busy})) == len(mine)
    assert everything(connector, q, frozenset()) == []
    assert connector.count(q, frozenset()) == 0
    # types without a patient are not narrowed
    orgs = query("Organization")
    assert connector.count(orgs, frozenset({busy})) == connector.count(orgs, None) > 0


# --- ping ---------------------------------------------------------------------------------------


def test_ping_answers_and_a_dead_his_is_unreachable(
    his: tuple[SqlConnector, sa.Engine], tmp_path: Path
) -> None:
    connector, _ = his
    connector.ping()
    url = connector.engine.url
    if url.get_backend_name() == "sqlite":
        dead = f"sqlite:///{tmp_path / 'no-such-dir' / 'his.sqlite'}"
    else:
        dead = url.set(host="127.0.0.1", port=1).render_as_string(hide_password=False)
    gone = SqlConnector.from_url(dead, SYSTEMS, timeout_s=2)
    with pytest.raises(HisUnreachable):
        gone.ping()
    with pytest.raises(HisUnreachable):
        gone.find_patient("CNP", "1")
    gone.engine.dispose()


# --- what the authorization server needs --------------------------------------------------------


def test_find_patient_by_kind_and_national_id(
    his: tuple[SqlConnector, sa.Engine], reference: SqlConnector
) -> None:
    connector, engine = his
    people = _rows(engine, sa.select(t.patient).order_by(t.patient.c.id))
    assert len(people) == PATIENTS
    for person in people:
        found = connector.find_patient(person.national_id_kind, person.national_id)
        assert found is not None
        assert (found.id, found.given, found.family) == (person.id, person.given, person.family)
        assert found.name == f"{person.given} {person.family}"
        assert found.active is bool(person.active)
        assert found.deceased is (person.deceased_at is not None)
        assert found == reference.find_patient(person.national_id_kind, person.national_id)
        other_kind = "PESEL" if person.national_id_kind == "CNP" else "CNP"
        assert connector.find_patient(other_kind, person.national_id) is None
    assert connector.find_patient("CNP", "0000000000000") is None
    assert connector.find_patient("CNP", "") is None


def test_contacts_are_what_the_hospital_holds(
    his: tuple[SqlConnector, sa.Engine], reference: SqlConnector
) -> None:
    connector, engine = his
    people = _rows(engine, sa.select(t.patient).order_by(t.patient.c.id))
    assert any(p.email for p in people)
    assert any(p.email is None for p in people) or PATIENTS < 10
    for person in people:
        held = connector.contacts(person.id)
        language = {"RO": "ro", "MD": "ro", "PL": "pl"}.get(person.country or "")
        assert held == Contacts(
            email=person.email or None, mobile=person.phone or None, language=language
        )
        assert held == reference.contacts(person.id)
    assert connector.contacts(10_000_000) == Contacts()


def test_guardian_links_of_a_guardian(
    his: tuple[SqlConnector, sa.Engine], reference: SqlConnector, facts: dict[str, Any]
) -> None:
    connector, engine = his
    g = t.guardian_link.c
    rows = _rows(engine, sa.select(t.guardian_link).order_by(g.id))
    assert rows, "the generated HIS should have guardian links"
    for guardian in sorted({r.guardian_id for r in rows}):
        links = connector.guardian_links(guardian)
        expected = [r for r in rows if r.guardian_id == guardian]
        assert [(x.id, x.ward_id, x.relationship, x.valid_from, x.valid_to) for x in links] == [
            (r.id, r.ward_id, r.relationship, r.valid_from, r.valid_to) for r in expected
        ]
        assert all(x.guardian_id == guardian for x in links)
        assert links == reference.guardian_links(guardian)
        for link in links:
            assert link.current(link.valid_from)
            assert not link.current(link.valid_from - dt.timedelta(days=1))
            if link.valid_to is not None:
                assert not link.current(link.valid_to + dt.timedelta(days=1))
    wards = {r.ward_id for r in rows} - {r.guardian_id for r in rows}
    assert connector.guardian_links(min(wards)) == []


def test_coded_bulletins_are_the_validated_ones_with_a_code(
    his: tuple[SqlConnector, sa.Engine], reference: SqlConnector, facts: dict[str, Any]
) -> None:
    connector, engine = his
    b, p = t.lab_bulletin.c, t.patient.c
    for person in _rows(engine, sa.select(p.id, p.national_id).order_by(p.id)):
        expected = _rows(
            engine,
            sa.select(b.id, b.document_id, b.access_code)
            .where(b.patient_id == person.id, b.status == "validated")
            .where(b.access_code.is_not(None))
            .order_by(b.id),
        )
        found = connector.coded_bulletins(person.national_id)
        assert [(x.id, x.patient_id, x.document_id, x.access_code) for x in found] == [
            (r.id, person.id, r.document_id, r.access_code) for r in expected
        ]
        assert found == reference.coded_bulletins(person.national_id)
    assert connector.coded_bulletins(facts["coded"])
    assert connector.coded_bulletins("0000000000000") == []


# --- questionnaires (F18) -----------------------------------------------------------------------


#: Assignments the sweep tests add on every database alike (the small generated HIS may hold
#: none): sent out of id order, two at the same instant, one with microseconds.
SENT = {
    9001: dt.datetime(2026, 11, 20, 10, 0, 0),
    9002: dt.datetime(2026, 11, 19, 23, 59, 59, 250000),
    9003: dt.datetime(2026, 11, 20, 10, 0, 0),
    9004: dt.datetime(2026, 11, 21, 7, 30, 0),
    9005: dt.datetime(2026, 11, 18, 12, 0, 0),
}


@contextmanager
def _assigned(*engines: sa.Engine) -> Iterator[None]:
    qa = t.questionnaire_assignment
    for engine in engines:
        with engine.begin() as conn:
            patient = conn.execute(sa.select(sa.func.min(t.patient.c.id))).scalar_one()
            questionnaire = conn.execute(sa.select(sa.func.min(t.questionnaire.c.id))).scalar_one()
            for his_id, sent in SENT.items():
                conn.execute(
                    qa.insert().values(
                        id=his_id,
                        questionnaire_id=questionnaire,
                        patient_id=patient,
                        sent_at=sent,
                        status="sent",
                        updated_at=sent,
                        version=1,
                    )
                )
    try:
        yield
    finally:
        for engine in engines:
            with engine.begin() as conn:
                conn.execute(qa.delete().where(qa.c.id.in_(list(SENT))))


def test_assignments_after_lists_in_sent_order_from_the_cursor(
    his: tuple[SqlConnector, sa.Engine], reference: SqlConnector
) -> None:
    connector, engine = his
    with _assigned(engine, reference.engine):
        _assignments_in_order(connector, engine, reference)


def _assignments_in_order(
    connector: SqlConnector, engine: sa.Engine, reference: SqlConnector
) -> None:
    qa = t.questionnaire_assignment.c
    truth = [
        (r.sent_at, int(r.id), int(r.patient_id), int(r.questionnaire_id), r.status)
        for r in _rows(
            engine,
            sa.select(qa.sent_at, qa.id, qa.patient_id, qa.questionnaire_id, qa.status).order_by(
                qa.sent_at, qa.id
            ),
        )
    ]
    assert len(truth) >= 3
    walked, position = [], None
    while True:
        page = connector.assignments_after(position, 2)
        assert len(page) <= 2
        walked += page
        if len(page) < 2:
            break
        position = page[-1].position
    assert [(a.sent_at, a.id, a.patient_id, a.questionnaire_id, a.status) for a in walked] == truth
    middle = walked[len(walked) // 2]
    after = connector.assignments_after(middle.position, 10_000)
    assert [a.id for a in after] == [a.id for a in walked[len(walked) // 2 + 1 :]]
    assert [plain(a.position) for a in after] == [
        plain(a.position) for a in reference.assignments_after(middle.position, 10_000)
    ]
    assert connector.assignments_after(walked[-1].position, 10) == []


def _new_assignment(engine: sa.Engine, patient_id: int, status: str = "sent") -> int:
    qa = t.questionnaire_assignment
    sent = dt.datetime(2026, 11, 30, 8, 0, 0)
    with engine.begin() as conn:
        his_id = int(conn.execute(sa.select(sa.func.max(qa.c.id))).scalar_one() or 0) + 1
        questionnaire = conn.execute(sa.select(sa.func.min(t.questionnaire.c.id))).scalar_one()
        conn.execute(
            qa.insert().values(
                id=his_id,
                questionnaire_id=questionnaire,
                patient_id=patient_id,
                sent_at=sent,
                status=status,
                updated_at=sent,
                version=1,
            )
        )
    return his_id


def _drop_assignment(engine: sa.Engine, his_id: int) -> None:
    with engine.begin() as conn:
        conn.execute(
            t.questionnaire_assignment.delete().where(t.questionnaire_assignment.c.id == his_id)
        )


ANSWERS = {
    "q1": "a text with diacritics: șț ąę",
    "q2": [1, 2],
    "q3": {"url": "DocumentReference/doc-3", "content_type": "application/pdf"},
    "q4": True,
    "q5": 1.75,
}


def test_write_answers_saves_submits_and_closes(
    his: tuple[SqlConnector, sa.Engine], facts: dict[str, Any]
) -> None:
    connector, engine = his
    busy, other = facts["busy"], facts["other"]
    qa = t.questionnaire_assignment.c
    his_id = _new_assignment(engine, busy)
    try:
        assert connector.write_answers(his_id, other, 1, ANSWERS, submitted_at=None) == "missing"
        assert connector.write_answers(his_id, busy, 1, ANSWERS, submitted_at=None) == "saved"
        row = _rows(engine, sa.select(t.questionnaire_assignment).where(qa.id == his_id))[0]
        assert (row.status, row.version, row.submitted_at) == ("in-progress", 2, None)
        assert plain(row.answers) == plain(ANSWERS)
        assert row.updated_at > dt.datetime(2026, 11, 30, 8, 0, 0)
        # the version read is gone: a writer that read it changes nothing
        assert connector.write_answers(his_id, busy, 1, {}, submitted_at=None) == "stale"
        submitted = dt.datetime(2026, 12, 1, 9, 30, 15)
        assert connector.write_answers(his_id, busy, 2, ANSWERS, submitted_at=submitted) == (
            "saved"
        )
        row = _rows(engine, sa.select(t.questionnaire_assignment).where(qa.id == his_id))[0]
        assert (row.status, row.version, row.submitted_at) == ("submitted", 3, submitted)
        # closed for good, whatever version a writer names
        for version in (2, 3):
            assert connector.write_answers(his_id, busy, version, {}, submitted_at=None) == (
                "closed"
            )
        record = connector.read("QuestionnaireResponse", "questionnaire_assignment", his_id, None)
        assert record is not None
        assert plain(record["answers"]) == plain(ANSWERS)
        assert connector.write_answers(10_000_000, busy, 1, {}, submitted_at=None) == "missing"
    finally:
        _drop_assignment(engine, his_id)


def test_write_answers_racing_on_one_version_one_wins(
    his: tuple[SqlConnector, sa.Engine], facts: dict[str, Any]
) -> None:
    connector, engine = his
    busy = facts["busy"]
    his_id = _new_assignment(engine, busy, status="in-progress")
    barrier = threading.Barrier(4)

    def submit(n: int) -> str:
        barrier.wait(timeout=30)
        answers = {"q1": f"writer {n}"}
        return connector.write_answers(his_id, busy, 1, answers, submitted_at=dt.datetime.now())

    try:
        with ThreadPoolExecutor(4) as pool:
            results = sorted(pool.map(submit, range(4)))
        assert results.count("saved") == 1, results
        assert set(results) <= {"saved", "closed", "stale"}
        row = _rows(
            engine,
            sa.select(t.questionnaire_assignment).where(t.questionnaire_assignment.c.id == his_id),
        )[0]
        assert (row.status, row.version) == ("submitted", 2)
    finally:
        _drop_assignment(engine, his_id)


def test_an_uploaded_document_is_handed_once_changed_and_withdrawn(
    his: tuple[SqlConnector, sa.Engine],
) -> None:
    """The write method of patients' uploads (F17): one row per upload however often it is
    handed (a retry after a crash), its description changed, then withdrawn; the row stays."""
    connector, engine = his
    d = t.incoming_document.c
    patient = _rows(engine, sa.select(t.patient.c.id).order_by(t.patient.c.id))[0].id
    received = dt.datetime(2026, 11, 2, 9, 30, 15, 123456)
    document = IncomingDocument(
        upload_id=f"upload-{uuid.uuid4().hex}",
        patient_id=patient,
        type_code="external-lab-result",
        title="Hemoleucogramă.pdf",
        description="from another laboratory",
        author_reference=f"Patient/{patient}",
        content_type="application/pdf",
        size=1234,
        sha1="a" * 40,
        content_url="http://gateway.test/fhir/Binary/upload-" + "b" * 32,
        received_at=received,
    )
    connector.submit_patient_document(document)
    connector.submit_patient_document(document)  # a retried hand-off changes nothing
    rows = _rows(engine, sa.select(t.incoming_document).where(d.upload_id == document.upload_id))
    assert len(rows) == 1
    row = rows[0]
    assert (row.patient_id, row.type_code, row.title, row.description) == (
        patient,
        "external-lab-result",
        "Hemoleucogramă.pdf",
        "from another laboratory",
    )
    assert (row.content_type, row.size, row.sha1, row.author_reference) == (
        "application/pdf",
        1234,
        "a" * 40,
        f"Patient/{patient}",
    )
    assert row.received_at == received
    assert row.withdrawn_at is None
    assert row.version == 1
    connector.update_patient_document(document.upload_id, "a second opinion")
    (row,) = _rows(engine, sa.select(t.incoming_document).where(d.upload_id == document.upload_id))
    assert row.description == "a second opinion"
    assert row.version == 2
    withdrawn = dt.datetime(2026, 11, 3, 10, 0)
    connector.withdraw_patient_document(document.upload_id, withdrawn)
    connector.withdraw_patient_document(document.upload_id, withdrawn + dt.timedelta(hours=1))
    (row,) = _rows(engine, sa.select(t.incoming_document).where(d.upload_id == document.upload_id))
    assert row.withdrawn_at == withdrawn  # the first withdrawal stands
    connector.withdraw_patient_document("upload-" + "0" * 32, withdrawn)  # none: no error


# --- the change feed (notifications, F22) ------------------------------------------------------


def _feed(connector: HisConnector, source: str, page: int) -> list[Any]:
    out, after = [], None
    while True:
        changes = connector.changes(source, after, page)
        assert len(changes) <= page
        out.extend(changes)
        if len(changes) < page:
            return out
        after = changes[-1].position


def test_the_change_feed_reads_every_row_once_in_change_order(
    his: tuple[SqlConnector, sa.Engine], reference: SqlConnector
) -> None:
    connector, engine = his
    seen = 0
    for source in CHANGE_SOURCES:
        table = t.metadata.tables[source]
        truth = _rows(
            engine,
            sa.select(table.c.id, table.c.patient_id, table.c.status, table.c.version).order_by(
                table.c.updated_at, table.c.id
            ),
        )
        seen += len(truth)
        feed = _feed(connector, source, 7)
        assert [(c.id, c.patient_id, c.status, c.version) for c in feed] == [
            (r.id, r.patient_id, r.status, r.version) for r in truth
        ]
        assert all(c.source == source for c in feed)
        assert feed == _feed(reference, source, 7)
        # from the middle: strictly after the position, ties broken by id
        if feed:
            middle = feed[len(feed) // 2]
            assert connector.changes(source, middle.position, 1000) == feed[len(feed) // 2 + 1 :]
            assert connector.changes(source, feed[-1].position, 10) == []
    assert seen > 100
    with pytest.raises(ValueError, match="not a change source"):
        connector.changes("patient", None, 1)


def test_open_imaging_orders_and_appointments_about_to_start(
    his: tuple[SqlConnector, sa.Engine], reference: SqlConnector
) -> None:
    connector, engine = his
    o, a = t.imaging_order.c, t.appointment.c
    since = dt.datetime.combine(TODAY - dt.timedelta(days=400), dt.time())
    orders = connector.open_imaging_orders(since, 1000)
    assert [c.id for c in orders] == [
        r.id
        for r in _rows(
            engine,
            sa.select(o.id).where(o.ordered_at >= since, o.status != "cancelled").order_by(o.id),
        )
    ]
    assert orders
    assert all(c.detail["accession_number"] for c in orders)
    assert orders == reference.open_imaging_orders(since, 1000)
    start = dt.datetime.combine(TODAY - dt.timedelta(days=365), dt.time())
    end = dt.datetime.combine(TODAY + dt.timedelta(days=365), dt.time())
    upcoming = connector.appointments_starting(start, end, 1000)
    truth = _rows(
        engine,
        sa.select(a.id)
        .where(a.start_at >= start, a.start_at < end, a.status == "booked")
        .order_by(a.start_at, a.id),
    )
    assert [c.id for c in upcoming] == [r.id for r in truth]
    assert upcoming
    assert upcoming == reference.appointments_starting(start, end, 1000)
    assert all(isinstance(c.detail["start_at"], dt.datetime) for c in upcoming)


# --- writes: booking (F19) ----------------------------------------------------------------------
# These come last: they add slots and appointments to the HIS under test (never to the reference).

#: "Now" for the writes: the generated HIS's today, at noon (naive UTC, like every HIS time).
NOW = dt.datetime.combine(TODAY, dt.time(12, 0))


def _free_slots(engine: sa.Engine, count: int, *, days: int = 3, skip: int = 0) -> list[int]:
    """``count`` new free slots of one service, ``days`` after NOW."""
    sv = t.service.c
    with engine.begin() as conn:
        service = conn.execute(
            sa.select(t.service).where(sv.active.is_(True)).order_by(sv.id).offset(skip).limit(1)
        ).one()
        doctor = (
            conn.execute(
                sa.select(t.doctor.c.id).where(t.doctor.c.specialty_code == service.specialty_code)
            )
            .scalars()
            .first()
        )
        schedule = conn.execute(
            sa.insert(t.schedule).values(
                doctor_id=doctor,
                service_id=service.id,
                department_id=service.department_id,
                valid_from=TODAY,
                valid_to=TODAY + dt.timedelta(days=60),
                updated_at=NOW,
            )
        ).inserted_primary_key[0]
        first = NOW + dt.timedelta(days=days)
        return [
            int(
                conn.execute(
                    sa.insert(t.slot).values(
                        schedule_id=schedule,
                        start_at=first + dt.timedelta(minutes=20 * i),
                        end_at=first + dt.timedelta(minutes=20 * (i + 1)),
                        status="free",
                        telemedicine=bool(service.telemedicine),
                        updated_at=NOW,
                    )
                ).inserted_primary_key[0]
            )
            for i in range(count)
        ]


def _slot_status(engine: sa.Engine, slot: int) -> str:
    return str(_rows(engine, sa.select(t.slot.c.status).where(t.slot.c.id == slot))[0].status)


def _holders(engine: sa.Engine, slot: int) -> list[Any]:
    ap = t.appointment.c
    return _rows(engine, sa.select(t.appointment).where(ap.held_slot_id == slot))


def test_book_slot_takes_a_free_slot_once(his: tuple[SqlConnector, sa.Engine]) -> None:
    connector, engine = his
    slot, past = _free_slots(engine, 2)
    patients = [r.id for r in _rows(engine, sa.select(t.patient.c.id).order_by(t.patient.c.id))]
    new = connector.book_slot(slot, patients[0], at=NOW, video_url=None, comment="by the app")
    [row] = _rows(engine, sa.select(t.appointment).where(t.appointment.c.id == new))
    assert (row.patient_id, row.slot_id, row.held_slot_id, row.status) == (
        patients[0],
        slot,
        slot,
        "booked",
    )
    assert (row.comment, row.booked_at, row.updated_at, row.version) == ("by the app", NOW, NOW, 1)
    assert _slot_status(engine, slot) == "busy"
    with pytest.raises(SlotUnavailable):
        connector.book_slot(slot, patients[1], at=NOW)
    with pytest.raises(SlotUnavailable):  # begun (at its start)
        connector.book_slot(past, patients[1], at=NOW + dt.timedelta(days=3, minutes=20))
    with pytest.raises(SlotUnavailable):
        connector.book_slot(10_000_000, patients[1], at=NOW)
    assert [h.id for h in _holders(engine, slot)] == [new]
    assert _holders(engine, past) == []
    # the record reads back as every other appointment does
    record = connector.read("Appointment", "appointment", new, frozenset({patients[0]}))
    assert record is not None
    assert record["slot_id"] == slot


def test_book_slot_racing_threads_get_one_booking(his: tuple[SqlConnector, sa.Engine]) -> None:
    """Eight connections race for one slot, five times over: one booking each time."""
    import threading

    connector, engine = his
    patients = [r.id for r in _rows(engine, sa.select(t.patient.c.id).order_by(t.patient.c.id))]
    for slot in _free_slots(engine, 5, days=4):
        barrier = threading.Barrier(8)
        won: list[int] = []
        lost: list[int] = []

        def race(
            i: int,
            slot: int = slot,
            barrier: threading.Barrier = barrier,
            won: list[int] = won,
            lost: list[int] = lost,
        ) -> None:
            barrier.wait()
            try:
                won.append(connector.book_slot(slot, patients[i % len(patients)], at=NOW))
            except SlotUnavailable:
                lost.append(i)

        threads = [threading.Thread(target=race, args=(i,)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert (len(won), len(lost)) == (1, 7)
        assert [h.id for h in _holders(engine, slot)] == won


def test_change_appointment_cancels_and_moves_within_the_rules(
    his: tuple[SqlConnector, sa.Engine],
) -> None:
    connector, engine = his
    first, second, third, fourth = _free_slots(engine, 4, days=5)
    other_service = _free_slots(engine, 1, days=5, skip=1)[0]
    patient, stranger = (
        r.id for r in _rows(engine, sa.select(t.patient.c.id).order_by(t.patient.c.id).limit(2))
    )
    booked = connector.book_slot(first, patient, at=NOW)

    def change(**kwargs: Any) -> None:
        values = {"appointment_id": booked, "patient_id": patient, "at": NOW, "not_before": NOW}
        connector.change_appointment(AppointmentChange(**{**values, **kwargs}))

    # another patient's appointment is unknown to them
    with pytest.raises(AppointmentUnchangeable, match="unknown"):
        change(patient_id=stranger, cancel=True)
    # too late: within the window before the start
    with pytest.raises(AppointmentUnchangeable, match="too-late"):
        change(cancel=True, not_before=NOW + dt.timedelta(days=6))
    # moved: the new slot taken, the old one free again
    change(new_slot_id=second)
    assert (_slot_status(engine, first), _slot_status(engine, second)) == ("free", "busy")
    [row] = _rows(engine, sa.select(t.appointment).where(t.appointment.c.id == booked))
    assert (row.slot_id, row.held_slot_id, row.status, row.version) == (second, second, "booked", 2)
    # a slot that is not free, or of another service: nothing changes
    connector.book_slot(third, stranger, at=NOW)
    with pytest.raises(SlotUnavailable):
        change(new_slot_id=third)
    with pytest.raises(AppointmentUnchangeable, match="other-service"):
        change(new_slot_id=other_service)
    assert _slot_status(engine, other_service) == "free"
    assert [h.id for h in _holders(engine, second)] == [booked]
    # cancelled: the slot free, nothing held; a cancelled appointment stays cancelled
    change(cancel=True, comment="cannot come")
    [row] = _rows(engine, sa.select(t.appointment).where(t.appointment.c.id == booked))
    assert (row.status, row.held_slot_id, row.comment) == ("cancelled", None, "cannot come")
    assert _slot_status(engine, second) == "free"
    with pytest.raises(AppointmentUnchangeable, match="status"):
        change(cancel=True)
    with pytest.raises(AppointmentUnchangeable, match="status"):
        change(new_slot_id=fourth)
    assert _slot_status(engine, fourth) == "free"
