"""C-STORE of batches against a real Orthanc (PS3.4 Annex B); outcomes are data."""

from __future__ import annotations

import time
from datetime import datetime

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

from demo.synthetic import StudySpec, build_study
from dicomweb.backends.dimse import DimseBackend
from tests.dicomweb.conftest import demo_patient, new_uid


def _spec(modality: str = "CT", count: int = 4) -> StudySpec:
    when = datetime(2024, 8, 9, 10, 11)
    patient = demo_patient(3)
    return StudySpec(new_uid(), patient, "ST" + patient.patient_id[-6:], modality, when,
                     series_count=2, instance_count=count, max_size=32)  # fmt: skip


def test_store_a_study_then_find_it(backend: DimseBackend) -> None:
    spec = _spec("MR", 6)
    result = backend.store(build_study(spec))
    assert result.ok
    assert len(result.stored) == 6
    assert not result.failures
    [study] = backend.find_studies({"PatientID": spec.patient.patient_id})
    assert study.StudyInstanceUID == spec.study_uid
    assert int(study.NumberOfStudyRelatedSeries) == 2


def test_studies_of_one_kind_reuse_one_association(backend: DimseBackend) -> None:
    backend.store(build_study(_spec()))
    opened = backend.pool.opened
    backend.store(build_study(_spec()))
    assert backend.pool.opened == opened


def test_refused_and_malformed_instances_are_reported_fast(backend: DimseBackend) -> None:
    good = list(build_study(_spec(count=2)))
    unknown_class = next(iter(build_study(_spec(count=1))))
    unknown_class.SOPClassUID = "1.2.3.4.5.6.7"  # not a storage SOP class Orthanc accepts
    unknown_class.file_meta.MediaStorageSOPClassUID = "1.2.3.4.5.6.7"
    no_meta = Dataset()
    no_meta.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    no_meta.SOPInstanceUID = new_uid()
    started = time.monotonic()
    result = backend.store([*good, unknown_class, no_meta])
    assert time.monotonic() - started < 5  # no timeout per refused instance
    statuses = {i.sop_instance_uid: i.status for i in result.instances}
    assert statuses[str(unknown_class.SOPInstanceUID)] == 0x0122
    assert statuses[str(no_meta.SOPInstanceUID)] == 0xC000
    assert len(result.stored) == 2
    assert not result.ok


def test_an_empty_batch_stores_nothing(backend: DimseBackend) -> None:
    assert backend.store([]).instances == ()


def test_instance_with_file_meta_only_from_pydicom(backend: DimseBackend) -> None:
    ds = next(iter(build_study(_spec(count=1))))
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    assert backend.store([ds]).ok
