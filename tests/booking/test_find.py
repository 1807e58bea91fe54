"""Appointment/$find (IHE ITI-115): proposed Appointments from free slots, filtered by
specialty (every coding: local and SNOMED CT), service, practitioner, location, date range
and in person or by video; plain Slot and Schedule searches keep working, and now find a slot
by the SNOMED CT specialty code it carries.

Ground truth: the HIS's own tables (free slots not yet begun, joined to their schedules).
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from fhir_gateway.his import schema as t
from gateway.app import create_app
from mappers.codes import SPECIALTY_SNOMED
from tests.booking.his import add_slots, book_body, patients, service_row, utcnow
from tests.conftest import app_config

LOCAL = "https://his.hospital.example/fhir/CodeSystem"


@pytest.fixture(scope="module")
def app(booking_his: str) -> Flask:
    return create_app(app_config(booking_his, booking_find_max=500))


@pytest.fixture(scope="module")
def planted(booking_his: str) -> dict[str, list[int]]:
    """Slots of the module's own: in person, by video, beyond a week, and one busy."""
    base = utcnow() + dt.timedelta(days=1)
    return {
        "person": add_slots(booking_his, 4, first=base.replace(hour=7, minute=0)),
        "video": add_slots(booking_his, 3, telemedicine=True, first=base.replace(hour=9)),
        "later": add_slots(booking_his, 2, first=base + dt.timedelta(days=20)),
        "busy": add_slots(booking_his, 1, status="busy", first=base.replace(hour=12)),
    }


@pytest.fixture
def http(app: Flask) -> FlaskClient:
    return app.test_client()


#: The most proposals a $find answers here (``booking_find_max``); the HIS has more.
CAP = 500


def truth(url: str, **where: Any) -> list[int]:
    """Ids of the free, not yet begun slots of the HIS matching ``where``, earliest first (at
    most ``CAP``: what one $find answers)."""
    sl, sc, sv = t.slot, t.schedule, t.service
    stmt = (
        sa.select(sl.c.id)
        .join(sc, sc.c.id == sl.c.schedule_id)
        .join(sv, sv.c.id == sc.c.service_id)
        .where(sl.c.status == "free", sl.c.start_at > utcnow())
        .order_by(sl.c.start_at, sl.c.id)
    )
    columns = {
        "specialty": sv.c.specialty_code,
        "service": sv.c.code,
        "doctor": sc.c.doctor_id,
        "department": sc.c.department_id,
        "service_id": sc.c.service_id,
        "video": sl.c.telemedicine,
    }
    for key, value in where.items():
        if key == "before":
            stmt = stmt.where(sl.c.start_at < value)
        elif key == "after":
            stmt = stmt.where(sl.c.start_at >= value)
        else:
            stmt = stmt.where(columns[key] == value)
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        ids = [int(i) for i in conn.execute(stmt.limit(CAP)).scalars()]
    engine.dispose()
    return ids


def proposed(http: FlaskClient, query: str) -> list[int]:
    answer = http.get(f"/fhir/Appointment/$find?_count=500&{query}")
    assert answer.status_code == 200, answer.get_data(as_text=True)[:400]
    bundle = answer.get_json()
    assert bundle["type"] == "searchset"
    out = []
    for entry in bundle.get("entry", []):
        resource = entry["resource"]
        assert resource["resourceType"] == "Appointment"
        assert resource["status"] == "proposed"
        assert "id" not in resource  # a proposal, not a stored appointment
        assert not any(
            p["actor"]["reference"].startswith("Patient/") for p in resource["participant"]
        )
        out.append(int(resource["slot"][0]["reference"].removeprefix("Slot/")))
    return out


def doctor_of(url: str, planted: dict[str, list[int]], kind: str = "person") -> int:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        doctor = conn.execute(
            sa.select(t.schedule.c.doctor_id)
            .join(t.slot, t.slot.c.schedule_id == t.schedule.c.id)
            .where(t.slot.c.id == planted[kind][0])
        ).scalar_one()
    engine.dispose()
    return int(doctor)


def far(days: int = 2) -> str:
    return (utcnow() + dt.timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_find_proposes_every_free_future_slot_in_the_range(
    http: FlaskClient, booking_his: str, planted: dict[str, list[int]]
) -> None:
    everything = proposed(http, f"end={far(90)}")
    assert everything == truth(booking_his, before=utcnow() + dt.timedelta(days=90))
    assert len(everything) == CAP
    mine = proposed(http, f"end={far(90)}&practitioner={doctor_of(booking_his, planted)}")
    assert set(planted["person"] + planted["later"]) <= set(mine)
    assert planted["busy"][0] not in mine
    # the default range: booking_find_days (30) from now
    default = proposed(http, "")
    assert default == truth(booking_his, before=utcnow() + dt.timedelta(days=30))


def test_find_by_date_range(
    http: FlaskClient, booking_his: str, planted: dict[str, list[int]]
) -> None:
    start = utcnow() + dt.timedelta(days=10)
    end = utcnow() + dt.timedelta(days=40)
    query = f"start={start:%Y-%m-%dT%H:%M:%SZ}&end={end:%Y-%m-%dT%H:%M:%SZ}"
    found = proposed(http, query)
    assert found == truth(booking_his, after=start, before=end)
    doctor = doctor_of(booking_his, planted)
    mine = proposed(http, f"{query}&practitioner={doctor}")
    assert mine == truth(booking_his, after=start, before=end, doctor=doctor)
    assert set(planted["later"]) <= set(mine)
    assert not set(planted["person"]) & set(mine)
    # a start in the past proposes nothing that has begun
    assert proposed(http, f"start=2020-01-01&end={far()}") == proposed(http, f"end={far()}")
    assert proposed(http, f"start={far(5)}&end={far(4)}") == []


def test_find_by_specialty_matches_the_local_and_the_snomed_coding(
    http: FlaskClient, booking_his: str, planted: dict[str, list[int]]
) -> None:
    service = service_row(sa.create_engine(booking_his), telemedicine=False)
    code = service.specialty_code
    sct = SPECIALTY_SNOMED[code][0]
    end = utcnow() + dt.timedelta(days=2)
    expected = truth(booking_his, specialty=code, before=end)
    assert expected
    assert set(planted["person"]) <= set(expected)
    window = f"end={end:%Y-%m-%dT%H:%M:%SZ}"
    assert proposed(http, f"{window}&specialty={code}") == expected
    assert proposed(http, f"{window}&specialty={LOCAL}/specialty|{code}") == expected
    assert proposed(http, f"{window}&specialty=http://snomed.info/sct|{sct}") == expected
    assert proposed(http, f"{window}&specialty={sct}") == expected
    assert proposed(http, f"{window}&specialty=http://snomed.info/sct|{code}") == []


def test_find_by_service_practitioner_location_and_visit_type(
    http: FlaskClient, booking_his: str, planted: dict[str, list[int]]
) -> None:
    until = utcnow() + dt.timedelta(days=2)
    service = service_row(sa.create_engine(booking_his), telemedicine=True)
    by_service = proposed(http, f"end={far()}&service-type={service.code}")
    assert by_service == truth(booking_his, service=service.code, before=until)
    assert set(planted["video"]) <= set(by_service)
    assert proposed(
        http, f"end={far()}&healthcare-service=HealthcareService/{service.id}"
    ) == truth(booking_his, service_id=service.id, before=until)
    engine = sa.create_engine(booking_his)
    with engine.connect() as conn:
        schedule = conn.execute(
            sa.select(t.schedule.c.doctor_id, t.schedule.c.department_id)
            .join(t.slot, t.slot.c.schedule_id == t.schedule.c.id)
            .where(t.slot.c.id == planted["person"][0])
        ).one()
    engine.dispose()
    by_doctor = proposed(http, f"end={far()}&practitioner=Practitioner/{schedule.doctor_id}")
    assert by_doctor == truth(booking_his, doctor=schedule.doctor_id, before=until)
    assert set(planted["person"]) <= set(by_doctor)
    by_place = proposed(http, f"end={far()}&location=Location/{schedule.department_id}")
    assert by_place == truth(booking_his, department=schedule.department_id, before=until)
    video = proposed(http, f"end={far()}&visit-type=VR")
    assert video == truth(booking_his, video=True, before=until)
    assert set(planted["video"]) <= set(video)
    assert not set(planted["person"]) & set(video)
    in_person = proposed(
        http, f"end={far()}&visit-type=http://terminology.hl7.org/CodeSystem/v2-0276|ROUTINE"
    )
    assert in_person == truth(booking_his, video=False, before=until)
    both = proposed(http, f"end={far()}&visit-type=VR&practitioner={schedule.doctor_id}")
    assert both == truth(booking_his, video=True, doctor=schedule.doctor_id, before=until)


def test_a_booked_slot_is_no_longer_proposed(
    http: FlaskClient, booking_his: str, planted: dict[str, list[int]]
) -> None:
    slot = add_slots(booking_his, 1, first=utcnow() + dt.timedelta(days=3, hours=1))[0]
    window = f"start={far(3)}&end={far(4)}"
    assert slot in proposed(http, window)
    patient = patients(booking_his, 1)[0]
    answer = http.post("/fhir/Appointment/$book", json=book_body(slot, patient))
    assert answer.status_code == 200
    assert slot not in proposed(http, window)


def test_find_takes_parameters_by_post_and_pages_with_count(
    http: FlaskClient, booking_his: str, planted: dict[str, list[int]]
) -> None:
    doctor = doctor_of(booking_his, planted, "video")
    answer = http.post(
        "/fhir/Appointment/$find",
        json={
            "resourceType": "Parameters",
            "parameter": [
                {"name": "end", "valueDateTime": far()},
                {"name": "visit-type", "valueString": "VR"},
                {"name": "practitioner", "valueReference": {"reference": f"Practitioner/{doctor}"}},
                {"name": "_count", "valueInteger": 2},
            ],
        },
    )
    assert answer.status_code == 200, answer.get_data(as_text=True)[:300]
    slots = [e["resource"]["slot"][0]["reference"] for e in answer.get_json()["entry"]]
    until = utcnow() + dt.timedelta(days=2)
    expected = truth(booking_his, video=True, doctor=doctor, before=until)[:2]
    assert len(expected) == 2
    assert slots == [f"Slot/{i}" for i in expected]


def test_find_pages_with_signed_next_links(
    http: FlaskClient, booking_his: str, planted: dict[str, list[int]]
) -> None:
    """``_count`` pages and a ``next`` link walks on, as FHIR searches page: every free slot of
    the window once, in order; a link replayed with other parameters is refused."""
    end = far(3)
    expected = truth(booking_his, before=utcnow() + dt.timedelta(days=3))
    assert 5 < len(expected) < CAP
    seen: list[int] = []
    nexts: list[str] = []
    path: str | None = f"/fhir/Appointment/$find?_count=4&end={end}"
    while path is not None:
        answer = http.get(path)
        assert answer.status_code == 200, answer.get_data(as_text=True)[:300]
        bundle = answer.get_json()
        links = {link["relation"]: link["url"] for link in bundle["link"]}
        assert urlsplit(links["self"]).path == "/fhir/Appointment/$find"
        page = [int(e["resource"]["slot"][0]["reference"][5:]) for e in bundle["entry"]]
        assert 0 < len(page) <= 4
        seen += page
        path = None
        if "next" in links:
            assert "total" not in bundle  # a page does not know the number of matches
            parts = urlsplit(links["next"])
            path = f"{parts.path}?{parts.query}"
            nexts.append(path)
    assert seen == expected  # the whole window, each slot once, in order
    assert len(nexts) == -(-len(expected) // 4) - 1
    # the cursor is signed over the parameters: it does not page another search
    token = parse_qs(urlsplit(nexts[0]).query)["_cursor"][0]
    other = http.get(f"/fhir/Appointment/$find?_count=4&end={far(4)}&_cursor={token}")
    assert other.status_code == 400
    assert other.get_json()["resourceType"] == "OperationOutcome"
    forged = http.get(f"/fhir/Appointment/$find?_count=4&end={end}&_cursor={token[:-2]}xx")
    assert forged.status_code == 400
    # one page that holds every match says how many there are
    whole = http.get(f"/fhir/Appointment/$find?_count=500&end={end}").get_json()
    assert whole["total"] == len(expected)
    assert [link["relation"] for link in whole["link"]] == ["self"]


@pytest.mark.parametrize(
    "query",
    ["unknown=1", "start=tomorrow", "start=ge2026-01-01", "_count=0", "practitioner=a/b/c"],
)
def test_a_bad_find_is_400(http: FlaskClient, query: str) -> None:
    answer = http.get(f"/fhir/Appointment/$find?{query}")
    assert answer.status_code == 400, answer.get_data(as_text=True)[:300]
    assert answer.get_json()["resourceType"] == "OperationOutcome"


def test_slot_and_schedule_searches_find_the_snomed_specialty(
    http: FlaskClient, booking_his: str, planted: dict[str, list[int]]
) -> None:
    service = service_row(sa.create_engine(booking_his), telemedicine=False)
    code = service.specialty_code
    sct = SPECIALTY_SNOMED[code][0]
    for rtype in ("Slot", "Schedule", "PractitionerRole", "HealthcareService", "Appointment"):
        local = http.get(f"/fhir/{rtype}?specialty={code}&_summary=count").get_json()["total"]
        snomed = http.get(
            f"/fhir/{rtype}?specialty=http://snomed.info/sct|{sct}&_summary=count"
        ).get_json()["total"]
        assert local > 0, rtype
        assert snomed == local, rtype
    slot = planted["person"][0]
    found = http.get(f"/fhir/Slot?specialty=http://snomed.info/sct|{sct}&_id={slot}").get_json()
    assert [e["resource"]["id"] for e in found["entry"]] == [str(slot)]
    video = http.get(f"/fhir/Slot?appointment-type=VR&_id={planted['video'][0]}").get_json()
    assert len(video["entry"]) == 1
    assert http.get(f"/fhir/Slot?appointment-type=VR&_id={slot}").get_json().get("entry") is None
