"""Synthetic DICOM studies: realistic tags and pixel data, deterministic, fast.

Each study is built from a :class:`StudySpec` as a generator of pydicom datasets, one image per
instance, so memory does not grow with the study. The modules follow PS3.3 Annex A (CT A.3,
MR A.4, CR A.2, DX A.26, MG A.27, US A.6, Secondary Capture A.8 for anything else): Patient,
General Study, General Series, Frame of Reference, General Equipment, General Image, Image Plane,
Image Pixel, the modality's own module, VOI LUT and SOP Common. Names carry Romanian and Polish
diacritics, so every dataset is encoded in UTF-8 (``SpecificCharacterSet`` ``ISO_IR 192``,
PS3.3 §C.12.1.1.2).

UIDs are derived from the Study Instance UID and the seed (``generate_uid`` with entropy
sources, PS3.5 §B.2: a ``2.25``-style hash under pydicom's root), so the same spec always builds
byte-identical instances. Pixel data is a cheap phantom: one ellipse body, one inner organ and a
noise field per series, modulated per slice (200 CT slices of 512x512 in a few tenths of a second).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    UID,
    ComputedRadiographyImageStorage,
    CTImageStorage,
    DigitalMammographyXRayImageStorageForPresentation,
    DigitalXRayImageStorageForPresentation,
    ExplicitVRLittleEndian,
    MRImageStorage,
    SecondaryCaptureImageStorage,
    UltrasoundImageStorage,
    generate_uid,
)

CHARSET = "ISO_IR 192"
MANUFACTURER = "SYNTHETIC"


@dataclass(frozen=True)
class Patient:
    """The patient as the images carry it (PS3.3 §C.7.1.1)."""

    patient_id: str
    family: str
    given: str
    birth_date: date
    sex: str  # M | F | O
    issuer: str = ""  # Issuer of Patient ID (0010,0021); empty: the tag is left out

    @property
    def name(self) -> str:
        """Person Name, alphabetic group ``Family^Given`` (PS3.5 §6.2.1)."""
        return f"{self.family}^{self.given}"


DEMO_PATIENTS = (
    Patient("DEMO-0001", "Ștefănescu", "Ana-Maria", date(1978, 3, 14), "F"),
    Patient("DEMO-0002", "Țărănuș", "Ion", date(1951, 11, 2), "M"),
    Patient("DEMO-0003", "Wąsowska", "Małgorzata", date(1985, 6, 30), "F"),
    Patient("DEMO-0004", "Żółkiewski", "Łukasz", date(1969, 1, 21), "M"),
    Patient("DEMO-0005", "Brâncoveanu", "Irina", date(1993, 9, 8), "F"),
)


@dataclass(frozen=True)
class StudySpec:
    """What one synthetic study holds. ``instance_count`` is the total over all series.

    ``max_size`` caps Rows and Columns (the modality's usual size otherwise), to keep demo data
    small; ``seed`` makes pixel data and UIDs reproducible.
    """

    study_uid: str
    patient: Patient
    accession_number: str
    modality: str
    performed_at: datetime
    description: str = ""
    body_part: str = ""
    series_count: int = 1
    instance_count: int = 1
    referring_physician: str = ""
    institution: str = "Spitalul Clinic Demo"
    max_size: int | None = None
    seed: int = 0


@dataclass(frozen=True)
class _Profile:
    sop_class: UID
    rows: int
    cols: int
    bits_stored: int
    signed: bool
    intercept: float
    slope: float
    window: tuple[float, float]
    levels: tuple[int, int, int]  # stored values of background, body, organ
    series: tuple[str, ...]


_PROFILES = {
    "CT": _Profile(
        CTImageStorage, rows=512, cols=512, bits_stored=16, signed=True, intercept=-1024.0,
        slope=1.0, window=(40.0, 400.0), levels=(24, 1064, 1224),
        series=("Axial 5.0 mm", "Axial 1.25 mm contrast", "Coronal MPR", "Sagittal MPR"),
    ),
    "MR": _Profile(
        MRImageStorage, rows=256, cols=256, bits_stored=12, signed=False, intercept=0.0,
        slope=1.0, window=(700.0, 1400.0), levels=(20, 900, 1500),
        series=("T1 SE sag", "T2 TSE sag", "T2 TSE ax", "STIR cor", "T1 FS post-contrast"),
    ),
    "CR": _Profile(
        ComputedRadiographyImageStorage, rows=2048, cols=1680, bits_stored=12, signed=False,
        intercept=0.0, slope=1.0, window=(2048.0, 4096.0), levels=(300, 1800, 2900),
        series=("PA", "LAT"),
    ),
    "DX": _Profile(
        DigitalXRayImageStorageForPresentation, rows=2048, cols=1680, bits_stored=12,
        signed=False, intercept=0.0, slope=1.0, window=(2048.0, 4096.0),
        levels=(300, 1800, 2900), series=("PA", "LAT"),
    ),
    "MG": _Profile(
        DigitalMammographyXRayImageStorageForPresentation, rows=2294, cols=1914, bits_stored=12,
        signed=False, intercept=0.0, slope=1.0, window=(2000.0, 3500.0),
        levels=(150, 1700, 2600), series=("Screening",),
    ),
    "US": _Profile(
        UltrasoundImageStorage, rows=480, cols=640, bits_stored=8, signed=False, intercept=0.0,
        slope=1.0, window=(128.0, 256.0), levels=(0, 90, 170),
        series=("B-mode", "Doppler", "Measurements"),
    ),
}  # fmt: skip
_OTHER = _Profile(
    SecondaryCaptureImageStorage, rows=512, cols=512, bits_stored=8, signed=False,
    intercept=0.0, slope=1.0, window=(128.0, 256.0), levels=(0, 100, 200), series=("Images",),
)  # fmt: skip
_MG_VIEWS = (("R", "CC"), ("L", "CC"), ("R", "MLO"), ("L", "MLO"))


def _uid(spec: StudySpec, *parts: object) -> UID:
    """A UID derived from the study, the seed and ``parts``, one per distinct ``parts``.

    pydicom concatenates its entropy sources without a separator, so series 1 image 12 and
    series 11 image 2 gave the same SOP Instance UID: the parts are joined with ``/``, which
    neither a UID nor a number contains, into one source.
    """
    return generate_uid(entropy_srcs=["/".join([spec.study_uid, str(spec.seed), *map(str, parts)])])


def _shape(profile: _Profile, max_size: int | None) -> tuple[int, int]:
    rows, cols = profile.rows, profile.cols
    if max_size and max(rows, cols) > max_size:
        scale = max_size / max(rows, cols)
        rows, cols = max(16, int(rows * scale)), max(16, int(cols * scale))
    return rows, cols


def _split(total: int, parts: int) -> list[int]:
    """Instances per series: as even as possible, earlier series take the remainder."""
    parts = max(1, min(parts, total))
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


class _Phantom:
    """Precomputed per series: normalised radii of the body and organ ellipses and a noise field."""

    def __init__(self, rows: int, cols: int, profile: _Profile, rng: np.random.Generator) -> None:
        y = np.linspace(-1.0, 1.0, rows, dtype=np.float32)[:, None]
        x = np.linspace(-1.0, 1.0, cols, dtype=np.float32)[None, :]
        cx, cy = rng.uniform(-0.05, 0.05, 2)
        self.body = ((x - cx) / 0.85) ** 2 + ((y - cy) / 0.70) ** 2
        self.organ = ((x - cx - 0.25) / 0.22) ** 2 + ((y - cy) / 0.30) ** 2
        self.kind = "u8" if profile.bits_stored <= 8 else "i16" if profile.signed else "u16"
        amplitude = max(2, (profile.levels[1] - profile.levels[0]) // 25)
        noise = rng.integers(-amplitude, amplitude + 1, size=(rows, cols), dtype=np.int32)
        self.noise = noise.astype(np.int16)
        self.levels = profile.levels

    def image(self, index: int, count: int) -> bytes:
        t = (index + 0.5) / count
        body_r = 0.55 + 0.45 * math.sin(math.pi * t)  # slices grow then shrink through the body
        organ_r = max(0.0, math.sin(math.pi * min(1.0, t * 1.6)))
        background, body, organ = self.levels
        img = np.where(self.body < body_r, np.int16(body), np.int16(background))
        if organ_r > 0.05:
            img = np.where(self.organ < organ_r, np.int16(organ), img)
        img = img + np.roll(self.noise, index * 7, axis=1)
        if self.kind == "u8":
            return np.clip(img, 0, 255).astype(np.uint8).tobytes()
        if self.kind == "u16":
            return np.clip(img, 0, None).astype(np.uint16).tobytes()
        return img.astype(np.int16).tobytes()


def _common(spec: StudySpec, profile: _Profile) -> Dataset:
    """Patient, General Study, General Equipment and SOP Common attributes of every instance."""
    ds = Dataset()
    ds.SpecificCharacterSet = CHARSET
    ds.SOPClassUID = profile.sop_class
    p = spec.patient
    ds.PatientName = p.name
    ds.PatientID = p.patient_id
    if p.issuer:
        ds.IssuerOfPatientID = p.issuer
    ds.PatientBirthDate = p.birth_date.strftime("%Y%m%d")
    ds.PatientSex = p.sex
    when = spec.performed_at
    years = (
        when.year
        - p.birth_date.year
        - ((when.month, when.day) < (p.birth_date.month, p.birth_date.day))
    )
    ds.PatientAge = f"{max(0, years):03d}Y"
    ds.StudyInstanceUID = spec.study_uid
    ds.StudyDate = when.strftime("%Y%m%d")
    ds.StudyTime = when.strftime("%H%M%S")
    ds.AccessionNumber = spec.accession_number
    ds.ReferringPhysicianName = spec.referring_physician
    ds.StudyID = spec.accession_number[-16:]
    ds.StudyDescription = spec.description
    ds.Manufacturer = MANUFACTURER
    ds.ManufacturerModelName = f"Phantom {spec.modality}"
    ds.InstitutionName = spec.institution
    ds.Modality = spec.modality
    if spec.body_part:
        ds.BodyPartExamined = spec.body_part
    return ds


def _series(ds: Dataset, spec: StudySpec, profile: _Profile, number: int, start: datetime) -> None:
    ds.SeriesInstanceUID = _uid(spec, "series", number)
    ds.SeriesNumber = number
    ds.SeriesDescription = profile.series[(number - 1) % len(profile.series)]
    ds.SeriesDate = start.strftime("%Y%m%d")
    ds.SeriesTime = start.strftime("%H%M%S")
    if spec.modality in ("CT", "MR"):
        ds.FrameOfReferenceUID = _uid(spec, "frame", number)
        ds.PositionReferenceIndicator = ""
        ds.PatientPosition = "HFS"


def _pixel_module(ds: Dataset, profile: _Profile, rows: int, cols: int) -> None:
    """Image Pixel module (PS3.3 §C.7.6.3) and VOI LUT (§C.11.2)."""
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = rows
    ds.Columns = cols
    eight = profile.bits_stored <= 8
    ds.BitsAllocated = 8 if eight else 16
    ds.BitsStored = profile.bits_stored
    ds.HighBit = profile.bits_stored - 1
    ds.PixelRepresentation = 1 if profile.signed else 0
    ds.WindowCenter = profile.window[0]
    ds.WindowWidth = profile.window[1]
    if profile.sop_class in (
        CTImageStorage,
        DigitalXRayImageStorageForPresentation,
        DigitalMammographyXRayImageStorageForPresentation,
    ):
        ds.RescaleIntercept = profile.intercept
        ds.RescaleSlope = profile.slope
        ds.RescaleType = "HU" if profile.sop_class == CTImageStorage else "US"


def _modality_module(ds: Dataset, spec: StudySpec, index: int, count: int, mm: float) -> None:
    """The modality's own image module (CT §C.8.2.1, MR §C.8.3.1, CR, DX, MG, US)."""
    m = spec.modality
    if m in ("CT", "MR"):
        thickness = 5.0 if m == "CT" else 4.0
        z = -index * thickness
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.PixelSpacing = [mm, mm]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.ImagePositionPatient = [-mm * ds.Columns / 2, -mm * ds.Rows / 2, z]
        ds.SliceThickness = thickness
        ds.SliceLocation = z
    if m == "CT":
        ds.KVP = 120
        ds.XRayTubeCurrent = 250
        ds.ConvolutionKernel = "STANDARD"
    elif m == "MR":
        ds.ScanningSequence = "SE"
        ds.SequenceVariant = "NONE"
        ds.ScanOptions = ""
        ds.MRAcquisitionType = "2D"
        ds.RepetitionTime = 520.0
        ds.EchoTime = 14.0
        ds.EchoTrainLength = 1
        ds.MagneticFieldStrength = 1.5
        ds.ImagedNucleus = "1H"
    elif m in ("CR", "DX"):
        ds.ImageType = ["ORIGINAL", "PRIMARY", ""]
        ds.ViewPosition = "PA" if index % 2 == 0 else "LL"
        ds.ImagerPixelSpacing = [mm, mm]
        ds.PixelSpacing = [mm, mm]
        ds.KVP = 110
        if m == "DX":
            ds.PresentationIntentType = "FOR PRESENTATION"
            ds.PixelIntensityRelationship = "LOG"
            ds.PixelIntensityRelationshipSign = 1
            ds.PresentationLUTShape = "IDENTITY"
            ds.BurnedInAnnotation = "NO"
    elif m == "MG":
        laterality, view = _MG_VIEWS[index % len(_MG_VIEWS)]
        ds.ImageType = ["ORIGINAL", "PRIMARY", ""]
        ds.ImageLaterality = laterality
        ds.ViewPosition = view
        ds.PatientOrientation = ["A", "R" if laterality == "L" else "L"]
        ds.ImagerPixelSpacing = [mm, mm]
        ds.PresentationIntentType = "FOR PRESENTATION"
        ds.PresentationLUTShape = "IDENTITY"
        ds.BurnedInAnnotation = "NO"
    elif m == "US":
        ds.ImageType = ["ORIGINAL", "PRIMARY", "ABDOMINAL"]
        ds.PhotometricInterpretation = "MONOCHROME2"
    else:
        ds.ConversionType = "WSD"


def build_study(spec: StudySpec) -> Iterator[Dataset]:
    """Yield the study's instances (PS3.10 datasets with file meta, Explicit VR Little Endian)."""
    profile = _PROFILES.get(spec.modality, _OTHER)
    rows, cols = _shape(profile, spec.max_size)
    mm = round(0.7 * profile.rows / rows, 4) if spec.modality in ("CT", "MR") else 0.15
    rng = np.random.default_rng([spec.seed, abs(hash_uid(spec.study_uid))])
    sizes = _split(spec.instance_count, spec.series_count)
    for s, count in enumerate(sizes, start=1):
        phantom = _Phantom(rows, cols, profile, rng)
        start = spec.performed_at + timedelta(minutes=4 * (s - 1))
        for k in range(count):
            ds = _common(spec, profile)
            _series(ds, spec, profile, s, start)
            ds.SOPInstanceUID = _uid(spec, "instance", s, k)
            ds.InstanceNumber = k + 1
            ds.AcquisitionNumber = 1
            content = start + timedelta(milliseconds=250 * k)
            ds.ContentDate = content.strftime("%Y%m%d")
            ds.ContentTime = content.strftime("%H%M%S.%f")
            _pixel_module(ds, profile, rows, cols)
            _modality_module(ds, spec, k, count, mm)
            ds.PixelData = phantom.image(k, count)
            ds.file_meta = _file_meta(ds)
            yield ds


def _file_meta(ds: Dataset) -> FileMetaDataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    return meta


def hash_uid(uid: str) -> int:
    """A stable 63-bit integer from a UID (Python's ``hash`` of str is salted per process)."""
    value = 0
    for char in uid.encode("ascii", "replace"):
        value = (value * 131 + char) % (1 << 63)
    return value


def ct_study(
    study_uid: str,
    instances: int = 200,
    *,
    size: int = 512,
    seed: int = 0,
    patient: Patient = DEMO_PATIENTS[0],
    accession_number: str = "BENCH0001",
    series_count: int = 1,
) -> Iterator[Dataset]:
    """A CT study of ``instances`` slices of ``size`` x ``size`` int16 (for benchmarks)."""
    spec = StudySpec(
        study_uid=study_uid,
        patient=patient,
        accession_number=accession_number,
        modality="CT",
        performed_at=datetime(2024, 5, 6, 9, 30, 0),
        description="CT Torace nativ",
        body_part="CHEST",
        series_count=series_count,
        instance_count=instances,
        referring_physician="Popescu^Mihai^^Dr.",
        max_size=size,
        seed=seed,
    )
    return build_study(spec)
