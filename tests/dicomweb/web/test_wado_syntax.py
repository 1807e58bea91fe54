"""WADO-RS names in every Content-Type the transfer syntax it really sends (PS3.18 §8.7.3.5):
the stored syntax when ``transfer-syntax=*`` was asked, never ``*`` itself."""

from __future__ import annotations

import pytest
from pydicom import dcmread
from pydicom.data import get_testdata_file

from dicomweb import multipart as mp
from dicomweb.backends.dimse import DimseBackend
from dicomweb.transcode import stored_syntax
from tests.dicomweb.conftest import new_uid

OHIF = "application/dicom+json, multipart/related; type=application/octet-stream; transfer-syntax=*"


def _named_syntaxes(rsp) -> tuple[str, list[str]]:
    top = rsp.headers["Content-Type"]
    parts = mp.read(rsp.data, top)
    return top, [h["content-type"] for h, _ in parts]


def _syntax_param(value: str) -> str:
    for piece in value.split(";"):
        name, _, v = piece.strip().partition("=")
        if name == "transfer-syntax":
            return v.strip('"')
    return ""


@pytest.mark.parametrize(
    "accept",
    [
        'multipart/related; type="application/dicom"; transfer-syntax=*',
        "multipart/related; type=application/dicom; transfer-syntax=*",
    ],
)
def test_star_instances_name_the_syntax_sent(dw_client, his_pacs, accept):
    study = sorted(his_pacs.studies)[0]
    rsp = dw_client.get(f"/dicomweb/studies/{study}", headers={"Accept": accept})
    assert rsp.status_code == 200
    top, types = _named_syntaxes(rsp)
    bodies = [b for _, b in mp.read(rsp.data, top)]
    assert _syntax_param(top) not in ("", "*")
    assert _syntax_param(top) == stored_syntax(bodies[0])
    for media, data in zip(types, bodies, strict=True):
        assert _syntax_param(media) == stored_syntax(data)


def test_star_frames_name_the_syntax_sent(dw_client, his_pacs):
    study = sorted(his_pacs.studies)[0]
    meta = dw_client.get(f"/dicomweb/studies/{study}/metadata").get_json()[0]
    series, sop = meta["0020000E"]["Value"][0], meta["00080018"]["Value"][0]
    base = f"/dicomweb/studies/{study}/series/{series}/instances/{sop}"
    for accept in (OHIF, "multipart/related; type=application/octet-stream"):
        rsp = dw_client.get(f"{base}/frames/1", headers={"Accept": accept})
        assert rsp.status_code == 200
        top, types = _named_syntaxes(rsp)
        # the synthetic studies are native little endian: their frames are explicit VR LE
        assert _syntax_param(top) == "1.2.840.10008.1.2.1", top
        assert [_syntax_param(t) for t in types] == ["1.2.840.10008.1.2.1"]
    rsp = dw_client.get(
        f"{base}/bulkdata/7FE00010",
        headers={"Accept": "multipart/related; type=application/octet-stream; transfer-syntax=*"},
    )
    assert rsp.status_code == 200
    top, types = _named_syntaxes(rsp)
    assert _syntax_param(top) == "1.2.840.10008.1.2.1"
    assert [_syntax_param(t) for t in types] == ["1.2.840.10008.1.2.1"]


@pytest.fixture(scope="module")
def compressed(his_pacs) -> tuple[str, str, str]:
    """A JPEG 2000 instance in the PACS, under fresh UIDs."""
    ds = dcmread(get_testdata_file("MR_small_jp2klossless.dcm", download=False))
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID = new_uid(), new_uid(), new_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.PatientID = "TS-STAR-1"
    with DimseBackend(his_pacs.pacs.settings()) as backend:
        assert backend.store([ds]).ok
    return str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID), str(ds.SOPInstanceUID)


def test_star_names_a_compressed_syntax_as_stored(dw_client, compressed):
    study, series, sop = compressed
    rsp = dw_client.get(
        f"/dicomweb/studies/{study}",
        headers={"Accept": "multipart/related; type=application/dicom; transfer-syntax=*"},
    )
    assert rsp.status_code == 200
    top, types = _named_syntaxes(rsp)
    assert _syntax_param(top) == "1.2.840.10008.1.2.4.90"
    assert [_syntax_param(t) for t in types] == ["1.2.840.10008.1.2.4.90"]
    rsp = dw_client.get(
        f"/dicomweb/studies/{study}/series/{series}/instances/{sop}/frames/1",
        headers={"Accept": OHIF},
    )
    assert rsp.status_code == 200
    top, types = _named_syntaxes(rsp)
    assert _syntax_param(top) == "1.2.840.10008.1.2.4.90"
    assert [_syntax_param(t) for t in types] == ["1.2.840.10008.1.2.4.90"]
    ((_, body),) = mp.read(rsp.data, top)
    assert body[:2] == b"\xff\x4f"  # a JPEG 2000 codestream, as stored
