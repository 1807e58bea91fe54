"""STOW-RS of instances whose sequences have undefined length (PS3.5 §7.5.2: valid DICOM, and
what many modalities write): stored, not a 500; retrievable afterwards with the sequence."""

from __future__ import annotations

import io

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from tests.dicomweb.web.test_stow import body, in_pacs, post, study


def undefined_length_part10(ds: Dataset, syntax: str) -> bytes:
    """``ds`` written with an undefined-length sequence holding undefined-length items, one
    of them nesting another sequence (PS3.5 §7.5.2, §7.5.1)."""
    inner = Dataset()
    inner.CodeValue = "T-D3000"
    inner.CodingSchemeDesignator = "SRT"
    inner.CodeMeaning = "Chest"
    outer = Dataset()
    outer.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    outer.ReferencedSOPInstanceUID = "2.25.1"
    outer.AnatomicRegionSequence = Sequence([inner])
    ds.ReferencedImageSequence = Sequence([outer, Dataset()])
    ds.file_meta.TransferSyntaxUID = syntax
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True, implicit_vr=syntax == ImplicitVRLittleEndian)
    data = out.getvalue()
    # pydicom writes defined lengths: rewrite them as undefined, as modalities do
    again = dcmread(io.BytesIO(data))
    for seq_elem in (
        again["ReferencedImageSequence"],
        again.ReferencedImageSequence[0]["AnatomicRegionSequence"],
    ):
        seq_elem.is_undefined_length = True
        for item in seq_elem.value:
            item.is_undefined_length_sequence_item = True
    out = io.BytesIO()
    again.save_as(out, enforce_file_format=True, implicit_vr=syntax == ImplicitVRLittleEndian)
    written = out.getvalue()
    assert b"\xfe\xff\xdd\xe0" in written  # a Sequence Delimitation Item
    assert b"\xfe\xff\x0d\xe0" in written  # an Item Delimitation Item
    return written


@pytest.mark.parametrize("syntax", [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
def test_undefined_length_sequences_are_stored(his_pacs, dw_client, syntax):
    datasets = study("UNDEF-SEQ-1", count=2)
    parts = [undefined_length_part10(ds, syntax) for ds in datasets]
    rsp = post(dw_client, body(*parts))
    assert rsp.status_code == 200, rsp.get_data(as_text=True)[:300]
    uid = str(datasets[0].StudyInstanceUID)
    assert len(in_pacs(his_pacs, uid)) == 2
    # the sequence arrived whole
    meta = dw_client.get(f"/dicomweb/studies/{uid}/metadata").get_json()
    seq = meta[0]["00081140"]["Value"]
    assert len(seq) == 2
    assert seq[0]["00082218"]["Value"][0]["00080100"]["Value"] == ["T-D3000"]


def test_a_private_undefined_length_sequence_is_stored(his_pacs, dw_client):
    """A private sequence of undefined length in Implicit VR (no VR on the wire, PS3.5 §7.5)."""
    ds = study("UNDEF-SEQ-2", count=1)[0]
    ds.add_new(0x00090010, "LO", "ACME 1.0")
    item = Dataset()
    item.add_new(0x00091010, "LO", "private item value")
    ds.add_new(0x00091001, "SQ", Sequence([item]))
    data = undefined_length_part10(ds, ImplicitVRLittleEndian)
    rsp = post(dw_client, body(data))
    assert rsp.status_code == 200, rsp.get_data(as_text=True)[:300]
    assert len(in_pacs(his_pacs, str(ds.StudyInstanceUID))) == 1


def _seq(payload: bytes) -> bytes:
    """(0040,0275) Request Attributes Sequence, explicit VR, undefined length, then ``payload``
    (a tag after every other of the synthetic instances but pixel data)."""
    return b"\x40\x00\x75\x02SQ\x00\x00\xff\xff\xff\xff" + payload


ITEM = b"\xfe\xff\x00\xe0\xff\xff\xff\xff"
CODE = b"\x08\x00\x00\x01SH\x02\x00AB"
BROKEN = {
    "sequence without its delimiter": _seq(ITEM + CODE + b"\xfe\xff\x0d\xe0\x00\x00\x00\x00"),
    "item without its delimiter": _seq(ITEM + CODE),
    "not an item tag": _seq(b"\x01\x02\x03\x04\xff\xff\xff\xff" + CODE),
    "item longer than the part": _seq(b"\xfe\xff\x00\xe0\xff\xff\x00\x00" + CODE),
}


def _broken_part(payload: bytes) -> bytes:
    ds = study("UNDEF-SEQ-3", count=1)[0]
    del ds.PixelData  # the broken sequence ends the dataset
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue() + payload


@pytest.mark.parametrize("payload", BROKEN.values(), ids=BROKEN.keys())
def test_a_malformed_undefined_length_sequence_is_that_parts_failure(dw_client, payload):
    rsp = post(dw_client, body(_broken_part(payload)))
    assert rsp.status_code == 400, rsp.get_data(as_text=True)[:300]
    assert rsp.mimetype == "application/dicom+json"
    failed = rsp.get_json()["00081198"]["Value"]
    assert failed[0]["00081197"]["Value"] == [0xC000]
    # next to a good instance, the request is a partial success (202), not a 500
    good = study("UNDEF-SEQ-4", count=1)[0]
    out = io.BytesIO()
    good.save_as(out, enforce_file_format=True)
    rsp = post(dw_client, body(out.getvalue(), _broken_part(payload)))
    assert rsp.status_code == 202, rsp.get_data(as_text=True)[:300]
