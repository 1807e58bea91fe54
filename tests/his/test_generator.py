"""The synthetic HIS generator: determinism, identifiers, families, care, lab, documents, bookings.

Runs on real SQLite files; the PostgreSQL case (marked ``postgres``) loads the same hospital into
a schema of its own and is skipped, with the reason, when no PostgreSQL answers.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import os
import re
import sqlite3
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from stdnum.pl import pesel
from stdnum.ro import cnp

from demo.generator import GenerationSummary, HisNotEmptyError, generate, images_in_pacs
from demo.names import family_stem
from demo.synth.lab import flag
from fhir_gateway.his import schema

TODAY = dt.date(2026, 8, 3)
NOW = dt.datetime(2026, 8, 3)
PATIENTS = 30
DOCUMENT_PATIENTS = 10
PG_URL = os.environ.get("TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _build(path: Path) -> GenerationSummary:
    engine = sa.create_engine(f"sqlite:///{path}")
    try:
        return generate(
            engine, patients=PATIENTS, seed=7, today=TODAY, max_document_patients=DOCUMENT_PATIENTS
        )
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, GenerationSummary]:
    path = tmp_path_factory.mktemp("his") / "his.sqlite"
    return path, _build(path)


@pytest.fixture(scope="module")
def his(built: tuple[Path, GenerationSummary]) -> Iterator[sa.Engine]:
    engine = sa.create_engine(f"sqlite:///{built[0]}")
    yield engine
    engine.dispose()


def rows(engine: sa.Engine, table: sa.Table) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(table).order_by(*table.primary_key.columns)))


def dump(path: Path) -> list[str]:
    """The database as SQL text: equal dumps mean byte-identical data."""
    with sqlite3.connect(path) as conn:
        return list(conn.iterdump())


# --- determinism -------------------------------------------------------------------------------


def test_same_seed_gives_identical_databases(
    built: tuple[Path, GenerationSummary], tmp_path: Path
) -> None:
    _build(tmp_path / "again.sqlite")
    assert dump(tmp_path / "again.sqlite") == dump(built[0])


def test_pdf_workers_render_the_same_bytes(
    built: tuple[Path, GenerationSummary], tmp_path: Path
) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'pool.sqlite'}")
    generate(
        engine, patients=PATIENTS, seed=7, today=TODAY,
        max_document_patients=DOCUMENT_PATIENTS, pdf_workers=2, batch_size=7,
    )  # fmt: skip
    engine.dispose()
    assert dump(tmp_path / "pool.sqlite") == dump(built[0])


def test_another_seed_gives_other_data(his: sa.Engine, tmp_path: Path) -> None:
    other = sa.create_engine(f"sqlite:///{tmp_path / 'other.sqlite'}")
    generate(other, patients=PATIENTS, seed=8, today=TODAY, max_document_patients=0)
    assert [r.national_id for r in rows(other, schema.patient)] != [
        r.national_id for r in rows(his, schema.patient)
    ]
    other.dispose()


def test_documents_limit_changes_nothing_but_documents(his: sa.Engine, tmp_path: Path) -> None:
    bare = sa.create_engine(f"sqlite:///{tmp_path / 'bare.sqlite'}")
    summary = generate(bare, patients=PATIENTS, seed=7, today=TODAY, max_document_patients=0)
    assert summary.document == summary.document_file == 0
    for table in (
        schema.patient,
        schema.episode,
        schema.lab_result,
        schema.appointment,
        schema.slot,
    ):
        assert rows(bare, table) == rows(his, table), table.name
    assert _without_documents(rows(bare, schema.lab_bulletin)) == _without_documents(
        rows(his, schema.lab_bulletin)
    )
    bare.dispose()


def _without_documents(bulletins: list[Any]) -> list[dict[str, Any]]:
    return [{**b._mapping, "document_id": None} for b in bulletins]


def test_a_patient_does_not_depend_on_how_many_follow(his: sa.Engine, tmp_path: Path) -> None:
    few = sa.create_engine(f"sqlite:///{tmp_path / 'few.sqlite'}")
    generate(few, patients=12, seed=7, today=TODAY, max_document_patients=0)
    first = [p for p in rows(his, schema.patient) if p.id <= 10]
    assert [p for p in rows(few, schema.patient) if p.id <= 10] == first
    assert [e for e in rows(few, schema.episode) if e.patient_id <= 10] == [
        e for e in rows(his, schema.episode) if e.patient_id <= 10
    ]
    few.dispose()


def test_summary_counts_every_table(his: sa.Engine, built: tuple[Path, GenerationSummary]) -> None:
    summary = built[1]
    with his.connect() as conn:
        for name, count in summary.counts().items():
            assert (
                conn.scalar(sa.select(sa.func.count()).select_from(schema.metadata.tables[name]))
                == count
            )
    assert summary.patient == PATIENTS
    assert summary.lab_result >= 30 * PATIENTS
    assert 12 <= summary.department <= 15
    assert summary.specialty >= 15
    assert summary.doctor >= 40


def test_a_filled_his_is_refused(his: sa.Engine) -> None:
    with pytest.raises(HisNotEmptyError):
        generate(his, patients=1, seed=7, today=TODAY)


def test_unknown_locale_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="locales"):
        generate(
            sa.create_engine(f"sqlite:///{tmp_path / 'x.sqlite'}"),
            patients=1,
            seed=1,
            today=TODAY,
            locale_mix=("de",),
        )


# --- patients and families ---------------------------------------------------------------------


def test_national_ids_are_valid_unique_and_match_birth_and_sex(his: sa.Engine) -> None:
    patients = rows(his, schema.patient)
    assert {p.national_id_kind for p in patients} == {"CNP", "PESEL"}
    for p in patients:
        if p.national_id_kind == "CNP":
            assert cnp.validate(p.national_id)
            assert cnp.get_birth_date(p.national_id) == p.birth_date
            assert int(p.national_id[0]) % 2 == (1 if p.gender == "M" else 0)
        else:
            assert pesel.validate(p.national_id)
            assert pesel.get_birth_date(p.national_id) == p.birth_date
            assert pesel.get_gender(p.national_id) == p.gender
    assert len({p.national_id for p in patients}) == len({p.mrn for p in patients}) == len(patients)


def test_romanian_and_polish_names_keep_their_diacritics(his: sa.Engine) -> None:
    text = " ".join(f"{p.given} {p.family} {p.city}" for p in rows(his, schema.patient))
    assert re.search("[ăâîșț]", text)
    assert re.search("[ąćęłńóśźż]", text)


def test_guardians_are_adults_of_the_same_family_linked_to_minors(his: sa.Engine) -> None:
    patients = {p.id: p for p in rows(his, schema.patient)}
    links = rows(his, schema.guardian_link)
    assert links
    for link in links:
        guardian, ward = patients[link.guardian_id], patients[link.ward_id]
        assert ward.birth_date > TODAY.replace(year=TODAY.year - 18)
        assert guardian.birth_date <= ward.birth_date.replace(year=ward.birth_date.year - 18)
        assert family_stem(guardian.family) == family_stem(ward.family)
        assert link.relationship == ("MTH" if guardian.gender == "F" else "FTH")


def test_nothing_happens_to_the_dead_after_death(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'many.sqlite'}")
    generate(engine, patients=600, seed=3, today=TODAY, max_document_patients=0)
    died = {p.id: p.deceased_at for p in rows(engine, schema.patient) if p.deceased_at}
    assert died
    for table, column in (
        (schema.episode, "started_at"), (schema.lab_bulletin, "collected_at"),
        (schema.imaging_order, "ordered_at"), (schema.appointment, "start_at"),
    ):  # fmt: skip
        for row in rows(engine, table):
            if row.patient_id in died:
                assert row._mapping[column] <= died[row.patient_id], table.name
    engine.dispose()


# --- episodes, lab, imaging --------------------------------------------------------------------


def test_episodes_follow_the_clock_and_consultations_sit_inside_their_admission(
    his: sa.Engine,
) -> None:
    episodes = {e.id: e for e in rows(his, schema.episode)}
    assert {e.kind for e in episodes.values()} >= {"AMB", "HOSP", "CONS"}
    for e in episodes.values():
        assert re.fullmatch(rf"{e.kind}-{e.started_at.year}-\d{{6}}", e.number)
        assert e.started_at == e.started_at.replace(second=0, microsecond=0)
        if e.status == "closed":
            assert e.started_at <= e.ended_at <= NOW
        elif e.status == "planned":
            assert e.started_at > NOW
            assert e.ended_at is None
        elif e.status == "open":
            assert e.started_at < NOW
            assert e.ended_at is None
        if e.kind == "CONS":
            parent = episodes[e.parent_id]
            assert parent.kind == "HOSP"
            assert parent.patient_id == e.patient_id
            assert parent.started_at <= e.started_at <= (parent.ended_at or NOW)
            assert e.ended_at <= (parent.ended_at or NOW)
        else:
            assert e.parent_id is None


def test_lab_flags_agree_with_reference_ranges(his: sa.Engine) -> None:
    results = rows(his, schema.lab_result)
    for r in results:
        if r.value_num is None:
            assert r.value_text
            assert r.flag in ("N", "A")
        else:
            assert r.flag == flag(r.value_num, r.ref_low, r.ref_high)
    per_bulletin = Counter(r.bulletin_id for r in results)
    bulletins = rows(his, schema.lab_bulletin)
    for b in bulletins:
        assert b.number.startswith("LR_")
        if b.status == "validated":
            assert 5 <= per_bulletin[b.id] <= 25
            assert re.fullmatch(r"\d{6}", b.access_code)
            assert b.collected_at < b.validated_at <= NOW


def test_analytes_follow_personal_trends(his: sa.Engine) -> None:
    """Successive values of one analyte of one patient move less than values across patients."""
    series: dict[tuple[int, str], list[float]] = {}
    for r in rows(his, schema.lab_result):
        if r.analyte_code == "GLU":
            series.setdefault((r.patient_id, r.analyte_code), []).append(r.value_num)
    steps = [abs(b - a) for values in series.values() for a, b in itertools.pairwise(values)]
    firsts = sorted(values[0] for values in series.values())
    assert steps
    assert sum(steps) / len(steps) < (firsts[-1] - firsts[0]) / 2


def test_imaging_orders_have_studies_once_performed(his: sa.Engine) -> None:
    orders = rows(his, schema.imaging_order)
    assert len({o.accession_number for o in orders}) == len(orders)
    for o in orders:
        assert len(o.accession_number) <= 16
        if o.status in ("performed", "reported"):
            assert o.study_uid
            assert len(o.study_uid) <= 64
            assert re.fullmatch(r"2\.25\.[1-9]\d*", o.study_uid)
            assert o.performed_at <= NOW
        else:
            assert o.study_uid is None
            assert not images_in_pacs(o._mapping)
        if o.status == "reported":
            assert o.radiologist_id
            assert o.report_text
            assert o.report_conclusion
            assert o.reported_at <= NOW
        if o.status == "performed":
            assert images_in_pacs(o._mapping)
            assert o.report_text is None


# --- documents ---------------------------------------------------------------------------------


def test_every_document_has_its_pdf(his: sa.Engine) -> None:
    documents = {d.id: d for d in rows(his, schema.document)}
    files = {f.document_id: f.content for f in rows(his, schema.document_file)}
    assert set(files) == set(documents)
    assert {d.kind for d in documents.values()} >= {"DISCHARGE", "LAB_REPORT", "PRESCRIPTION"}
    for document_id, content in files.items():
        assert content.startswith(b"%PDF")
        assert documents[document_id].size == len(content)
        assert (
            documents[document_id].sha1 == hashlib.sha1(content, usedforsecurity=False).hexdigest()
        )
    assert {d.patient_id for d in documents.values()} <= set(range(1, DOCUMENT_PATIENTS + 1))


def test_documents_referenced_by_results_exist(his: sa.Engine) -> None:
    documents = {d.id: d for d in rows(his, schema.document)}
    for b in rows(his, schema.lab_bulletin):
        wanted = b.status == "validated" and b.patient_id <= DOCUMENT_PATIENTS
        assert (b.document_id is not None) == wanted
        if b.document_id:
            assert documents[b.document_id].kind == "LAB_REPORT"
            assert documents[b.document_id].patient_id == b.patient_id
    for t in rows(his, schema.paraclinical_test):
        if t.document_id:
            assert documents[t.document_id].kind == "PARACLINICAL"
    for o in rows(his, schema.imaging_order):
        if o.report_document_id:
            assert documents[o.report_document_id].kind == "IMAGING_REPORT"


# --- bookings, questionnaires, audit columns ---------------------------------------------------


def test_booked_appointments_hold_busy_slots_of_their_own(his: sa.Engine) -> None:
    slots = {s.id: s for s in rows(his, schema.slot)}
    appointments = rows(his, schema.appointment)
    held = [a.slot_id for a in appointments if a.slot_id is not None]
    assert held
    assert len(held) == len(set(held))
    for a in appointments:
        if a.status == "booked":
            assert a.slot_id is not None
            assert a.start_at > NOW
        if a.slot_id is not None:
            slot = slots[a.slot_id]
            assert slot.status == "busy"
            assert (slot.start_at, slot.end_at) == (a.start_at, a.end_at)
            assert a.telemedicine == slot.telemedicine
        if a.telemedicine and a.status == "booked":
            assert a.video_url.startswith("https://video.hospital.example/room/")
        assert a.booked_at <= NOW


def test_questionnaires_and_their_answers(his: sa.Engine) -> None:
    items = {q.id: q.items for q in rows(his, schema.questionnaire)}
    types = {
        "string",
        "text",
        "boolean",
        "integer",
        "decimal",
        "date",
        "choice",
        "attachment",
        "display",
    }
    for questionnaire_items in items.values():
        for item in questionnaire_items:
            assert item["type"] in types
            assert isinstance(item["required"], bool)
            assert bool(item.get("options")) == (item["type"] == "choice")
    for a in rows(his, schema.questionnaire_assignment):
        links = {item["link_id"] for item in items[a.questionnaire_id]}
        if a.status == "sent":
            assert a.answers is None
            assert a.submitted_at is None
        else:
            assert a.answers
            assert set(a.answers) <= links
        assert (a.submitted_at is not None) == (a.status == "submitted")


def test_audit_columns_are_in_the_past(his: sa.Engine) -> None:
    for table in schema.metadata.sorted_tables:
        if "updated_at" in table.c:
            for row in rows(his, table):
                assert row.updated_at <= NOW, table.name
                assert row.version in (1, 2), table.name


# --- PostgreSQL ---------------------------------------------------------------------------------


@pytest.fixture
def pg_engine() -> Iterator[sa.Engine]:
    name = f"his_generator_{uuid.uuid4().hex[:8]}"
    try:
        admin = sa.create_engine(PG_URL, connect_args={"connect_timeout": 3})
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{name}"'))
    except sa.exc.OperationalError as exc:
        pytest.skip(f"PostgreSQL at {PG_URL} is not reachable ({type(exc.orig).__name__})")
    engine = sa.create_engine(PG_URL, connect_args={"options": f"-csearch_path={name}"})
    yield engine
    engine.dispose()
    with admin.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{name}" CASCADE'))
    admin.dispose()


@pytest.mark.postgres
def test_postgresql_gets_the_same_rows_and_usable_sequences(
    pg_engine: sa.Engine, his: sa.Engine
) -> None:
    generate(
        pg_engine, patients=PATIENTS, seed=7, today=TODAY, max_document_patients=DOCUMENT_PATIENTS
    )
    for table in schema.metadata.sorted_tables:
        assert rows(pg_engine, table) == rows(his, table), table.name
    with pg_engine.connect() as conn:
        new_id = conn.execute(
            schema.guardian_link.insert().returning(schema.guardian_link.c.id),
            {
                "guardian_id": 1,
                "ward_id": 2,
                "relationship": "GUARD",
                "valid_from": TODAY,
                "updated_at": NOW,
            },
        ).scalar_one()
        assert new_id == len(rows(his, schema.guardian_link)) + 1
        conn.rollback()
