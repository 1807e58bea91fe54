"""Every event kind, end to end, to an app's FHIR Subscriptions: a change in the HIS (a
bulletin validated, a report signed, images arriving in the real Orthanc, a document, a
questionnaire, an appointment booked, coming near, moved, cancelled) becomes exactly one
notification Bundle at the subscriber's real HTTP endpoint per subscription, sent by a
running worker after the handshake; ``id-only`` names the focus, ``full-resource`` carries
it as the subscriber's grant reads it; every delivery is in the audit trail."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

from demo.synthetic import Patient, StudySpec, build_study
from dicomweb.backends.dimse import DimseBackend
from fhir_gateway.his import schema as t
from fhir_gateway.his.sql import SqlConnector
from notifications import events as ev
from notifications.jobs import PacsArrivals
from notifications.topics import BY_KIND
from smart_auth.audit.tables import audit_event
from tests.conftest import BASE
from tests.dicomweb.conftest import Pacs, pacs  # noqa: F401 (a fixture)

from .conftest import Hospital, now, settings_for
from .subscribers import (
    ALLOW_LOCAL,
    Endpoint,
    app_token,
    endpoint,  # noqa: F401 (a fixture)
    gateway,
    get,
    subscribe,
    subscription,
    topic_url,
)
from .test_end_to_end import wait_for, worker

SECRET_HEADER = "Authorization: Bearer hook-secret"


def _images_order(hospital: Hospital, other_than: int) -> tuple[int, int, str, str]:
    """An imaging order placed today whose images are not in the PACS yet: (order, patient,
    accession number, Study Instance UID)."""
    io = t.imaging_order
    order = hospital.first(io, io.c.study_uid.is_not(None), io.c.id != other_than)
    accession = f"S{uuid.uuid4().hex[:10].upper()}"
    with hospital.engine.begin() as conn:
        conn.execute(
            sa.update(io)
            .where(io.c.id == order)
            .values(accession_number=accession, ordered_at=now(), status="scheduled")
        )
        patient, uid = conn.execute(
            sa.select(io.c.patient_id, io.c.study_uid).where(io.c.id == order)
        ).one()
    return order, int(patient), accession, str(uid)


def test_every_event_kind_reaches_the_apps_subscriptions_once(
    his_copy: str,
    connector: SqlConnector,
    hospital: Hospital,
    endpoint: Endpoint,  # noqa: F811
    pacs: Pacs,  # noqa: F811
    tmp_path: Path,
) -> None:
    lb, io = t.lab_bulletin, t.imaging_order
    bulletin = hospital.first(lb, lb.c.status != "validated")
    para = hospital.first(t.paraclinical_test)
    order = hospital.first(io, io.c.status != "cancelled", io.c.study_uid.is_not(None))
    document = hospital.first(t.document)
    images_order, images_patient, accession, study_uid = _images_order(hospital, order)
    with hospital.engine.connect() as conn:
        owner = {
            name: int(
                conn.execute(sa.select(table.c.patient_id).where(table.c.id == i)).scalar_one()
            )
            for name, table, i in (
                ("lab", lb, bulletin),
                ("para", t.paraclinical_test, para),
                ("order", io, order),
                ("document", t.document, document),
            )
        }
    people = sorted({*owner.values(), images_patient})
    app = gateway(his_copy, tmp_path)
    # one person's app acting for every patient concerned (their own record, those in care)
    holder = app_token(
        app, tuple((p, "self" if n == 0 else "guardian") for n, p in enumerate(people))
    )
    made: dict[str, str] = {}  # endpoint path -> subscription id
    for kind in ev.KINDS:
        for payload, prefix in (("full-resource", "full"), ("id-only", "id")):
            path = f"/{prefix}/{kind}"
            answer = subscribe(
                app,
                holder["token"],
                subscription(kind, endpoint.url + path, payload=payload, headers=(SECRET_HEADER,)),
            )
            assert answer.status_code == 201, answer.get_data(as_text=True)
            made[path] = answer.get_json()["id"]
    settings = settings_for(
        his_copy,
        tmp_path,
        public_base_url=BASE,
        notify_reminder_every_s=0.5,
        notify_reminder_before_h=3,
        notify_pacs_poll_s=0.5,
        **ALLOW_LOCAL,
    )
    backend = DimseBackend(pacs.settings())
    try:
        with worker(settings, connector, pacs=PacsArrivals(backend)):
            wait_for(lambda: all(endpoint.at(p, "handshake") for p in made), what="every handshake")
            wait_for(
                lambda: all(
                    get(app, holder["token"], f"/fhir/Subscription/{sid}").get_json()["status"]
                    == "active"
                    for sid in made.values()
                ),
                what="every subscription active",
            )
            focus: dict[str, tuple[str, int]] = {}  # kind -> (focus, patient)
            hospital.validate_bulletin(bulletin)
            focus[ev.LAB_VALIDATED] = (f"DiagnosticReport/lab-{bulletin}", owner["lab"])
            hospital.validate_paraclinical(para)
            focus[ev.PARACLINICAL_VALIDATED] = (f"DiagnosticReport/para-{para}", owner["para"])
            hospital.sign_report(order)
            focus[ev.RADIOLOGY_SIGNED] = (f"DiagnosticReport/rad-{order}", owner["order"])
            patient, doc = hospital.add_document(document)
            focus[ev.DOCUMENT_NEW] = (f"DocumentReference/{doc}", patient)
            hospital.assign_questionnaire(patient)
            with hospital.engine.connect() as conn:
                questionnaire = conn.execute(
                    sa.select(sa.func.min(t.questionnaire.c.id))
                ).scalar_one()
            focus[ev.QUESTIONNAIRE_ASSIGNED] = (f"Questionnaire/{questionnaire}", patient)
            appointment = hospital.book(patient, now() + dt.timedelta(hours=2))
            for kind in (ev.APPOINTMENT_BOOKED, ev.APPOINTMENT_DUE):
                focus[kind] = (f"Appointment/{appointment}", patient)
            wait_for(
                lambda: all(
                    endpoint.at(f"/id/{k}", "event-notification")
                    for k in (ev.APPOINTMENT_BOOKED, ev.APPOINTMENT_DUE)
                ),
                what="booked and due",
            )
            hospital.move(appointment, now() + dt.timedelta(days=5))
            focus[ev.APPOINTMENT_CHANGED] = (f"Appointment/{appointment}", patient)
            wait_for(
                lambda: bool(endpoint.at(f"/id/{ev.APPOINTMENT_CHANGED}", "event-notification")),
                what="changed",
            )
            hospital.cancel(appointment)
            focus[ev.APPOINTMENT_CANCELLED] = (f"Appointment/{appointment}", patient)
            with hospital.engine.connect() as conn:
                mrn = conn.execute(
                    sa.select(t.patient.c.mrn).where(t.patient.c.id == images_patient)
                ).scalar_one()
            spec = StudySpec(
                study_uid=study_uid,
                patient=Patient(str(mrn), "Test", "Images", dt.date(1980, 1, 1), "O"),
                accession_number=accession,
                modality="CR",
                performed_at=dt.datetime(2026, 11, 30, 9, 0),
                description="CR",
                series_count=1,
                instance_count=1,
                max_size=16,
            )
            with DimseBackend(pacs.settings()) as storing:
                assert storing.store(build_study(spec)).ok
            focus[ev.IMAGES_AVAILABLE] = (f"ImagingStudy/{images_order}", images_patient)
            wait_for(
                lambda: all(endpoint.at(p, "event-notification") for p in made),
                what="every kind at both subscriptions",
                timeout_s=60,
            )
            time.sleep(1.5)  # more polls and ticks: nothing is sent again
            statuses = {
                path: get(app, holder["token"], f"/fhir/Subscription/{sid}/$status").get_json()
                for path, sid in made.items()
            }
    finally:
        backend.close()

    assert set(focus) == set(ev.KINDS)
    for path, sid in made.items():
        prefix, kind = path.strip("/").split("/")
        events = endpoint.at(path, "event-notification")
        assert len(events) == 1, (path, len(events))
        got = events[0]
        assert got.headers["Authorization"] == "Bearer hook-secret"
        assert got.headers["Content-Type"] == "application/fhir+json"
        assert got.body["resourceType"] == "Bundle"
        assert got.body["type"] == "history"
        status = got.status
        assert status["subscription"]["valueReference"]["reference"] == f"{BASE}/Subscription/{sid}"
        assert status["topic"]["valueCanonical"] == topic_url(kind)
        assert status["status"]["valueCode"] == "active"
        assert status["events-since-subscription-start"]["valueString"] == "1"
        parts = {p["name"]: p for p in status["notification-event"]["part"]}
        assert parts["event-number"]["valueString"] == "1"
        reference, patient = focus[kind]
        assert parts["focus"]["valueReference"]["reference"] == f"{BASE}/{reference}"
        entry = got.body["entry"][1]
        assert entry["fullUrl"] == f"{BASE}/{reference}"
        if prefix == "id":
            assert "resource" not in entry
        else:
            resource = entry["resource"]
            assert f"{resource['resourceType']}/{resource['id']}" == reference
            assert resource["resourceType"] == BY_KIND[kind].resource_type
            if kind != ev.QUESTIONNAIRE_ASSIGNED:
                assert f"Patient/{patient}" in str(resource)
        parameters = statuses[path]["entry"][0]["resource"]["parameter"]
        counted = {p["name"]: p for p in parameters}["events-since-subscription-start"]
        assert counted["valueString"] == "1"
        assert len(endpoint.at(path, "handshake")) == 1
    # every delivery audited under the subscriber's grant
    engine = app.extensions["state_engine"]
    with engine.connect() as conn:
        notified = conn.execute(
            sa.select(audit_event.c.resource_type, audit_event.c.client_id).where(
                audit_event.c.action == "notify", audit_event.c.outcome == "allowed"
            )
        ).all()
    assert len(notified) == len(made)
    assert {row.client_id for row in notified} == {holder["client_id"]}
