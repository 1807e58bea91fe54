"""Synthetic studies: deterministic, realistic tags, decodable pixels, fast."""

from __future__ import annotations

import time
from datetime import datetime
from io import BytesIO

import pytest
from pydicom import dcmread, dcmwrite
from pydicom.dataset import Dataset

from demo.synthetic import DEMO_PATIENTS, StudySpec, build_study, ct_study

WHEN = datetime(2024, 5, 6, 9, 30, 15)


def _bytes(ds: Dataset) -> bytes:
    out = BytesIO()
    dcmwrite(out, ds, enforce_file_format=True)
    return out.getvalue()


def _spec(modality: str, **changes: object) -> StudySpec:
    base: dict[str, object] = {
        "study_uid": "2.25.123456789",
        "patient": DEMO_PATIENTS[2],
        "accession_number": "ACC42",
        "modality": modality,
        "performed_at": WHEN,
        "description": "Badanie",
        "series_count": 2,
        "instance_count": 5,
        "max_size": 64,
    }
    base.update(changes)
    return StudySpec(**base)  # type: ignore[arg-type]


def test_same_spec_same_bytes_other_seed_other_study() -> None:
    first = [_bytes(ds) for ds in build_study(_spec("CT"))]
    again = [_bytes(ds) for ds in build_study(_spec("CT"))]
    other = list(build_study(_spec("CT", seed=1)))
    assert first == again
    assert {str(ds.SOPInstanceUID) for ds in other}.isdisjoint(
        {str(dcmread(BytesIO(b)).SOPInstanceUID) for b in first}
    )


@pytest.mark.parametrize(
    ("modality", "sop_class", "dtype"),
    [
        ("CT", "1.2.840.10008.5.1.4.1.1.2", "int16"),
        ("MR", "1.2.840.10008.5.1.4.1.1.4", "uint16"),
        ("CR", "1.2.840.10008.5.1.4.1.1.1", "uint16"),
        ("DX", "1.2.840.10008.5.1.4.1.1.1.1", "uint16"),
        ("MG", "1.2.840.10008.5.1.4.1.1.1.2", "uint16"),
        ("US", "1.2.840.10008.5.1.4.1.1.6.1", "uint8"),
        ("XA", "1.2.840.10008.5.1.4.1.1.7", "uint8"),  # anything else: Secondary Capture
    ],
)
def test_each_modality_is_a_valid_decodable_image(
    modality: str, sop_class: str, dtype: str
) -> None:
    datasets = list(build_study(_spec(modality)))
    assert len(datasets) == 5
    assert [int(ds.SeriesNumber) for ds in datasets] == [1, 1, 1, 2, 2]
    ds = dcmread(BytesIO(_bytes(datasets[0])))
    assert ds.SOPClassUID == sop_class
    assert ds.Modality == modality
    assert ds.SpecificCharacterSet == "ISO_IR 192"
    assert str(ds.PatientName) == "Wąsowska^Małgorzata"
    assert (ds.PatientID, ds.AccessionNumber, ds.StudyInstanceUID) == (
        "DEMO-0003", "ACC42", "2.25.123456789",
    )  # fmt: skip
    assert (ds.StudyDate, ds.StudyTime) == ("20240506", "093015")
    assert ds.PatientBirthDate == "19850630"
    assert ds.PatientSex == "F"
    assert ds.PatientAge == "038Y"
    assert max(ds.Rows, ds.Columns) <= 64
    pixels = ds.pixel_array
    assert pixels.shape == (ds.Rows, ds.Columns)
    assert str(pixels.dtype) == dtype
    assert pixels.max() > pixels.min()  # there is an image, not a flat field
    assert "WindowCenter" in ds
    assert "WindowWidth" in ds


def test_ct_geometry_and_rescale() -> None:
    slices = list(ct_study("2.25.42", 3, size=128))
    first, second = slices[0], slices[1]
    assert (first.Rows, first.Columns) == (128, 128)
    assert (first.RescaleIntercept, first.RescaleSlope, first.RescaleType) == (-1024, 1, "HU")
    assert first.ImageOrientationPatient == [1, 0, 0, 0, 1, 0]
    assert second.ImagePositionPatient[2] == first.ImagePositionPatient[2] - first.SliceThickness
    assert first.FrameOfReferenceUID == second.FrameOfReferenceUID
    assert first.BodyPartExamined == "CHEST"


def test_mammography_has_four_views() -> None:
    views = [(ds.ImageLaterality, ds.ViewPosition) for ds in build_study(
        _spec("MG", series_count=1, instance_count=4))]  # fmt: skip
    assert views == [("R", "CC"), ("L", "CC"), ("R", "MLO"), ("L", "MLO")]


def test_two_hundred_ct_slices_of_512_are_quick() -> None:
    started = time.perf_counter()
    total = sum(len(ds.PixelData) for ds in ct_study("2.25.43", 200))
    elapsed = time.perf_counter() - started
    assert total == 200 * 512 * 512 * 2
    assert elapsed < 3.0  # about 0.3 s on a 2-core machine; generous for a busy CI runner


def test_many_series_never_share_an_instance_uid() -> None:
    # series 1 image 12 and series 11 image 2 once hashed to the same UID
    spec = _spec("CT", series_count=12, instance_count=430, max_size=16)
    datasets = list(build_study(spec))
    assert len({str(ds.SOPInstanceUID) for ds in datasets}) == 430
    assert len({str(ds.SeriesInstanceUID) for ds in datasets}) == 12
    assert [str(ds.SOPInstanceUID) for ds in build_study(spec)] == [
        str(ds.SOPInstanceUID) for ds in datasets
    ]
