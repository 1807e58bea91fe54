"""The type of an uploaded file, decided from its bytes alone.

libmagic (through python-magic) names the type from the content; the file name and the type
the client declared are never trusted. Three formats get a closer look, each per its own
specification, where libmagic's first guess is not the whole answer:

* DICOM (PS3.10 §7.1): a 128-byte preamble, then ``DICM``. The preamble is free for other use
  (many files carry a TIFF header there, which libmagic then reports), so the ``DICM`` marker
  decides.
* Apple Pages: a ZIP package (libmagic says ``application/zip``) holding ``Index/Document.iwa``
  (Pages 5 and later) or an ``index.xml`` of the Pages schema (Pages '09).
* NIfTI-1/2 compressed (``.nii.gz``): gzip (libmagic says ``application/gzip``) whose first
  bytes, once inflated, are a NIfTI header.
"""

from __future__ import annotations

import gzip
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import magic

PDF = "application/pdf"
DOC = "application/msword"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
PAGES = "application/vnd.apple.pages"
JPEG, PNG, GIF, HEIC = "image/jpeg", "image/png", "image/gif", "image/heic"
DICOM = "application/dicom"
NIFTI = "image/x.nifti"
NIFTI_GZ = "image/x.nifti+gzip"
MP4, AVI, MOV = "video/mp4", "video/x-msvideo", "video/quicktime"

#: The types a patient may upload (the issue's list), each with what a person calls it.
ACCEPTED: dict[str, str] = {
    PDF: "PDF",
    DOC: "Word 97-2003 document (DOC)",
    DOCX: "Word document (DOCX)",
    PAGES: "Apple Pages document",
    JPEG: "JPEG image",
    PNG: "PNG image",
    GIF: "GIF image",
    HEIC: "HEIC image",
    DICOM: "DICOM file",
    NIFTI: "NIfTI image",
    NIFTI_GZ: "NIfTI image (gzip)",
    MP4: "MP4 video",
    AVI: "AVI video",
    MOV: "QuickTime video (MOV)",
}

#: Other names clients and libmagic give the accepted types.
_ALIASES = {
    "image/jpg": JPEG,
    "image/pjpeg": JPEG,
    "image/heif": HEIC,
    "image/heic-sequence": HEIC,
    "application/x-msword": DOC,
    "application/vnd.ms-word": DOC,
    "application/x-iwork-pages-sffpages": PAGES,
    "application/avi": AVI,
    "video/avi": AVI,
    "video/msvideo": AVI,
    "application/x-nifti": NIFTI,
}
#: Declared types that say nothing about the file (a client that does not know).
UNDECLARED = frozenset({"", "application/octet-stream", "binary/octet-stream"})

#: Bytes libmagic is shown: enough for every accepted type's signature.
HEAD = 64 * 1024


@dataclass(frozen=True, slots=True)
class Detected:
    #: the canonical media type when accepted, else what libmagic saw
    mime: str
    #: libmagic's description of what it saw (for the refusal's message)
    seen: str
    accepted: bool


def canonical(mime: str) -> str:
    mime = mime.split(";", 1)[0].strip().lower()
    return _ALIASES.get(mime, mime)


def detect(path: Path) -> Detected:
    with path.open("rb") as f:
        head = f.read(HEAD)
    if len(head) >= 132 and head[128:132] == b"DICM":
        return Detected(DICOM, "DICOM file (PS3.10)", True)
    mime = canonical(magic.from_buffer(head, mime=True))
    seen = magic.from_buffer(head)
    if mime == "application/zip" and _is_pages(path):
        return Detected(PAGES, "Apple Pages document", True)
    if mime in ("application/gzip", "application/x-gzip") and _is_nifti_gz(path):
        return Detected(NIFTI_GZ, "NIfTI image, gzip-compressed", True)
    return Detected(mime, seen[:120], mime in ACCEPTED)


def _is_pages(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            if "Index/Document.iwa" in names:
                return True
            if "index.xml" in names:
                with archive.open("index.xml") as index:
                    return b"http://developer.apple.com/namespaces/sl" in index.read(4096)
    except (zipfile.BadZipFile, OSError, KeyError):
        return False
    return False


def _is_nifti_gz(path: Path) -> bool:
    try:
        with gzip.open(path, "rb") as f:
            header = f.read(544)
    except (OSError, EOFError, zlib.error):
        return False
    return canonical(magic.from_buffer(header, mime=True)) == NIFTI or (
        len(header) >= 348 and header[344:348] in (b"n+1\0", b"ni1\0", b"n+2\0")
    )
