"""Real files of every type a patient may upload, made by the libraries that write them.

* PDF: fpdf2; DOCX: python-docx; JPEG, PNG, GIF: Pillow; HEIC: pillow-heif (libheif's HEVC
  encoder); NIfTI (.nii, .nii.gz): nibabel; MP4, AVI, MOV: ffmpeg as imageio-ffmpeg ships it
  (a real encoder, a generated test pattern); DICOM: pydicom (a dataset written as a PS3.10
  file) and a file pydicom's own test data ships (``CT_small.dcm``, whose preamble holds a
  TIFF header).
* DOC has no maintained Python writer: ``word97_doc`` builds a Compound File Binary container
  as MS-CFB lays it out (header, one FAT sector, one directory sector) holding a
  ``WordDocument`` stream that starts with a Word 97 File Information Block (``wIdent``
  0xA5EC, ``nFib`` 0x00C1, MS-DOC §2.5.2); olefile, an independent reader, opens it.
* Apple Pages has no public writer at all: ``pages_document`` builds the package as Pages 5
  and later save it: a ZIP holding ``Index/Document.iwa`` (IWA: Snappy-framed protobuf
  archives), ``Metadata/Properties.plist``, ``Metadata/DocumentIdentifier`` and
  ``preview.jpg``. The document body is an empty archive chunk: the structure is the
  format's, the content is not a document Pages would show.
"""

from __future__ import annotations

import io
import struct
import subprocess
import tempfile
import uuid
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

ENDOFCHAIN, FREESECT, FATSECT, NOSTREAM = 0xFFFFFFFE, 0xFFFFFFFF, 0xFFFFFFFD, 0xFFFFFFFF


def pdf() -> bytes:
    from fpdf import FPDF

    doc = FPDF()
    doc.add_page()
    doc.set_font("helvetica", size=12)
    doc.cell(text="Lab result from another laboratory")
    return bytes(doc.output())


def docx() -> bytes:
    import docx as python_docx

    doc = python_docx.Document()
    doc.add_paragraph("Letter from another clinic")
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def image(fmt: str, size: tuple[int, int] = (32, 32), noise: bool = False) -> bytes:
    if fmt == "HEIF":
        import pillow_heif

        pillow_heif.register_heif_opener()
    if noise:
        pixels = np.random.default_rng(1).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        picture = Image.fromarray(pixels, "RGB")
    else:
        picture = Image.new("RGB", size, (200, 30, 30))
    out = io.BytesIO()
    picture.save(out, format=fmt)
    return out.getvalue()


def png_of_size(nbytes: int) -> bytes:
    """A PNG of random pixels (which do not compress) of about ``nbytes`` bytes."""
    side = int((nbytes / 3) ** 0.5)
    return image("PNG", (side, side), noise=True)


def nifti(compressed: bool) -> bytes:
    import nibabel

    volume = nibabel.Nifti1Image(np.arange(64, dtype=np.int16).reshape(4, 4, 4), np.eye(4))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / ("scan.nii.gz" if compressed else "scan.nii")
        nibabel.save(volume, path)
        return path.read_bytes()


def video(ext: str) -> bytes:
    import imageio_ffmpeg

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"clip.{ext}"
        subprocess.run(
            [
                imageio_ffmpeg.get_ffmpeg_exe(),
                "-loglevel",
                "error",
                "-f",
                "lavfi",
                "-i",
                "testsrc=size=64x64:rate=5:duration=1",
                str(path),
            ],
            check=True,
            timeout=60,
        )
        return path.read_bytes()


def dicom(patient_id: str = "SAMPLE") -> bytes:
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.PatientID = patient_id
    ds.PatientName = "Sample^Upload"
    ds.Modality = "OT"
    ds.Rows, ds.Columns = 8, 8
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = bytes(range(64))
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def dicom_shipped() -> bytes:
    from pydicom.data import get_testdata_file

    path = get_testdata_file("CT_small.dcm")
    assert path is not None
    return Path(str(path)).read_bytes()


def _dir_entry(name: str, kind: int, child: int, start: int, size: int) -> bytes:
    encoded = (name + "\0").encode("utf-16-le") if name else b""
    return (
        encoded.ljust(64, b"\0")
        + struct.pack("<HBB", len(encoded), kind, 1 if name else 0)
        + struct.pack("<III", NOSTREAM, NOSTREAM, child)
        + bytes(16)  # CLSID
        + struct.pack("<I", 0)  # state bits
        + bytes(16)  # creation and modification times
        + struct.pack("<IQ", start, size)
    )


def word97_doc() -> bytes:
    """A Compound File (MS-CFB v3, 512-byte sectors) with a Word 97 ``WordDocument`` stream."""
    stream_sectors = 8
    fib = struct.pack("<HH", 0xA5EC, 0x00C1)  # wIdent, nFib (Word 97)
    stream = fib.ljust(stream_sectors * 512, b"\0")
    header = (
        bytes.fromhex("D0CF11E0A1B11AE1")
        + bytes(16)
        + struct.pack("<HHHHH", 0x003E, 0x0003, 0xFFFE, 9, 6)
        + bytes(6)
        + struct.pack("<IIII", 0, 1, 1, 0)  # dir sectors (v3: 0), FAT sectors, first dir, txn
        + struct.pack("<IIIII", 4096, ENDOFCHAIN, 0, ENDOFCHAIN, 0)
        + struct.pack("<I", 0)  # DIFAT[0]: the FAT is sector 0
        + struct.pack("<108I", *([FREESECT] * 108))
    )
    assert len(header) == 512
    fat = [FATSECT, ENDOFCHAIN] + [3 + i for i in range(stream_sectors - 1)] + [ENDOFCHAIN]
    fat_sector = struct.pack("<128I", *(fat + [FREESECT] * (128 - len(fat))))
    directory = (
        _dir_entry("Root Entry", 5, 1, ENDOFCHAIN, 0)
        + _dir_entry("WordDocument", 2, NOSTREAM, 2, len(stream))
        + _dir_entry("", 0, NOSTREAM, 0, 0)
        + _dir_entry("", 0, NOSTREAM, 0, 0)
    )
    return header + fat_sector + directory + stream


def pages_document() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as package:
        # an IWA chunk: type 0 (Snappy), a 3-byte length, then the compressed archive
        package.writestr("Index/Document.iwa", b"\x00\x02\x00\x00\x00\x00")
        package.writestr(
            "Metadata/Properties.plist",
            b'<?xml version="1.0" encoding="UTF-8"?>\n<plist version="1.0"><dict>'
            b"<key>isMultiPage</key><false/></dict></plist>",
        )
        package.writestr("Metadata/DocumentIdentifier", str(uuid.uuid4()).upper())
        package.writestr("preview.jpg", image("JPEG"))
    return out.getvalue()


#: name -> (maker, media type the gateway stores)
SAMPLES = {
    "pdf": (pdf, "application/pdf"),
    "doc": (word97_doc, "application/msword"),
    "docx": (docx, "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    "pages": (pages_document, "application/vnd.apple.pages"),
    "jpeg": (lambda: image("JPEG"), "image/jpeg"),
    "png": (lambda: image("PNG"), "image/png"),
    "gif": (lambda: image("GIF"), "image/gif"),
    "heic": (lambda: image("HEIF"), "image/heic"),
    "dcm": (dicom, "application/dicom"),
    "dcm-tiff-preamble": (dicom_shipped, "application/dicom"),
    "nii": (lambda: nifti(False), "image/x.nifti"),
    "nii.gz": (lambda: nifti(True), "image/x.nifti+gzip"),
    "mp4": (lambda: video("mp4"), "video/mp4"),
    "avi": (lambda: video("avi"), "video/x-msvideo"),
    "mov": (lambda: video("mov"), "video/quicktime"),
}
