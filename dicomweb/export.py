"""A study as a ZIP of DICOM files with a DICOMDIR, streamed (issue text F16), no web framework.

The archive is a DICOM File-set (PS3.10 §8): every instance is a Part-10 file (PS3.10 §7) whose
File ID has at most 8 components of at most 8 characters from A-Z, 0-9 and ``_`` (PS3.10 §8.5,
§8.2), laid out ``PTnnnnnn/STnnnnnn/SEnnnnnn/IMnnnnnn`` by order of first appearance, and the
``DICOMDIR`` file (PS3.10 §8.6; Basic Directory IOD, PS3.3 §F.5) holds a PATIENT / STUDY /
SERIES / IMAGE record per level (PS3.3 §F.5.1-§F.5.3) referencing them. pydicom's ``FileSet``
encodes the DICOMDIR (its record offsets, PS3.3 §F.3.2.2) from light copies of each instance's
attributes, without pixel data, and assigns the same File IDs; that is checked before the
DICOMDIR is written.

Streaming: each instance enters the ZIP as it arrives and leaves as bytes at once (the ZIP is
written without seeking, with data descriptors, APPNOTE §4.3.9), so memory holds one instance
and the light attributes, whatever the size of the study. The DICOMDIR comes last.

Encryption, optional: WinZip AES-256 (AE-2) with the patient's password, through pyzipper.
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import pyzipper  # type: ignore[import-untyped]
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.fileset import FileSet

MIN_PASSWORD = 8
LARGE = 1024  # bytes: elements above this are left out of the DICOMDIR copies


class ExportError(ValueError):
    """The export cannot be made as asked (a bad password)."""


class _Sink:
    """A write-only, unseekable file for the ZIP writer; :meth:`take` empties it."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []
        self._pos = 0

    def write(self, data: bytes) -> int:
        self._chunks.append(bytes(data))
        self._pos += len(data)
        return len(data)

    def tell(self) -> int:
        return self._pos

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        out, self._chunks = b"".join(self._chunks), []
        return out


class _Names:
    """File IDs PTnnnnnn/STnnnnnn/SEnnnnnn/IMnnnnnn by order of first appearance (PS3.10 §8.5)."""

    def __init__(self) -> None:
        self.tree: dict[str, dict[str, dict[str, int]]] = {}

    def file_id(self, ds: Dataset) -> tuple[str, ...]:
        pid = str(ds.get("PatientID", ""))
        patients = list(self.tree)
        studies = self.tree.setdefault(pid, {})
        study = str(ds.StudyInstanceUID)
        series_map = studies.setdefault(study, {})
        series = str(ds.SeriesInstanceUID)
        count = series_map.setdefault(series, 0)
        series_map[series] = count + 1
        p = patients.index(pid) if pid in patients else len(patients)
        return (
            f"PT{p:06d}",
            f"ST{list(studies).index(study):06d}",
            f"SE{list(series_map).index(series):06d}",
            f"IM{count:06d}",
        )


#: Attributes the instance may leave empty (Type 2 in the General Study, Series and Image
#: modules, PS3.3 §C.7.2.1, §C.7.3.1, §C.7.6.1) that the DICOMDIR's STUDY, SERIES and IMAGE
#: records need (Type 1, PS3.3 §F.5.2-§F.5.4), and what the record says where they are empty:
#: the record's copy only, never the exported file. A date and time come from the series or
#: the content where they are known.
RECORD_DEFAULTS = {
    "StudyID": ("0",),
    "StudyDate": ("SeriesDate", "ContentDate", "AcquisitionDate", "19000101"),
    "StudyTime": ("SeriesTime", "ContentTime", "AcquisitionTime", "000000"),
    "SeriesNumber": ("0",),
    "InstanceNumber": ("0",),
}


def light_copy(part10: bytes) -> Dataset:
    """The instance's attributes without pixel data or other large values (for the DICOMDIR),
    with the Type 1 keys of its directory records (``RECORD_DEFAULTS``) filled in."""
    ds = dcmread(io.BytesIO(part10), stop_before_pixels=True)
    for elem in list(ds):
        if elem.VR in ("OB", "OW", "OF", "OD", "OL", "OV", "UN") or (
            elem.VR in ("LT", "UT", "ST", "UC") and len(str(elem.value or "")) > LARGE
        ):
            del ds[elem.tag]
    for keyword, sources in RECORD_DEFAULTS.items():
        if ds.get(keyword) in (None, ""):
            *others, last = sources
            value = next((ds.get(o) for o in others if ds.get(o) not in (None, "")), last)
            setattr(ds, keyword, value)
    return ds


def _zip(sink: _Sink, password: str | None) -> pyzipper.ZipFile:
    if password is None:
        return pyzipper.ZipFile(sink, "w", compression=pyzipper.ZIP_DEFLATED, compresslevel=1)
    if len(password) < MIN_PASSWORD:
        raise ExportError(f"the password needs at least {MIN_PASSWORD} characters")
    zf = pyzipper.AESZipFile(
        sink, "w", compression=pyzipper.ZIP_DEFLATED, compresslevel=1, encryption=pyzipper.WZ_AES
    )
    zf.setpassword(password.encode("utf-8"))
    zf.setencryption(pyzipper.WZ_AES, nbits=256)
    return zf


def export_zip(instances: Iterable[bytes], password: str | None = None) -> Iterator[bytes]:
    """The ZIP of ``instances`` (Part-10 bytes) and their DICOMDIR, chunk by chunk.

    ``password`` (at least 8 characters) encrypts every entry with AES-256; ExportError is
    raised before any byte when it is too short.
    """
    sink = _Sink()
    zf = _zip(sink, password)
    return _stream(zf, sink, instances)


def _stream(zf: pyzipper.ZipFile, sink: _Sink, instances: Iterable[bytes]) -> Iterator[bytes]:
    names = _Names()
    fs = FileSet()
    expected: dict[str, str] = {}
    try:
        with zf:
            for part10 in instances:
                ds = light_copy(part10)
                file_id = names.file_id(ds)
                zf.writestr("/".join(file_id), part10)
                fs.add(ds)
                expected[str(ds.SOPInstanceUID)] = "/".join(file_id)
                yield sink.take()
            if expected:
                zf.writestr("DICOMDIR", dicomdir(fs, expected))
        yield sink.take()
    finally:
        _discard_staging(fs)


def _discard_staging(fs: FileSet) -> None:
    """Remove the staging directory FileSet.add keeps its light copies in (it has no close)."""
    staging = getattr(fs, "_stage", {}).get("t")
    if isinstance(staging, tempfile.TemporaryDirectory):
        staging.cleanup()


def dicomdir(fs: FileSet, expected: dict[str, str]) -> bytes:
    """The encoded DICOMDIR of ``fs``; its File IDs must be those already in the ZIP."""
    with tempfile.TemporaryDirectory(prefix="export-") as tmp:
        fs.write(tmp)
        for instance in fs:
            got = Path(instance.FileID).as_posix()
            if expected.get(str(instance.SOPInstanceUID)) != got:
                raise RuntimeError("DICOMDIR File IDs differ from the archive's")
        return (Path(tmp) / "DICOMDIR").read_bytes()
