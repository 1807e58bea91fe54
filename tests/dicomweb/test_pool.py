"""The association pool against an Orthanc that drops idle associations after 2 s, and failures.

This module has its own Orthanc (``DicomScpTimeout`` 2 s) because it stops and restarts it.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from datetime import datetime

import pytest

from demo.synthetic import StudySpec, build_study
from dicomweb.backends.contexts import query_contexts
from dicomweb.backends.dimse import DimseBackend
from dicomweb.backends.pool import is_ready
from dicomweb.backends.settings import PacsSettings
from dicomweb.errors import PacsStatusError, PacsTimeout, PacsUnavailable
from tests.dicomweb.conftest import Pacs, demo_patient, new_uid, start_pacs

IDLE_TIMEOUT_S = 2


@pytest.fixture(scope="module")
def short_pacs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pacs]:
    running = start_pacs(tmp_path_factory.mktemp("orthanc-idle"), dicom_scp_timeout=IDLE_TIMEOUT_S)
    yield running
    running.process.stop()


@pytest.fixture
def short_backend(short_pacs: Pacs) -> Iterator[DimseBackend]:
    if not short_pacs.process.is_running():
        short_pacs.process.start()
    with DimseBackend(short_pacs.settings(max_idle_s=60.0)) as backend:
        yield backend


def _wait_until(predicate: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def test_association_dropped_by_the_pacs_is_replaced(short_backend: DimseBackend) -> None:
    assert short_backend.echo() == 0
    lease = short_backend.pool.acquire(("query",), lambda: (query_contexts(), []))
    dropped = lease.assoc
    short_backend.pool.release(lease)
    # Orthanc closes it after DicomScpTimeout; pynetdicom's network thread sees the closed
    # socket and leaves the data-transfer state, while the parked reactor has not looked yet
    assert _wait_until(lambda: not is_ready(dropped), IDLE_TIMEOUT_S + 3)
    assert short_backend.find_studies({"PatientID": "nobody"}) == []
    assert short_backend.echo() == 0
    assert short_backend.pool.opened == 2
    # the pool woke the dropped association's reactor, which wound it up: no thread left behind
    assert _wait_until(lambda: not dropped.is_alive() and not dropped.dul.is_alive(), 5)
    assert not dropped.is_established


def test_idle_association_older_than_max_idle_is_not_reused(short_pacs: Pacs) -> None:
    with DimseBackend(short_pacs.settings(max_idle_s=0.2)) as backend:
        backend.echo()
        time.sleep(0.3)
        backend.echo()
        assert backend.pool.opened == 2


def test_unavailable_while_stopped_then_recovers(
    short_backend: DimseBackend, short_pacs: Pacs
) -> None:
    when = datetime(2024, 2, 2, 2, 2)
    spec = StudySpec(new_uid(), demo_patient(2), "UNAV1", "CR", when, instance_count=1)
    assert short_backend.store(build_study(spec)).ok
    short_pacs.process.stop()
    try:
        for call in (
            short_backend.echo,
            lambda: short_backend.find_studies({"StudyInstanceUID": spec.study_uid}),
            lambda: short_backend.retrieve_study(spec.study_uid),
            lambda: short_backend.store(build_study(spec)),
        ):
            with pytest.raises(PacsUnavailable) as caught:
                call()
            assert caught.value.http_status == 503
    finally:
        short_pacs.process.start()
    assert short_backend.echo() == 0
    assert len(list(short_backend.retrieve_study(spec.study_uid))) == 1


def test_pacs_lost_midway_through_a_store_is_reported_per_instance(
    short_backend: DimseBackend, short_pacs: Pacs
) -> None:
    when = datetime(2024, 3, 3, 3, 3)
    spec = StudySpec(new_uid(), demo_patient(3), "LOST1", "CT", when, instance_count=600,
                     max_size=32)  # fmt: skip
    client = short_pacs.process.client

    def stop_when_some_are_stored() -> None:
        while int(client.get_json("/statistics")["CountInstances"]) < 20:
            time.sleep(0.01)
        short_pacs.process.kill()

    stopper = threading.Thread(target=stop_when_some_are_stored)
    stopper.start()
    try:
        result = short_backend.store(build_study(spec))
    finally:
        stopper.join(30)
        short_pacs.process.start()
    assert len(result.instances) == 600
    assert 0 < len(result.stored) < 600
    assert {f.status for f in result.failures} == {0x0110}
    assert all(f.reason.startswith("not stored: ") for f in result.failures)


def test_calling_aet_unknown_to_the_pacs(short_pacs: Pacs) -> None:
    """The PACS answers only the AE titles it knows (the demo Orthanc refuses others at
    association): the gateway says the PACS is unavailable (503), it does not hang or crash."""
    settings = short_pacs.settings(calling_aet="STRANGER")
    with DimseBackend(settings) as backend, pytest.raises(PacsUnavailable) as caught:
        backend.find_studies({"PatientID": "x"})
    assert caught.value.http_status == 503


def test_wrong_called_aet_is_rejected(short_pacs: Pacs) -> None:
    # Orthanc sends A-ASSOCIATE-RJ and closes at once; pynetdicom sometimes sees the close first
    settings = short_pacs.settings(called_aet="NOT_ORTHANC")
    with DimseBackend(settings) as backend, pytest.raises(PacsUnavailable) as caught:
        backend.echo()
    assert caught.value.http_status == 503


def test_silent_peer_times_out() -> None:
    """A peer that accepts TCP but never answers A-ASSOCIATE-RQ: PacsTimeout (504)."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        port = silent.getsockname()[1]
        settings = PacsSettings(port=port, acse_timeout_s=0.5, connect_timeout_s=0.5)
        with DimseBackend(settings) as backend, pytest.raises(PacsTimeout) as caught:
            backend.echo()
    assert caught.value.http_status == 504


def test_pool_wait_is_bounded(short_backend: DimseBackend, short_pacs: Pacs) -> None:
    with DimseBackend(short_pacs.settings(pool_size=1, pool_wait_s=0.2)) as backend:
        lease = backend.pool.acquire(("query",), lambda: (query_contexts(), []))
        try:
            with pytest.raises(PacsTimeout, match="no free PACS association"):
                backend.echo()
        finally:
            backend.pool.release(lease)
        assert backend.echo() == 0


def test_status_error_is_not_a_connection_error() -> None:
    error = PacsStatusError("the PACS failed the C-FIND", status=0xA700)
    assert error.status == 0xA700
    assert "0xA700" in str(error)
    assert not isinstance(error, PacsUnavailable)
