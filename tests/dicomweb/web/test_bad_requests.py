"""Requests from outside that once answered 500: each is a clear 400 with a DICOM JSON Error
Comment (PS3.18 §8.6), never an HTML page, a stack trace or the PACS's address."""

from __future__ import annotations

from typing import Any

import pytest

ERROR_COMMENT = "00000902"


def error_comment(rsp: Any) -> str:
    assert rsp.mimetype == "application/dicom+json", rsp.get_data(as_text=True)[:200]
    body = rsp.get_json()
    return str(body[0][ERROR_COMMENT]["Value"][0])


BAD_QUERIES = [
    "/studies?includefield=7FE00010",
    "/studies?includefield=PixelData",
    "/series?includefield=7fe00010",
    "/instances?7FE00010=",
    "/instances?PixelData=abc",
    "/studies?FloatPixelData=",
    "/series?00000000=",
    "/studies?00000000=1",
    "/studies?includefield=00000000",
    "/series?00080000=",
    "/series?00100000=",
    "/studies?00020010=1.2.840.10008.1.2",
    "/studies?TransferSyntaxUID=1.2.840.10008.1.2",
    "/instances?60003000=",
    "/instances?OverlayData=",
    "/instances?EncapsulatedDocument=",
    "/instances?includefield=EncapsulatedDocument",
    "/studies?00091001=",
    "/instances?Rows=abc",
    "/instances?Rows=70000",
    "/instances?Rows=-1",
    "/series?SeriesNumber=abc",
    "/instances?SliceThickness=abc",
    "/studies?ReferencedStudySequence=x",
    "/studies?StudyInstanceUID=abc",
    "/studies?limit=-1",
    "/studies?StudyDate=2024",
    "/instances?SmallestImagePixelValue=5",
    "/instances?00280106=5",
    "/instances?FrameIncrementPointer=00181063",
]


@pytest.mark.parametrize("path", BAD_QUERIES)
def test_attributes_a_search_cannot_use_are_a_clear_400(dw_client, path):
    rsp = dw_client.get("/dicomweb" + path, headers={"Accept": "application/dicom+json"})
    assert rsp.status_code == 400, rsp.get_data(as_text=True)[:300]
    assert error_comment(rsp)


@pytest.mark.parametrize(
    "path",
    [
        "/studies/1.2.3/series?00000000=",
        "/studies/1.2.3/series/1.2.4/instances?includefield=PixelData",
        "/studies/1.2.3/instances?7FE00010=",
    ],
)
def test_the_same_under_a_study_path(dw_client, path):
    rsp = dw_client.get("/dicomweb" + path)
    assert rsp.status_code == 400, rsp.get_data(as_text=True)[:300]
    assert error_comment(rsp)


def test_attributes_searches_can_use_still_work(dw_client):
    for path in (
        "/instances?Rows=64&limit=1",
        "/series?SeriesNumber=1&limit=1",
        "/studies?includefield=00081030&limit=1",
        "/instances?includefield=ImageType,WindowCenter&limit=1",
        "/instances?includefield=SmallestImagePixelValue&limit=1",
    ):
        rsp = dw_client.get("/dicomweb" + path)
        assert rsp.status_code == 200, (path, rsp.get_data(as_text=True)[:300])
