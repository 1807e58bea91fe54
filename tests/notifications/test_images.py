"""A study's images arriving in the PACS (the real Orthanc the DICOM tests start): the
worker polls the PACS for the accession numbers of the imaging orders still waiting, and the
patient is told once when their images are there."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

from sqlalchemy import update

from demo.synthetic import DEMO_PATIENTS, StudySpec, build_study
from dicomweb.backends.dimse import DimseBackend
from fhir_gateway.his import schema as t
from fhir_gateway.his.sql import SqlConnector
from notifications import events as ev
from notifications.jobs import PacsArrivals
from tests.dicomweb.conftest import Pacs, new_uid, pacs  # noqa: F401 (a fixture)
from tests.smart_auth.accounts.conftest import Inbox

from .conftest import Hospital, now, settings_for
from .test_end_to_end import feed_started, store_of, wait_for, worker


def test_images_arriving_in_the_pacs_are_announced_once(
    his_copy: str,
    connector: SqlConnector,
    hospital: Hospital,
    smtp: tuple[Inbox, int],
    pacs: Pacs,  # noqa: F811
    tmp_path: Path,
) -> None:
    inbox, port = smtp
    accession = f"N{uuid.uuid4().hex[:10].upper()}"
    order = hospital.first(t.imaging_order)
    with hospital.engine.begin() as conn:  # an order placed today, its images not yet taken
        conn.execute(
            update(t.imaging_order)
            .where(t.imaging_order.c.id == order)
            .values(accession_number=accession, ordered_at=now(), status="scheduled")
        )
    owner = hospital._touch(t.imaging_order, order)
    hospital.with_contacts(owner, "images@patients.test", None)
    settings = settings_for(
        his_copy,
        tmp_path,
        smtp_host="127.0.0.1",
        smtp_port=port,
        notify_pacs_poll_s=0.5,
    )
    store = store_of(settings)
    backend = DimseBackend(pacs.settings())
    try:
        with worker(settings, connector, pacs=PacsArrivals(backend)):
            wait_for(lambda: feed_started(store), what="the feed")
            import time

            time.sleep(2)  # polled several times: nothing there yet, nothing sent
            assert store.deliveries() == []
            spec = StudySpec(
                study_uid=new_uid(),
                patient=DEMO_PATIENTS[0],
                accession_number=accession,
                modality="CR",
                performed_at=dt.datetime(2026, 11, 30, 9, 0),
                description="CR demo",
                body_part="CHEST",
                series_count=1,
                instance_count=2,
                referring_physician="Popescu^Mihai",
                max_size=64,
            )
            with DimseBackend(pacs.settings()) as storing:
                assert storing.store(build_study(spec)).ok
            wait_for(
                lambda: [d["state"] for d in store.deliveries()] == ["sent"],
                what="the images announced",
            )
            time.sleep(1.5)  # later polls find them again: nothing more
    finally:
        backend.close()
    deliveries = store.deliveries()
    assert [(d["kind"], d["patient_id"]) for d in deliveries] == [(ev.IMAGES_AVAILABLE, owner)]
    assert [m["To"] for m in inbox.messages] == ["images@patients.test"]
    assert "Imagini noi" in inbox.messages[0].get_content()
