"""The gateway's QIDO-RS against Orthanc's own DICOMweb plugin: same data, same queries.

Orthanc answers from its database, the gateway through C-FIND to the same Orthanc, so the two
must agree attribute by attribute. The rule checked: every attribute Orthanc returns with a
value, the gateway returns with the same value, and both return the same results. Principled
differences, allowed and explained here:

* Retrieve URL (0008,1190): each server names itself; the paths after the base must be equal.
* The gateway returns more than Orthanc, never less: StudyDescription, SOPClassesInStudy at
  study level (OHIF shows the description; PS3.18 §10.6.3.3 allows extra attributes), Series
  Date/Time and BodyPartExamined at series level; attributes asked by C-FIND that the PACS holds
  no value for come back empty (zero length, as C-FIND returns them), Orthanc omits them.
* Order is not compared: PS3.18 does not standardise it; Orthanc answers in its database order,
  the gateway sorts (studies newest first, series and instances by number) so that limit/offset
  pages are stable over C-FIND, which has no order of its own.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.dicomweb.web.conftest import HisPacs

RETRIEVE_URL = "00081190"


def orthanc_qido(his_pacs: HisPacs, path: str) -> list[dict[str, Any]]:
    # Orthanc's QIDO does not URL-decode values: send them raw (see the PACS notes)
    raw = his_pacs.pacs.process.client.request("GET", "/dicom-web" + path)
    return json.loads(raw) if raw.strip() else []


def gateway_qido(client: Any, path: str) -> list[dict[str, Any]]:
    rsp = client.get("/dicomweb" + path, headers={"Accept": "application/dicom+json"})
    assert rsp.status_code == 200, rsp.get_data(as_text=True)
    return rsp.get_json()


def key_of(item: dict[str, Any]) -> str:
    """The result's identity: study, series, or series + SOP Instance UID.

    An instance is keyed with its series too, so that an instance reported under the wrong
    series does not pass as the same result.
    """
    uids = [str(item[t]["Value"][0]) for t in ("0020000E", "00080018") if t in item]
    return "/".join(uids) if uids else str(item["0020000D"]["Value"][0])


def path_of(url: str) -> str:
    return url.split("/studies/", 1)[1]


def assert_same(ours: list[dict[str, Any]], theirs: list[dict[str, Any]]) -> None:
    assert sorted(map(key_of, ours)) == sorted(map(key_of, theirs))
    by_key = {key_of(item): item for item in ours}
    for expected in theirs:
        got = by_key[key_of(expected)]
        for tag, attr in expected.items():
            if "Value" not in attr:
                continue
            assert tag in got, f"{tag} missing for {key_of(expected)}"
            assert got[tag]["vr"] == attr["vr"], tag
            if tag == RETRIEVE_URL:
                assert path_of(got[tag]["Value"][0]) == path_of(attr["Value"][0])
            else:
                assert got[tag]["Value"] == attr["Value"], tag


@pytest.fixture(scope="module")
def sample(his_pacs: HisPacs, dw_app: Any) -> dict[str, Any]:
    """A study with several series, its patient's MRN, a date and a modality from the PACS."""
    client = dw_app.test_client()
    studies = gateway_qido(client, "/studies")
    assert studies
    best = max(studies, key=lambda s: s["00201206"]["Value"][0])
    series = gateway_qido(client, f"/studies/{key_of(best)}/series")
    return {
        "study": key_of(best),
        "mrn": best["00100020"]["Value"][0],
        "date": best["00080020"]["Value"][0],
        "modality": best["00080061"]["Value"][0],
        "accession": best["00080050"]["Value"][0],
        "name": best["00100010"]["Value"][0]["Alphabetic"],
        "series": key_of(series[0]),
        "all": [key_of(s) for s in studies],
    }


STUDY_QUERIES = [
    "/studies",
    "/studies?PatientID={mrn}",
    "/studies?StudyDate={date}",
    "/studies?StudyDate={date}-",
    "/studies?StudyDate=-{date}",
    "/studies?StudyDate=20000101-{date}",
    "/studies?ModalitiesInStudy={modality}",
    "/studies?AccessionNumber={accession}",
    "/studies?StudyInstanceUID={study}",
    "/studies?StudyInstanceUID={study},{other}",
    "/studies?PatientName={family}*",
    "/studies?PatientName={family}*&includefield=StudyDescription",
    "/studies?PatientID={mrn}&includefield=00081030,PatientAge",
    "/studies?StudyDate=19000101-19000102",
]


@pytest.mark.parametrize("template", STUDY_QUERIES)
def test_study_search_equals_orthanc(his_pacs, dw_client, sample, template):
    other = next(uid for uid in sample["all"] if uid != sample["study"])
    path = template.format(family=sample["name"].split("^")[0], other=other, **sample)
    assert_same(gateway_qido(dw_client, path), orthanc_qido(his_pacs, path))


LOWER_QUERIES = [
    "/studies/{study}/series",
    "/studies/{study}/series?Modality={modality}",
    "/studies/{study}/series?SeriesInstanceUID={series}",
    "/studies/{study}/series?SeriesNumber=1",
    "/studies/{study}/instances",
    "/studies/{study}/series/{series}/instances",
    "/studies/{study}/series/{series}/instances?InstanceNumber=1",
]


@pytest.mark.parametrize("template", LOWER_QUERIES)
def test_series_and_instance_search_equals_orthanc(his_pacs, dw_client, sample, template):
    path = template.format(**sample)
    ours = gateway_qido(dw_client, path)
    theirs = orthanc_qido(his_pacs, path)
    assert ours
    assert_same(ours, theirs)


def test_top_level_series_and_instances_equal_orthanc(his_pacs, dw_client, sample):
    for template in (
        "/series?StudyInstanceUID={study}",
        "/instances?StudyInstanceUID={study}",
        "/instances?SeriesInstanceUID={series}&StudyInstanceUID={study}",
    ):
        path = template.format(**sample)
        ours = gateway_qido(dw_client, path)
        assert ours
        assert_same(ours, orthanc_qido(his_pacs, path))
