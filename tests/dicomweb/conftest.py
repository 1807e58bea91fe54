"""A real Orthanc for the PACS tests, started once per test run on random free ports.

The project's setup always installs Orthanc (scripts/install-pacs-deps.sh); where the binary is
missing the tests that need it are skipped with that reason. Shared data: a handful of
synthetic studies stored once (read-only for the tests); tests that write use fresh UIDs.
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import pytest

from demo.orthanc import Modality, OrthancError, OrthancProcess, free_port, orthanc_binary
from demo.synthetic import DEMO_PATIENTS, Patient, StudySpec, build_study
from dicomweb.backends.dimse import DimseBackend
from dicomweb.backends.settings import PacsSettings

CALLING_AET = "FHIRGW"
SCP_AET = "FHIRGW_SCP"
NO_ORTHANC = "Orthanc is not installed: run scripts/install-pacs-deps.sh"


def new_uid() -> str:
    """A fresh UID under 2.25 (PS3.5 §B.2), unique per call."""
    return f"2.25.{uuid.uuid4().int}"


def dataset_bytes(part10: bytes) -> bytes:
    """The dataset of a Part-10 file without preamble and File Meta group (PS3.10 §7.1)."""
    assert part10[128:132] == b"DICM"
    # (0002,0000) UL, explicit VR little endian: tag 4 bytes, VR 2, length 2, value 4
    group_length = struct.unpack("<I", part10[140:144])[0]
    return part10[144 + group_length :]


@dataclass(frozen=True)
class Pacs:
    """One running Orthanc and how the gateway reaches it."""

    process: OrthancProcess
    scp_port: int

    def settings(self, **changes: object) -> PacsSettings:
        base: dict[str, object] = {
            "host": "127.0.0.1",
            "port": self.process.dicom_port,
            "called_aet": self.process.aet,
            "calling_aet": CALLING_AET,
            "storage_scp_aet": SCP_AET,
            "storage_scp_port": self.scp_port,
            "dimse_timeout_s": 10.0,
            "acse_timeout_s": 5.0,
        }
        base.update(changes)
        return PacsSettings(**base)  # type: ignore[arg-type]


def start_pacs(var_dir: Path, *, dicom_scp_timeout: int = 30) -> Pacs:
    if orthanc_binary() is None:
        pytest.skip(NO_ORTHANC)
    # a port found free can be taken by another test process before Orthanc binds it: then
    # Orthanc exits at start-up, and it is started again on other ports (at most three times)
    for attempt in range(3):
        scp_port = free_port()
        process = OrthancProcess(
            var_dir,
            http_port=free_port(),
            dicom_port=free_port(),
            modalities=(Modality(CALLING_AET, port=scp_port), Modality(SCP_AET, port=scp_port)),
            dicom_scp_timeout=dicom_scp_timeout,
        )
        try:
            process.start()
        except OrthancError as exc:
            if "exited during start-up" not in str(exc) or attempt == 2:
                raise
            continue
        return Pacs(process, scp_port)
    raise AssertionError("unreachable")


@pytest.fixture(scope="session")
def pacs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pacs]:
    """The Orthanc shared by the whole run (idle timeout 30 s, as in production)."""
    running = start_pacs(tmp_path_factory.mktemp("orthanc"))
    yield running
    running.process.stop()


@pytest.fixture
def backend(pacs: Pacs) -> Iterator[DimseBackend]:
    """A fresh C-GET backend per test."""
    with DimseBackend(pacs.settings()) as b:
        yield b


@dataclass(frozen=True)
class StoredStudy:
    spec: StudySpec
    instances: int
    series: int


def _spec(
    patient: Patient, modality: str, when: datetime, series: int, count: int, accession: str
) -> StudySpec:
    return StudySpec(
        study_uid=new_uid(),
        patient=patient,
        accession_number=accession,
        modality=modality,
        performed_at=when,
        description=f"{modality} demo",
        body_part={"CT": "CHEST", "MR": "LSPINE", "MG": "BREAST"}.get(modality, ""),
        series_count=series,
        instance_count=count,
        referring_physician="Popescu^Mihai",
        max_size=64,
    )


@pytest.fixture(scope="session")
def stored(pacs: Pacs) -> dict[str, StoredStudy]:
    """Studies stored once per run: CT (2 series, 30 instances), MR, CR, MG, US."""
    tag = uuid.uuid4().hex[:6].upper()
    specs = {
        "CT": _spec(DEMO_PATIENTS[0], "CT", datetime(2024, 5, 6, 9, 30), 2, 30, f"CT{tag}"),
        "MR": _spec(DEMO_PATIENTS[3], "MR", datetime(2023, 11, 20, 14, 5), 3, 9, f"MR{tag}"),
        "CR": _spec(DEMO_PATIENTS[1], "CR", datetime(2024, 1, 15, 8, 0), 1, 2, f"CR{tag}"),
        "MG": _spec(DEMO_PATIENTS[2], "MG", datetime(2024, 3, 1, 10, 0), 1, 4, f"MG{tag}"),
        "US": _spec(DEMO_PATIENTS[4], "US", datetime(2024, 6, 30, 16, 45), 1, 3, f"US{tag}"),
    }
    out: dict[str, StoredStudy] = {}
    with DimseBackend(pacs.settings()) as b:
        for key, spec in specs.items():
            result = b.store(build_study(spec))
            assert result.ok, result.failures
            out[key] = StoredStudy(spec, spec.instance_count, spec.series_count)
    return out


def demo_patient(n: int) -> Patient:
    return Patient(f"T-{uuid.uuid4().hex[:10]}", "Test", f"Pacient{n}", date(1990, 1, 1), "O")
