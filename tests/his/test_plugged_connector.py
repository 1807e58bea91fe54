"""A hospital that plugs in its own ``HisConnector`` gets every feature of the authorization
server: result codes (F9), self-registration, guardians (F8) and the consent page's identities
all read the HIS through the connector the app was given, never through an engine of their own
on ``FHIR_GATEWAY_HIS_URL``.

The plugged connector here answers from the test HIS while the configured HIS URL points at an
empty database, and it has nothing but the protocol's methods (no ``engine``)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import email
import email.policy
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from fhir_gateway.fhir.query import SearchQuery
from fhir_gateway.his.connector import (
    AnswerWrite,
    Assignment,
    AssignmentCursor,
    CodedBulletin,
    Contacts,
    GuardianLink,
    HisConnector,
    Hit,
    IncomingDocument,
    Key,
    PatientMatch,
    Patients,
)
from fhir_gateway.his.schema import (
    guardian_link,
    lab_bulletin,
    patient,
    questionnaire,
    questionnaire_assignment,
)
from fhir_gateway.his.sql import SqlConnector
from mappers import IdentifierSystems
from smart_auth.accounts import identities as wards
from smart_auth.oauth.consent import fhir_user, identities
from tests.conftest import app_config

LINK = "http://gateway.test/account/activate/"


class HospitalConnector:
    """A connector of the hospital's own: only the protocol, each call counted."""

    def __init__(self, inner: HisConnector) -> None:
        self._inner = inner
        self.calls: list[str] = []

    def read(
        self, resource_type: str, kind: str, his_id: int, patients: Patients
    ) -> Mapping[str, Any] | None:
        self.calls.append("read")
        return self._inner.read(resource_type, kind, his_id, patients)

    def read_many(
        self, resource_type: str, ids: Sequence[tuple[str, int]], patients: Patients
    ) -> list[tuple[str, Mapping[str, Any]]]:
        self.calls.append("read_many")
        return self._inner.read_many(resource_type, ids, patients)

    def search(
        self,
        query: SearchQuery,
        patients: Patients,
        *,
        after: Key | None,
        before: Key | None,
        limit: int,
    ) -> list[Hit]:
        self.calls.append("search")
        return self._inner.search(query, patients, after=after, before=before, limit=limit)

    def count(self, query: SearchQuery, patients: Patients) -> int:
        self.calls.append("count")
        return self._inner.count(query, patients)

    def ping(self) -> None:
        self._inner.ping()

    def find_patient(self, national_id_kind: str, national_id: str) -> PatientMatch | None:
        self.calls.append("find_patient")
        return self._inner.find_patient(national_id_kind, national_id)

    def contacts(self, patient_id: int) -> Contacts:
        self.calls.append("contacts")
        return self._inner.contacts(patient_id)

    def guardian_links(self, guardian_id: int) -> list[GuardianLink]:
        self.calls.append("guardian_links")
        return self._inner.guardian_links(guardian_id)

    def coded_bulletins(self, national_id: str) -> list[CodedBulletin]:
        self.calls.append("coded_bulletins")
        return self._inner.coded_bulletins(national_id)

    def assignments_after(self, after: AssignmentCursor | None, limit: int) -> list[Assignment]:
        self.calls.append("assignments_after")
        return self._inner.assignments_after(after, limit)

    def write_answers(
        self,
        assignment_id: int,
        patient_id: int,
        version: int,
        answers: Mapping[str, Any],
        *,
        submitted_at: dt.datetime | None,
    ) -> AnswerWrite:
        self.calls.append("write_answers")
        return self._inner.write_answers(
            assignment_id, patient_id, version, answers, submitted_at=submitted_at
        )

    def submit_patient_document(self, document: IncomingDocument) -> None:
        self.calls.append("submit_patient_document")
        self._inner.submit_patient_document(document)

    def update_patient_document(self, upload_id: str, description: str | None) -> None:
        self.calls.append("update_patient_document")
        self._inner.update_patient_document(upload_id, description)

    def withdraw_patient_document(self, upload_id: str, at: dt.datetime) -> None:
        self.calls.append("withdraw_patient_document")
        self._inner.withdraw_patient_document(upload_id, at)


@pytest.fixture
def plugged(sqlite_his: str, tmp_path: Path) -> tuple[Any, HospitalConnector]:
    from gateway.app import create_app

    inner = SqlConnector.from_url(
        sqlite_his, IdentifierSystems.from_base("http://hospital.test/id")
    )
    connector = HospitalConnector(inner)
    empty = tmp_path / "empty-his.sqlite"
    sa.create_engine(f"sqlite:///{empty}").connect().close()  # a database without HIS tables
    config = app_config(
        f"sqlite:///{empty}",
        dev_open_access=False,
        state_url=f"sqlite:///{tmp_path / 'state.sqlite'}",
        outbox_dir=str(tmp_path / "outbox"),
    )
    app = create_app(config, connector=connector)
    svc = app.extensions["accounts"]
    svc.policy = dataclasses.replace(svc.policy, register_floor_s=0.0)
    return app, connector


@pytest.fixture(scope="module")
def his_rows(sqlite_his: str) -> dict[str, Any]:
    engine = sa.create_engine(sqlite_his)
    b, p, g = lab_bulletin.c, patient.c, guardian_link.c
    with engine.connect() as conn:
        coded = conn.execute(
            sa.select(b.id, b.access_code, p.national_id)
            .join(patient, p.id == b.patient_id)
            .where(b.status == "validated", b.access_code.is_not(None))
            .order_by(b.id)
        ).first()
        today = dt.date.today()  # the account service's clock is the real one here
        ward_row = patient.alias("ward")
        w = ward_row.c
        link = conn.execute(
            sa.select(g.id, g.guardian_id, g.ward_id)
            .join(patient, p.id == g.guardian_id)
            .join(ward_row, w.id == g.ward_id)
            .where(p.email.is_not(None), p.national_id_kind == "CNP", w.national_id_kind == "CNP")
            .where(g.valid_from <= today, sa.or_(g.valid_to.is_(None), g.valid_to >= today))
            .order_by(g.id)
        ).first()
        assert coded is not None
        assert link is not None
        guardian = conn.execute(sa.select(patient).where(p.id == link.guardian_id)).one()
        ward = conn.execute(sa.select(patient).where(p.id == link.ward_id)).one()
    engine.dispose()
    return {"coded": coded, "link": link, "guardian": guardian, "ward": ward}


def test_result_code_is_checked_through_the_plugged_connector(
    plugged: tuple[Any, HospitalConnector], his_rows: dict[str, Any]
) -> None:
    app, connector = plugged
    coded = his_rows["coded"]
    answer = app.test_client().post(
        "/auth/result-access", data={"code": coded.access_code, "national_id": coded.national_id}
    )
    assert answer.status_code == 200
    assert answer.get_json()["report"] == f"DiagnosticReport/lab-{coded.id}"
    assert "coded_bulletins" in connector.calls


def test_registration_guardians_and_consent_read_the_plugged_connector(
    plugged: tuple[Any, HospitalConnector], his_rows: dict[str, Any]
) -> None:
    app, connector = plugged
    svc = app.extensions["accounts"]
    guardian, ward = his_rows["guardian"], his_rows["ward"]
    assert (
        svc.register(f"{guardian.given} {guardian.family}", guardian.national_id, "en", LINK) == ""
    )
    mails = list((Path(app.config["SETTINGS"].outbox_dir) / "mail").glob("*.eml"))
    assert len(mails) == 1
    mail = email.message_from_bytes(mails[0].read_bytes(), policy=email.policy.default)
    assert mail["To"] == guardian.email
    token = re.search(re.escape(LINK) + r"(\S+)", mail.get_content())  # type: ignore[attr-defined]
    assert token is not None
    done = svc.activate(token.group(1), "correct horse battery")
    assert done.error == ""
    assert wards.add_ward(svc, done.account_id, ward.national_id) == ""
    mine = identities(svc.state, connector, done.account_id)
    assert [(i.patient_id, i.name) for i in mine] == [
        (guardian.id, f"{guardian.given} {guardian.family}"),
        (ward.id, f"{ward.given} {ward.family}"),
    ]
    assert fhir_user(connector, mine, ward.id).startswith("RelatedPerson/")
    for needed in ("find_patient", "contacts", "guardian_links", "read_many"):
        assert needed in connector.calls, needed


def test_questionnaires_are_answered_and_announced_through_the_plugged_connector(
    plugged: tuple[Any, HospitalConnector], his_rows: dict[str, Any], sqlite_his: str
) -> None:
    from notifications.assignments import AssignmentSource
    from notifications.store import Preferences, Store
    from smart_auth.session import sign_in
    from tests.fhir.test_questionnaire_writes import token

    app, connector = plugged

    @app.get("/_test/sign-in/<int:account_id>")
    def _sign_in(account_id: int) -> str:  # test-only: the accounts pages do this
        sign_in(account_id)
        return "ok"

    guardian = his_rows["guardian"]
    qa = questionnaire_assignment
    engine = sa.create_engine(sqlite_his)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    with engine.begin() as conn:
        his_id = int(conn.execute(sa.select(sa.func.max(qa.c.id))).scalar_one() or 0) + 1
        conn.execute(
            qa.insert().values(
                id=his_id,
                questionnaire_id=conn.execute(sa.select(sa.func.min(questionnaire.c.id))).scalar(),
                patient_id=guardian.id,
                sent_at=now,
                status="sent",
                updated_at=now,
                version=1,
            )
        )
    try:
        store = Store(app.extensions["state_engine"], Preferences("en", frozenset(), frozenset()))
        source = AssignmentSource(
            store, connector, lookback=dt.timedelta(minutes=10), max_age=dt.timedelta(days=30)
        )
        found = [e.key for e in source.poll()]
        assert f"questionnaire_assignment:{his_id}:assigned" in found
        assert "assignments_after" in connector.calls
        scope = "launch/patient openid patient/*.rs patient/QuestionnaireResponse.u"
        bearer = token(app, guardian.id, scope)
        answer = app.test_client().put(
            f"/fhir/QuestionnaireResponse/{his_id}",
            json={
                "resourceType": "QuestionnaireResponse",
                "id": str(his_id),
                "status": "in-progress",
            },
            headers={"Authorization": f"Bearer {bearer}"},
        )
        assert answer.status_code == 200, answer.get_data(as_text=True)
        assert "write_answers" in connector.calls
    finally:
        with engine.begin() as conn:
            conn.execute(qa.delete().where(qa.c.id == his_id))
        engine.dispose()
