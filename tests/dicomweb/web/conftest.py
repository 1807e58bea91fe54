"""The gateway's DICOMweb in front of the real Orthanc, filled with the test HIS's studies.

``his_pacs``: the session's Orthanc (``tests/dicomweb/conftest.py``) loaded once with one
synthetic study per imaging order of the SQLite test HIS (PatientID = the patient's MRN), so
access checks tie studies to HIS patients. ``dw_app``: a gateway with development open access
over that HIS and PACS; ``client_for(patients)`` a gateway whose grant covers only
``patients`` (HIS ids), as a SMART patient token would. ``signed_in_app`` and ``smart_token``:
the gateway with authorization on and real tokens from its OAuth store. ``bounds``: studies of
two more patients, one Study Instance UID holding instances of both.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
import sqlalchemy as sa
from pydicom.dataset import Dataset

from access.policy import Grant
from demo.his_studies import LoadReport, images_in_pacs, load_his_studies, order_rows
from demo.synthetic import Patient, StudySpec, build_study
from dicomweb.backends.dimse import DimseBackend
from fhir_gateway.his.sql import make_engine
from gateway.app import create_app
from tests.conftest import app_config
from tests.dicomweb.conftest import Pacs, new_uid

DICOMWEB = "http://gateway.test/dicomweb"


@dataclass(frozen=True)
class HisPacs:
    """The test HIS and the Orthanc holding its studies."""

    his_url: str
    pacs: Pacs
    report: LoadReport
    #: study UID -> (HIS patient id, MRN) for every study the PACS holds
    studies: dict[str, tuple[int, str]]

    def studies_of(self, patient_id: int) -> list[str]:
        return sorted(uid for uid, (pid, _) in self.studies.items() if pid == patient_id)


@pytest.fixture(scope="session")
def his_pacs(sqlite_his: str, pacs: Pacs) -> HisPacs:
    engine = make_engine(sqlite_his)
    try:
        with DimseBackend(pacs.settings()) as backend:
            report = load_his_studies(engine, backend, max_size=32)
        assert not report.failures, report.failures
        studies: dict[str, tuple[int, str]] = {}
        with engine.connect() as conn:
            ids = dict(conn.execute(sa.text("SELECT mrn, id FROM patient")).all())
        for row in order_rows(engine):
            if images_in_pacs(row):
                studies[str(row.study_uid)] = (ids[row.mrn], str(row.mrn))
    finally:
        engine.dispose()
    return HisPacs(sqlite_his, pacs, report, studies)


def make_app(his_pacs: HisPacs, **config: Any) -> Any:
    """The gateway in development open access in front of the PACS (a caller's own data is
    tested with real tokens: ``client_for``, ``signed_in_app``)."""
    backend = DimseBackend(his_pacs.pacs.settings())
    cfg = app_config(his_pacs.his_url, **{"dev_open_access": True, **config})
    app = create_app(cfg, pacs=backend, pacs_settings=his_pacs.pacs.settings())
    app.extensions["test_backend"] = backend
    return app


@pytest.fixture(scope="session")
def dw_app(his_pacs: HisPacs) -> Iterator[Any]:
    app = make_app(his_pacs)
    yield app
    app.extensions["test_backend"].close()


@pytest.fixture
def dw_client(dw_app: Any) -> Any:
    return dw_app.test_client()


@pytest.fixture
def client_for(his_pacs: HisPacs, tmp_path: Any) -> Iterator[Callable[..., Any]]:
    """``client_for({patient ids}, scopes=...)``: a test client with a real SMART token of an
    account holding those patients, from a full launch against the gateway (authorization
    on): one patient's own app for ``patient/`` scopes, or, for several patients, the
    account's app at user level (``user/`` scopes: every patient the account acts for)."""
    from tests.credentials import launch_token, patient_client, with_test_sign_in
    from tests.smart_auth.test_oauth_fixtures import add_account

    app = signed_in_app(his_pacs, tmp_path)
    with_test_sign_in(app)

    def build(patients: set[int] | frozenset[int], scopes: str = "patient/*.rs") -> Any:
        first, *others = sorted(patients)
        if not others:
            return patient_client(app, first, scopes)
        account = add_account(app, (first, "self"), *((p, "guardian") for p in others))
        asked = "openid " + scopes.replace("patient/", "user/")
        token = launch_token(app, account, asked, None)
        client = app.test_client()
        client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token['access_token']}"
        return client

    yield build
    close_signed_in_app(app)


# --- authorization on: real SMART tokens from the OAuth store -------------------------------


def signed_in_app(his_pacs: HisPacs, state_dir: Any, **config: Any) -> Any:
    """The gateway in front of the PACS with authorization on (no development open access),
    and the accounts pages' sign-in as a test route, so ``smart_token`` can run a real
    authorization-code launch against it."""
    from pathlib import Path

    from smart_auth.session import sign_in

    state = Path(state_dir)
    settings = his_pacs.pacs.settings()
    backend = DimseBackend(settings)
    app = create_app(
        app_config(
            his_pacs.his_url,
            dev_open_access=False,
            state_url=f"sqlite:///{state / 'state.sqlite'}",
            outbox_dir=str(state / "outbox"),
            **config,
        ),
        pacs=backend,
        pacs_settings=settings,
    )

    @app.get("/_test/sign-in/<int:account_id>")
    def _sign_in(account_id: int) -> str:
        sign_in(account_id)
        return "ok"

    app.extensions["test_backend"] = backend
    return app


def close_signed_in_app(app: Any) -> None:
    app.extensions["test_backend"].close()
    app.extensions["state_engine"].dispose()


def smart_token(app: Any, patient: int, scope: str = "") -> str:
    """A real access token of a patient-facing app launched by the account of ``patient``
    (authorize, consent, code exchange with PKCE)."""
    from tests.smart_auth.test_oauth_fixtures import launch

    kwargs = {"scope": scope} if scope else {}
    answer = launch(app, patients=((patient, "self"),), **kwargs)
    return str(answer["token"]["access_token"])


# --- studies at the boundaries: two patients, one shared Study Instance UID ------------------


@dataclass(frozen=True)
class Uids:
    study: str
    series: str
    sop: str


@dataclass(frozen=True)
class Boundaries:
    p: int  # HIS patient ids
    q: int
    p_mrn: str
    q_mrn: str
    own: Uids  # P's study, its first series and instance
    other_own: Uids  # another study of P
    theirs: Uids  # Q's study
    shared: str  # the Study Instance UID of both
    p_series: str
    q_series: str
    p_sops: frozenset[str]  # P's instances under ``shared``
    q_sops: frozenset[str]  # Q's instances under ``shared``
    q_misfiled: str  # Q's instance in P's series


def _spec(mrn: str, study_uid: str, seed: int, count: int = 2) -> StudySpec:
    return StudySpec(
        study_uid=study_uid,
        patient=Patient(mrn, "Boundary", f"Test{seed}", datetime(1980, 1, 1).date(), "O"),
        accession_number=f"B{seed}",
        modality="CT",
        performed_at=datetime(2025, 3, 4, 9, 0),
        instance_count=count,
        max_size=16,
        seed=seed,
    )


def _first(datasets: list[Dataset]) -> Uids:
    ds = datasets[0]
    return Uids(str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID), str(ds.SOPInstanceUID))


@pytest.fixture(scope="session")
def bounds(his_pacs: HisPacs) -> Boundaries:
    """Studies of two HIS patients that have none in the session's PACS (so the other tests'
    listings are untouched): P owns ``own`` and ``other_own``, Q owns ``theirs``, and
    ``shared`` is a Study Instance UID under which the PACS holds instances of both (a UID
    collision, or a mis-filed instance): P's in series ``p_series``, Q's in ``q_series`` and,
    mis-filed, one in ``p_series`` too."""
    engine = make_engine(his_pacs.his_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT id, mrn FROM patient ORDER BY id")).all()
    finally:
        engine.dispose()
    with_studies = {pid for pid, _ in his_pacs.studies.values()}
    (p, p_mrn), (q, q_mrn) = [(int(i), str(m)) for i, m in rows if i not in with_studies][:2]
    own = list(build_study(_spec(p_mrn, new_uid(), 1)))
    other_own = list(build_study(_spec(p_mrn, new_uid(), 2)))
    theirs = list(build_study(_spec(q_mrn, new_uid(), 3)))
    shared = new_uid()
    p_part = list(build_study(_spec(p_mrn, shared, 4, count=3)))
    q_part = list(build_study(_spec(q_mrn, shared, 5, count=3)))
    p_series = str(p_part[0].SeriesInstanceUID)
    q_part[0].SeriesInstanceUID = p_series  # mis-filed into P's series
    with DimseBackend(his_pacs.pacs.settings()) as backend:
        for batch in (own, other_own, theirs, p_part, q_part):
            result = backend.store(batch)
            assert result.ok, result.failures
        # the premise: the PACS holds both patients under the one UID
        both = backend.find_studies({"StudyInstanceUID": shared, "PatientID": ""})
        assert {str(ds.PatientID) for ds in both} == {p_mrn, q_mrn}
    return Boundaries(
        p,
        q,
        p_mrn,
        q_mrn,
        _first(own),
        _first(other_own),
        _first(theirs),
        shared,
        p_series,
        str(q_part[1].SeriesInstanceUID),
        frozenset(str(ds.SOPInstanceUID) for ds in p_part),
        frozenset(str(ds.SOPInstanceUID) for ds in q_part),
        str(q_part[0].SOPInstanceUID),
    )


class Reading:
    """A test client whose every response is read whole at once (streamed bodies too)."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def get(self, path: str, **kwargs: Any) -> Any:
        rsp = self.client.get(path, **kwargs)
        rsp.get_data()
        rsp.close()
        return rsp


def grant_of(client: Any) -> Grant:
    """The grant the gateway makes of a ``client_for`` client's token (the production
    validator's)."""
    policy = client.application.extensions["access_policy"]
    return policy.grant_for({"Authorization": client.environ_base["HTTP_AUTHORIZATION"]})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
