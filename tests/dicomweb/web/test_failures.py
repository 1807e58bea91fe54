"""How DICOMweb answers when the PACS fails: a generic DICOM JSON error before any byte was
sent, never the PACS's address or AE titles; a streamed export that breaks off mid-way ends
with a broken connection (no terminating chunk), logged, never an HTML error page."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

from demo.orthanc import free_port
from dicomweb.backends.base import RetrieveOutcome
from dicomweb.backends.dimse import DimseBackend
from dicomweb.errors import PacsTimeout
from dicomweb.web.context import StreamAborted
from tests.conftest import app_config
from tests.dicomweb.web.conftest import HisPacs, make_app

ERROR_COMMENT = "00000902"


def comment(rsp: Any) -> str:
    assert rsp.mimetype == "application/dicom+json", rsp.get_data(as_text=True)[:300]
    return str(rsp.get_json()[0][ERROR_COMMENT]["Value"][0])


def secrets_of(his_pacs: HisPacs, port: int) -> list[str]:
    s = his_pacs.pacs.settings()
    return ["127.0.0.1", str(port), str(s.port), s.called_aet, s.calling_aet, "ORTHANC", "FHIRGW"]


@pytest.fixture(scope="module")
def no_pacs(his_pacs: HisPacs) -> Iterator[tuple[Any, int]]:
    """The gateway in front of a PACS address where nothing listens (a real refused connect)."""
    from gateway.app import create_app

    port = free_port()
    settings = his_pacs.pacs.settings(port=port, connect_timeout_s=2.0)
    backend = DimseBackend(settings)
    app = create_app(
        app_config(his_pacs.his_url, dev_open_access=True), pacs=backend, pacs_settings=settings
    )
    yield app.test_client(), port
    backend.close()


@pytest.mark.parametrize(
    "path",
    [
        "/studies",
        "/series?limit=1",
        "/instances",
        "/studies/1.2.3/series",
        "/studies/1.2.3/metadata",
        "/studies/1.2.3",
        "/studies/1.2.3/export",
    ],
)
def test_an_unreachable_pacs_is_a_generic_503(no_pacs, his_pacs, path, caplog):
    client, port = no_pacs
    with caplog.at_level(logging.WARNING):
        rsp = client.get("/dicomweb" + path)
    assert rsp.status_code == 503, rsp.get_data(as_text=True)[:300]
    text = comment(rsp)
    body = rsp.get_data(as_text=True)
    for secret in secrets_of(his_pacs, port):
        assert secret not in body, secret
    assert "PACS" in text
    assert rsp.headers["Retry-After"]
    # the kind of failure is in the server log for the operators, the address is not
    logged = [r for r in caplog.records if r.getMessage() == "PACS error"]
    assert logged
    assert logged[-1].__dict__["error"] == "PacsUnavailable"
    for record in caplog.records:
        line = record.getMessage() + " " + str(record.__dict__)
        assert f"127.0.0.1:{port}" not in line


class _Broken:
    """A real retrieval that fails after ``after`` instances, as a PACS that goes away does."""

    def __init__(self, real: Any, after: int) -> None:
        self.real, self.after, self.taken = real, after, 0

    def __iter__(self) -> _Broken:
        return self

    def __next__(self) -> bytes:
        if self.taken >= self.after:
            raise PacsTimeout("no C-GET response within 10 s from ORTHANC at 127.0.0.1:4242")
        self.taken += 1
        return next(self.real)

    @property
    def outcome(self) -> RetrieveOutcome | None:
        return None

    def close(self) -> None:
        self.real.close()


class _FailingBackend:
    def __init__(self, real: DimseBackend, after: int) -> None:
        self.real, self.after = real, after

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def retrieve_study(self, study_uid: str) -> _Broken:
        return _Broken(self.real.retrieve_study(study_uid), self.after)


@pytest.fixture
def failing(his_pacs: HisPacs) -> Iterator[Any]:
    app = make_app(his_pacs)
    ctx = app.extensions["dicomweb"]

    def build(after: int) -> Any:
        ctx.backend = _FailingBackend(app.extensions["test_backend"], after)
        return app.test_client()

    yield build
    app.extensions["test_backend"].close()


def _study(his_pacs: HisPacs) -> str:
    return sorted(his_pacs.studies)[0]


def test_an_export_failing_before_its_first_byte_is_a_dicom_json_error(his_pacs, failing):
    rsp = failing(0).get(f"/dicomweb/studies/{_study(his_pacs)}/export")
    assert rsp.status_code == 504
    assert "4242" not in comment(rsp)
    assert "127.0.0.1" not in rsp.get_data(as_text=True)


def test_an_export_failing_mid_way_breaks_the_stream(his_pacs, failing, caplog):
    client = failing(1)
    with caplog.at_level(logging.WARNING):
        rsp = client.get(f"/dicomweb/studies/{_study(his_pacs)}/export", buffered=False)
        assert rsp.status_code == 200
        assert rsp.mimetype == "application/zip"
        chunks = iter(rsp.response)
        assert next(chunks).startswith(b"PK")
        # the body ends with a reset connection, never with a complete archive or a page
        with pytest.raises(StreamAborted):
            for _chunk in chunks:
                pass
    messages = [r.getMessage() for r in caplog.records]
    assert "export broke off mid-way" in messages
    assert not any("4242" in m or "Traceback" in m for m in messages)


def test_a_complete_export_still_streams(his_pacs, failing):
    rsp = failing(10_000).get(f"/dicomweb/studies/{_study(his_pacs)}/export")
    assert rsp.status_code == 200
    assert b"DICOMDIR" in rsp.data


def test_a_wado_retrieval_failing_mid_way_breaks_the_stream(his_pacs, failing, caplog):
    study = _study(his_pacs)
    client = failing(1)
    with caplog.at_level(logging.WARNING):
        rsp = client.get(f"/dicomweb/studies/{study}", buffered=False)
        assert rsp.status_code == 200
        chunks = iter(rsp.response)
        assert next(chunks)
        with pytest.raises(StreamAborted):
            for _chunk in chunks:
                pass
    assert "WADO-RS response broke off mid-way" in [r.getMessage() for r in caplog.records]


def test_a_wado_retrieval_failing_before_its_first_part_is_a_dicom_json_error(his_pacs, failing):
    rsp = failing(0).get(f"/dicomweb/studies/{_study(his_pacs)}")
    assert rsp.status_code == 504
    assert "127.0.0.1" not in rsp.get_data(as_text=True)
    assert comment(rsp)


def test_an_unexpected_failure_is_a_generic_dicom_json_500(his_pacs, caplog):
    app = make_app(his_pacs)
    real = app.extensions["test_backend"]

    class Exploding(_FailingBackend):
        def find_studies(self, *args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("PACS 127.0.0.1:4242 said something with Popescu^Ana in it")

    app.extensions["dicomweb"].backend = Exploding(real, 0)
    try:
        with caplog.at_level(logging.INFO):
            rsp = app.test_client().get("/dicomweb/studies")
        assert rsp.status_code == 500
        text = comment(rsp)
        assert "127.0.0.1" not in text
        assert "Popescu" not in rsp.get_data(as_text=True)
        logged = " ".join(r.getMessage() + str(r.__dict__.get("error", "")) for r in caplog.records)
        assert "RuntimeError" in logged
        assert "Popescu" not in logged
    finally:
        real.close()
