"""Transfer syntax negotiation for WADO-RS instances and frames (PS3.18 §8.7.3.5, PS3.5 §10).

The PACS sends each instance in the syntax it stores (the C-GET offers every syntax, see
``backends.contexts``). A request names the syntax it wants: ``*`` keeps the stored one; the
uncompressed little endian syntaxes are produced from any other uncompressed one by
re-encoding, and from a compressed one when pydicom has a decoder for it. Anything else cannot
be produced here: :class:`CannotTranscode` (the route's 406, PS3.18 §8.7.1).
"""

from __future__ import annotations

import io
import struct

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.uid import (
    UID,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

#: syntaxes re-encodable into each other without any pixel codec (PS3.5 §A.1, §A.2)
UNCOMPRESSED = frozenset({str(ExplicitVRLittleEndian), str(ImplicitVRLittleEndian)})
#: what a request may ask for besides ``*`` (and the stored syntax itself)
PRODUCIBLE = UNCOMPRESSED


class CannotTranscode(ValueError):
    """The instance cannot be delivered in the requested transfer syntax (406)."""


def stored_syntax(part10: bytes) -> str:
    """The Transfer Syntax UID (0002,0010) in the File Meta Information (PS3.10 §7.1)."""
    if part10[128:132] != b"DICM":
        raise ValueError("not a DICOM Part-10 file")
    group_end = 144 + struct.unpack("<I", part10[140:144])[0]
    pos = 144
    while pos < group_end:
        group, elem = struct.unpack("<HH", part10[pos : pos + 4])
        vr = part10[pos + 4 : pos + 6]
        if vr in (b"OB", b"OW", b"UN", b"SQ", b"UT", b"UC", b"UR", b"OF", b"OD", b"OL", b"OV"):
            length = struct.unpack("<I", part10[pos + 8 : pos + 12])[0]
            value_at = pos + 12
        else:
            length = struct.unpack("<H", part10[pos + 6 : pos + 8])[0]
            value_at = pos + 8
        if (group, elem) == (0x0002, 0x0010):
            return part10[value_at : value_at + length].rstrip(b"\0 ").decode("ascii")
        pos = value_at + length
    raise ValueError("no Transfer Syntax UID in the File Meta Information")


def can_produce(stored: str, wanted: str) -> bool:
    """Whether an instance stored in ``stored`` can be sent in ``wanted``, without decoding."""
    return wanted in ("*", stored) or (stored in UNCOMPRESSED and wanted in UNCOMPRESSED)


def decode(part10: bytes) -> Dataset:
    return dcmread(io.BytesIO(part10))


def encode(ds: Dataset) -> bytes:
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def transcode(part10: bytes, wanted: str) -> bytes:
    """``part10`` in the transfer syntax ``wanted`` (``*``: unchanged).

    Raises :class:`CannotTranscode` when the syntax cannot be produced here.
    """
    stored = stored_syntax(part10)
    if wanted in ("*", stored):
        return part10
    if wanted not in PRODUCIBLE:
        raise CannotTranscode(f"transfer syntax {wanted[:64]} is not offered")
    ds = decode(part10)
    if stored not in UNCOMPRESSED and stored != str(ExplicitVRBigEndian):
        try:
            ds.decompress()
        except Exception:  # no decoder for this syntax: the caller answers 406
            raise CannotTranscode(f"no decoder for the stored syntax {stored}") from None
    ds.file_meta.TransferSyntaxUID = UID(wanted)
    return encode(ds)
