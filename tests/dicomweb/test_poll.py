"""pynetdicom's network poll: brisk while an association is leased, its own default while idle."""

from __future__ import annotations

import pytest

from dicomweb.backends.contexts import query_contexts
from dicomweb.backends.dimse import DimseBackend
from dicomweb.backends.settings import IDLE_POLL_S, PacsSettings
from tests.dicomweb.conftest import Pacs


def _build() -> tuple[list, list]:
    return query_contexts(), []


def test_a_leased_association_polls_briskly_and_an_idle_one_at_the_default(pacs: Pacs) -> None:
    with DimseBackend(pacs.settings(busy_poll_s=0.00005)) as backend:
        lease = backend.pool.acquire(("query",), _build)
        assert lease.assoc.dul._run_loop_delay == 0.00005
        backend.pool.release(lease)
        assert lease.assoc.dul._run_loop_delay == IDLE_POLL_S
        again = backend.pool.acquire(("query",), _build)
        assert again.assoc is lease.assoc  # the same association, reused: brisk again
        assert again.assoc.dul._run_loop_delay == 0.00005
        backend.pool.release(again)
        assert backend.echo() == 0


@pytest.mark.parametrize("bad", [-0.001, 0.01])
def test_a_poll_interval_outside_zero_to_the_default_is_refused(bad: float) -> None:
    with pytest.raises(ValueError, match="busy_poll_s"):
        PacsSettings(busy_poll_s=bad)


def test_no_patient_data_reaches_the_log_from_pynetdicom(
    pacs: Pacs, caplog: pytest.LogCaptureFixture
) -> None:
    """pynetdicom would log every query and answer identifier (patient names, IDs) at INFO."""
    import logging

    from demo.synthetic import DEMO_PATIENTS, StudySpec, build_study
    from tests.dicomweb.conftest import new_uid

    patient = DEMO_PATIENTS[0]
    with DimseBackend(pacs.settings()) as backend:
        uid = new_uid()
        spec = StudySpec(
            study_uid=uid,
            patient=patient,
            accession_number="LOG1",
            modality="CT",
            performed_at=__import__("datetime").datetime(2025, 1, 2, 3, 4),
            instance_count=1,
            max_size=16,
        )
        assert backend.store(build_study(spec)).ok
        with caplog.at_level(logging.DEBUG, logger="pynetdicom"):
            found = backend.find_studies({"StudyInstanceUID": uid, "PatientName": ""})
            assert [str(ds.PatientID) for ds in found] == [patient.patient_id]
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "Find" in logged  # pynetdicom did log the exchange itself
    assert patient.family not in logged
    assert patient.patient_id not in logged
