"""Searches across the whole PACS (``/instances``, ``/series``) over a PACS of many instances.

A PACS of its own (several hundred instances in studies of several series) so that what a
search reads can be counted: every C-FIND answer that reaches the gateway is counted by a spy on
the real exchange (the real C-FIND still runs). A page of ``limit=1`` must not read the PACS
whole (it once read 11,820 instances before answering one), and every matching attribute must be
honoured at the instance level (``Modality`` was once ignored).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from demo.synthetic import StudySpec, build_study
from dicomweb.backends import exchanges
from dicomweb.backends.dimse import DimseBackend
from tests.dicomweb.conftest import Pacs, demo_patient, new_uid, start_pacs
from tests.dicomweb.web.conftest import HisPacs, make_app

#: (modality, date, series, instances)
LAYOUT = (
    ("CT", datetime(2025, 3, 1, 9, 0), 4, 240),
    ("MR", datetime(2024, 6, 1, 9, 0), 2, 160),
    ("CR", datetime(2023, 1, 1, 9, 0), 1, 40),
    ("CT", datetime(2022, 1, 1, 9, 0), 2, 120),
)
TOTAL = sum(n for *_, n in LAYOUT)
LARGEST_SERIES = max(n // s for _, _, s, n in LAYOUT)


@pytest.fixture(scope="module")
def many_pacs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pacs]:
    running = start_pacs(tmp_path_factory.mktemp("orthanc-many"))
    patient = demo_patient(7)
    with DimseBackend(running.settings()) as backend:
        for k, (modality, when, series, count) in enumerate(LAYOUT):
            spec = StudySpec(
                study_uid=new_uid(),
                patient=patient,
                accession_number=f"MANY{k}",
                modality=modality,
                performed_at=when,
                description=f"{modality} many",
                series_count=series,
                instance_count=count,
                max_size=8,
            )
            result = backend.store(build_study(spec))
            assert result.ok, result.failures
    yield running
    running.process.stop()


@pytest.fixture(scope="module")
def many_client(sqlite_his: str, many_pacs: Pacs) -> Iterator[Any]:
    app = make_app(HisPacs(sqlite_his, many_pacs, None, {}))  # type: ignore[arg-type]
    yield app.test_client()
    app.extensions["test_backend"].close()


@pytest.fixture
def answers(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of answers of every C-FIND the gateway sends (the real exchange runs)."""
    counts: list[int] = []
    real = exchanges.c_find

    def counting(*args: Any, **kwargs: Any) -> list:
        found = real(*args, **kwargs)
        counts.append(len(found))
        return found

    monkeypatch.setattr(exchanges, "c_find", counting)
    return counts


def search(client: Any, path: str) -> list[dict[str, Any]]:
    rsp = client.get("/dicomweb" + path, headers={"Accept": "application/dicom+json"})
    assert rsp.status_code == 200, rsp.get_data(as_text=True)
    return rsp.get_json()


def value(item: dict[str, Any], tag: str) -> Any:
    return item.get(tag, {}).get("Value", [None])[0]


def test_all_instances_without_limit_are_all_read(many_client, answers):
    assert len(search(many_client, "/instances")) == TOTAL
    assert sum(answers) >= TOTAL


def test_a_small_page_of_all_instances_reads_one_series_not_the_pacs(many_client, answers):
    found = search(many_client, "/instances?limit=1")
    assert len(found) == 1
    # the studies, the series of the first study, the instances of its first series
    assert sum(answers) <= len(LAYOUT) + 4 + LARGEST_SERIES
    assert sum(answers) < TOTAL // 4


def test_pages_of_all_instances_are_slices_of_the_whole(many_client):
    whole = [value(i, "00080018") for i in search(many_client, "/instances")]
    assert len(set(whole)) == TOTAL
    for offset, limit in ((0, 5), (55, 10), (TOTAL - 3, 10), (TOTAL + 5, 1)):
        page = search(many_client, f"/instances?limit={limit}&offset={offset}")
        assert [value(i, "00080018") for i in page] == whole[offset : offset + limit]


@pytest.mark.parametrize(("modality", "count"), [("MR", 160), ("CR", 40), ("CT", 360), ("US", 0)])
def test_all_instances_honour_modality(many_client, modality, count):
    found = search(many_client, f"/instances?Modality={modality}")
    assert len(found) == count
    assert {value(i, "00080060") for i in found} <= {modality}


def test_all_instances_honour_series_and_study_keys_together(many_client, answers):
    found = search(many_client, "/instances?Modality=CT&StudyDate=20220101-20221231&SeriesNumber=2")
    assert len(found) == 60
    assert {value(i, "00080060") for i in found} == {"CT"}
    assert {value(i, "00080020") for i in found} == {"20220101"}
    assert {value(i, "00200011") for i in found} == {2}
    assert sum(answers) <= len(LAYOUT) + 2 + 60


def test_all_instances_honour_instance_keys(many_client):
    found = search(many_client, "/instances?InstanceNumber=3&Modality=MR")
    assert len(found) == 2
    assert {value(i, "00200013") for i in found} == {3}


def test_a_small_page_of_modality_matches_reads_little(many_client, answers):
    found = search(many_client, "/instances?Modality=MR&limit=2&offset=1")
    assert len(found) == 2
    assert {value(i, "00080060") for i in found} == {"MR"}
    assert sum(answers) < TOTAL // 4


def test_a_small_page_of_all_series_stops_at_the_first_study(many_client, answers):
    found = search(many_client, "/series?limit=1")
    assert len(found) == 1
    assert sum(answers) <= len(LAYOUT) + 4


def _studies(client: Any) -> dict[str, str]:
    """Study Instance UID by the study's first modality."""
    out: dict[str, str] = {}
    for item in search(client, "/studies"):
        out.setdefault(value(item, "00080061"), value(item, "0020000D"))
    return out


def test_series_and_instances_of_one_study_honour_modality(many_client):
    studies = _studies(many_client)
    mr, cr = studies["MR"], studies["CR"]
    assert search(many_client, f"/studies/{mr}/instances?Modality=CT") == []
    assert len(search(many_client, f"/studies/{mr}/instances?Modality=MR")) == 160
    assert search(many_client, f"/studies/{cr}/series?Modality=MR") == []
    series = value(search(many_client, f"/studies/{mr}/series")[0], "0020000E")
    assert search(many_client, f"/studies/{mr}/series/{series}/instances?Modality=CR") == []
    found = search(many_client, f"/studies/{mr}/series/{series}/instances?Modality=MR&limit=3")
    assert len(found) == 3


def test_all_series_honour_modality_with_a_page(many_client):
    every = [value(i, "0020000E") for i in search(many_client, "/series?Modality=CT")]
    assert len(every) == 6
    page = search(many_client, "/series?Modality=CT&limit=2&offset=3")
    assert [value(i, "0020000E") for i in page] == every[3:5]
    assert {value(i, "00080060") for i in page} == {"CT"}


def test_a_small_page_of_one_studys_instances_reads_one_series(many_client, answers):
    """``/studies/{s}/instances?limit=`` reads the study's series list and the series the page
    needs, never every series of the study (it once read all of them)."""
    ct = _studies(many_client)["CT"]  # the newest CT: 4 series of 60 instances
    whole = [value(i, "00080018") for i in search(many_client, f"/studies/{ct}/instances")]
    assert len(set(whole)) == 240
    # every bound below allows 1 + 4: the study (for the access check, unless known), then
    # the study's series
    answers.clear()
    found = search(many_client, f"/studies/{ct}/instances?limit=5")
    assert [value(i, "00080018") for i in found] == whole[:5]
    assert sum(answers) <= 1 + 4 + 60  # the first series' instances only
    answers.clear()
    found = search(many_client, f"/studies/{ct}/instances?limit=10&offset=55")
    assert [value(i, "00080018") for i in found] == whole[55:65]
    assert sum(answers) <= 1 + 4 + 2 * 60  # the page spans the first two series
    answers.clear()
    found = search(many_client, f"/studies/{ct}/instances?limit=10&offset=130")
    assert [value(i, "00080018") for i in found] == whole[130:140]
    assert sum(answers) <= 1 + 4 + 60  # the two series before the page are skipped unread
    answers.clear()
    assert search(many_client, f"/studies/{ct}/instances?limit=3&offset=500") == []
    assert sum(answers) <= 1 + 4


def test_pages_of_one_studys_instances_are_slices_of_the_whole(many_client):
    ct = _studies(many_client)["CT"]
    whole = [value(i, "00080018") for i in search(many_client, f"/studies/{ct}/instances")]
    numbers = [
        (value(i, "00200011"), value(i, "00200013"))
        for i in search(many_client, f"/studies/{ct}/instances")
    ]
    assert numbers == sorted(numbers)  # series by number, then instances by number
    for offset, limit in ((0, 1), (59, 2), (120, 60), (237, 10)):
        page = search(many_client, f"/studies/{ct}/instances?limit={limit}&offset={offset}")
        assert [value(i, "00080018") for i in page] == whole[offset : offset + limit]


def test_a_page_of_listed_series_reads_only_those_it_needs(many_client, answers):
    """A list of Series Instance UIDs (PS3.18 §8.3.4.1 UID list matching) is walked series by
    series, in the study's order, until the page is full."""
    ct = _studies(many_client)["CT"]
    series = [value(i, "0020000E") for i in search(many_client, f"/studies/{ct}/series")]
    listed = ",".join([series[3], series[1]])
    every = search(many_client, f"/studies/{ct}/instances?SeriesInstanceUID={series[1]}")
    answers.clear()
    found = search(
        many_client, f"/studies/{ct}/instances?SeriesInstanceUID={listed}&limit=4&offset=2"
    )
    assert [value(i, "00080018") for i in found] == [value(i, "00080018") for i in every[2:6]]
    assert sum(answers) <= 4 + 60
    whole = search(many_client, f"/studies/{ct}/instances?SeriesInstanceUID={listed}")
    assert {value(i, "0020000E") for i in whole} == {series[1], series[3]}
    assert len(whole) == 120
