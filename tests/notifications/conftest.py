"""Fixtures of the notification tests: a HIS of their own (a copy of the generated one, since
the tests change it), a state database, the real SMTP server of the account tests (aiosmtpd),
an SMS provider over HTTP that records what it is sent and can be told to fail, and helpers
that make the HIS changes a hospital makes (a bulletin validated, a report signed, ...)."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from fhir_gateway.his import schema as t
from fhir_gateway.his.sql import SqlConnector, make_engine
from gateway.settings import Settings
from mappers import IdentifierSystems
from tests.conftest import app_config
from tests.smart_auth.accounts.conftest import Inbox, smtp  # noqa: F401 (a fixture)

SYSTEMS = IdentifierSystems.from_base("http://hospital.test/id")


class SmsProvider:
    """An HTTP SMS provider: records each message it accepts; answers ``fail_status`` to the
    first ``failures`` requests (or to every one while ``always_fail``)."""

    def __init__(self) -> None:
        self.accepted: list[dict[str, Any]] = []
        self.requests = 0
        self.failures = 0
        self.always_fail = False
        self.fail_status = 503
        self.lock = threading.Lock()

    def __call__(self, environ: Any, start_response: Any) -> Any:
        request = Request(environ)
        with self.lock:
            self.requests += 1
            if self.always_fail or self.failures > 0:
                self.failures = max(0, self.failures - 1)
                return Response("busy", status=self.fail_status)(environ, start_response)
            self.accepted.append(json.loads(request.get_data()))
        return Response("{}", status=200, mimetype="application/json")(environ, start_response)

    def to(self, number: str) -> list[str]:
        with self.lock:
            return [m["text"] for m in self.accepted if m["to"] == number]


@pytest.fixture
def sms() -> Iterator[tuple[SmsProvider, str]]:
    provider = SmsProvider()
    server = make_server("127.0.0.1", 0, provider, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield provider, f"http://127.0.0.1:{server.server_port}/send"
    finally:
        server.shutdown()


@pytest.fixture
def his_copy(sqlite_his: str, tmp_path: Path) -> str:
    """A HIS of this test's own (a copy of the generated one)."""
    source = Path(sqlite_his.removeprefix("sqlite:///"))
    target = tmp_path / "his.sqlite"
    shutil.copy(source, target)
    return f"sqlite:///{target}"


@pytest.fixture
def his_engine_rw(his_copy: str) -> Iterator[sa.Engine]:
    engine = make_engine(his_copy)
    yield engine
    engine.dispose()


@pytest.fixture
def connector(his_copy: str) -> SqlConnector:
    return SqlConnector.from_url(his_copy, SYSTEMS)


def settings_for(his_url: str, tmp_path: Path, **extra: object) -> Settings:
    config = app_config(his_url, state_url=f"sqlite:///{tmp_path / 'state.sqlite'}")
    config.pop("dicomweb_cache_dir")
    config.update(
        notify_his_poll_s=0.5,
        notify_min_backoff_s=0.2,
        notify_max_backoff_s=1.0,
        queue_poll_s=0.05,
        public_base_url="https://portal.hospital.test/fhir",
    )
    config.update(extra)
    return Settings.from_mapping(config, environ=False)


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class Hospital:
    """The HIS changes the hospital's own staff make, each bumping ``updated_at`` and
    ``version`` as the HIS does."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def _touch(self, table: sa.Table, his_id: int, **values: Any) -> int:
        with self.engine.begin() as conn:
            conn.execute(
                sa.update(table)
                .where(table.c.id == his_id)
                .values(updated_at=now(), version=table.c.version + 1, **values)
            )
            return int(
                conn.execute(sa.select(table.c.patient_id).where(table.c.id == his_id)).scalar_one()
            )

    def first(self, table: sa.Table, *where: Any) -> int:
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    sa.select(table.c.id).where(*where).order_by(table.c.id).limit(1)
                ).scalar_one()
            )

    def with_contacts(self, patient_id: int, email: str | None, phone: str | None) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                sa.update(t.patient)
                .where(t.patient.c.id == patient_id)
                .values(email=email, phone=phone)
            )

    def validate_bulletin(self, his_id: int) -> int:
        return self._touch(t.lab_bulletin, his_id, status="validated", validated_at=now())

    def validate_paraclinical(self, his_id: int) -> int:
        return self._touch(t.paraclinical_test, his_id, status="validated")

    def sign_report(self, his_id: int) -> int:
        return self._touch(
            t.imaging_order, his_id, status="reported", reported_at=now(), report_text="x"
        )

    def add_document(self, like_id: int) -> tuple[int, int]:
        """A new document of the same patient as document ``like_id``: (patient, new id)."""
        with self.engine.begin() as conn:
            row = conn.execute(sa.select(t.document).where(t.document.c.id == like_id)).one()
            values = dict(row._mapping)
            new_id = int(conn.execute(sa.select(sa.func.max(t.document.c.id))).scalar_one()) + 1
            values.update(
                id=new_id,
                number=f"DOC-T-{new_id}",
                created_at=now(),
                updated_at=now(),
                version=1,
                status="current",
            )
            conn.execute(sa.insert(t.document).values(values))
            return int(values["patient_id"]), new_id

    def assign_questionnaire(self, patient_id: int) -> int:
        with self.engine.begin() as conn:
            questionnaire_id = conn.execute(
                sa.select(t.questionnaire.c.id).order_by(t.questionnaire.c.id).limit(1)
            ).scalar_one()
            result = conn.execute(
                sa.insert(t.questionnaire_assignment).values(
                    questionnaire_id=questionnaire_id,
                    patient_id=patient_id,
                    sent_at=now(),
                    status="sent",
                    updated_at=now(),
                    version=1,
                )
            )
            key = result.inserted_primary_key
            assert key is not None
            return int(key[0])

    def book(self, patient_id: int, start: dt.datetime) -> int:
        """An appointment booked in the HIS (what a booking surface writes)."""
        with self.engine.begin() as conn:
            like = conn.execute(sa.select(t.appointment).limit(1)).one()._mapping
            result = conn.execute(
                sa.insert(t.appointment).values(
                    patient_id=patient_id,
                    slot_id=None,
                    service_id=like["service_id"],
                    doctor_id=like["doctor_id"],
                    department_id=like["department_id"],
                    start_at=start,
                    end_at=start + dt.timedelta(minutes=20),
                    status="booked",
                    telemedicine=False,
                    booked_at=now(),
                    updated_at=now(),
                    version=1,
                )
            )
            key = result.inserted_primary_key
            assert key is not None
            return int(key[0])

    def move(self, appointment_id: int, start: dt.datetime) -> int:
        return self._touch(
            t.appointment,
            appointment_id,
            start_at=start,
            end_at=start + dt.timedelta(minutes=20),
        )

    def cancel(self, appointment_id: int) -> int:
        return self._touch(t.appointment, appointment_id, status="cancelled")


@pytest.fixture
def hospital(his_engine_rw: sa.Engine) -> Hospital:
    return Hospital(his_engine_rw)


REPO = Path(__file__).resolve().parents[2]
#: The environment of a ``fhir-gateway`` command run by a test: this checkout, no settings
#: of the machine's own.
REPO_ENV = {
    "PATH": "/usr/bin:/bin",
    "PYTHONPATH": str(REPO),
    "HOME": str(REPO),
}


def env_of(settings: Settings) -> dict[str, str]:
    """The settings as the FHIR_GATEWAY_* variables a worker process reads."""
    from dataclasses import fields

    out = {}
    for f in fields(settings):
        value = getattr(settings, f.name)
        if value == f.default:
            continue
        text = ",".join(value) if isinstance(value, tuple) else str(value)
        out[f"FHIR_GATEWAY_{f.name.upper()}"] = text
    return out
