"""The HisConnector contract, on every database the default connector supports.

Every method of the protocol (read, read_many, search, count, ping, the change feed and what
the authorization server needs: find_patient, contacts, guardian_links, coded_bulletins) runs
against ``SqlConnector`` over the same small generated HIS on SQLite, PostgreSQL and MariaDB. Each
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
import unicodedata
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from demo.generator import generate
from fhir_gateway.fhir.query import QueryParser, SearchQuery
from fhir_gateway.fhir.registry import registry
from fhir_gateway.his import schema as t
from fhir_gateway.his.connector import CHANGE_SOURCES, Contacts, HisConnector, HisUnreachable, Hit
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
        assert held == Contacts(email=person.email or None, mobile=person.phone or None)
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
