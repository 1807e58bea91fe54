"""Searches across studies (``/series``, ``/instances``) under a Study Instance UID the PACS
holds for two patients: each caller lists only its own series and instances, as the searches
under ``/studies/{study}/...`` do (tests/dicomweb/web/test_study_boundaries.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.dicomweb.web.conftest import (
    Boundaries,
    HisPacs,
    Reading,
    bearer,
    close_signed_in_app,
    signed_in_app,
    smart_token,
)

JSON = {"Accept": "application/dicom+json"}


@pytest.fixture
def app(his_pacs: HisPacs, bounds: Boundaries, tmp_path: Any) -> Iterator[Any]:
    made = signed_in_app(his_pacs, tmp_path)
    yield made
    close_signed_in_app(made)


def _rows(client: Any, auth: dict[str, str], path: str) -> list[dict[str, Any]]:
    rsp = client.get("/dicomweb" + path, headers={**auth, **JSON})
    assert rsp.status_code == 200, rsp.get_data(as_text=True)[:300]
    return rsp.get_json()


def _values(rows: list[dict[str, Any]], tag: str) -> set[str]:
    return {row[tag]["Value"][0] for row in rows if tag in row}


@pytest.mark.parametrize("page", ["", "&limit=1000", "&limit=1"])
def test_top_level_searches_under_a_shared_uid_list_the_callers_own(app, bounds, page):
    client = Reading(app.test_client())
    for patient, mine, series_of_mine in (
        (bounds.p, bounds.p_sops, {bounds.p_series}),
        (bounds.q, bounds.q_sops, {bounds.q_series, bounds.p_series}),
    ):
        auth = bearer(smart_token(app, patient))
        found = _rows(client, auth, f"/instances?StudyInstanceUID={bounds.shared}{page}")
        assert _values(found, "00080018") <= set(mine)
        if not page.endswith("=1"):
            assert _values(found, "00080018") == set(mine)
        everything = _rows(client, auth, f"/instances?limit=1000{page[:0]}")
        assert not _values(everything, "00080018") & (
            (set(bounds.p_sops) | set(bounds.q_sops)) - set(mine)
        )
        series = _rows(client, auth, f"/series?StudyInstanceUID={bounds.shared}{page}")
        assert _values(series, "0020000E") <= series_of_mine
