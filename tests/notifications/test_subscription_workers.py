"""Two ``fhir-gateway worker`` processes sharing the queue and the state database send each
event to a subscription once: one notification per event at the endpoint, event numbers
1..N each given once, one handshake."""

from __future__ import annotations

import subprocess
import time
from collections import Counter
from pathlib import Path

import sqlalchemy as sa

from fhir_gateway.his import schema as t
from fhir_gateway.his.sql import SqlConnector
from notifications import events as ev
from tests.conftest import BASE

from .conftest import Hospital, settings_for
from .subscribers import (
    ALLOW_LOCAL,
    Endpoint,
    app_token,
    endpoint,  # noqa: F401 (a fixture)
    gateway,
    subscribe,
    subscription,
)
from .test_end_to_end import feed_started, store_of, wait_for
from .test_workers import procs, start_worker  # noqa: F401 (a fixture)


def test_two_workers_notify_each_event_once(
    his_copy: str,
    connector: SqlConnector,
    hospital: Hospital,
    endpoint: Endpoint,  # noqa: F811
    procs: list[subprocess.Popen[bytes]],  # noqa: F811
    tmp_path: Path,
) -> None:
    lb = t.lab_bulletin
    with hospital.engine.connect() as conn:
        rows = conn.execute(
            sa.select(lb.c.id, lb.c.patient_id).where(lb.c.status != "validated").order_by(lb.c.id)
        ).all()[:20]
    patients = sorted({int(r.patient_id) for r in rows})
    app = gateway(his_copy, tmp_path)
    holder = app_token(
        app, tuple((p, "self" if n == 0 else "guardian") for n, p in enumerate(patients))
    )
    made = subscribe(app, holder["token"], subscription(ev.LAB_VALIDATED, f"{endpoint.url}/hook"))
    assert made.status_code == 201, made.get_data(as_text=True)
    settings = settings_for(
        his_copy,
        tmp_path,
        public_base_url=BASE,
        notify_his_poll_s=0.3,
        notify_sweep_every_s=1,
        queue_lease_s=10,
        **ALLOW_LOCAL,
    )
    store = store_of(settings)
    for n in (1, 2):
        procs.append(start_worker(settings, tmp_path / f"worker{n}.log"))
    wait_for(lambda: feed_started(store), what="the feed")
    wait_for(lambda: bool(endpoint.at("/hook", "handshake")), what="the handshake")
    for row in rows:
        hospital.validate_bulletin(int(row.id))
    wait_for(
        lambda: len(endpoint.at("/hook", "event-notification")) >= len(rows),
        what="every event",
        timeout_s=60,
    )
    time.sleep(2)  # polls, ticks and sweeps of both workers: nothing is sent again
    got = endpoint.at("/hook", "event-notification")
    assert len(got) == len(rows)
    numbers = Counter(
        {p["name"]: p for p in r.status["notification-event"]["part"]}["event-number"][
            "valueString"
        ]
        for r in got
    )
    assert sorted(int(n) for n in numbers) == list(range(1, len(rows) + 1))
    assert set(numbers.values()) == {1}
    focus = Counter(r.body["entry"][1]["fullUrl"] for r in got)
    assert set(focus) == {f"{BASE}/DiagnosticReport/lab-{r.id}" for r in rows}
    assert set(focus.values()) == {1}
    assert len(endpoint.at("/hook", "handshake")) == 1
    logs = "".join(p.read_text() for p in tmp_path.glob("worker*.log"))
    assert "Traceback" not in logs
