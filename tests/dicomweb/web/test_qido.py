"""QIDO-RS through the gateway (PS3.18 §10.6) against the real Orthanc and the test HIS."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from dicomweb_client.api import DICOMwebClient
from werkzeug.serving import make_server

from demo.orthanc import free_port
from dicomweb.backends.dimse import DimseBackend
from gateway.app import create_app
from smart_auth.audit.tables import audit_event
from tests.conftest import app_config
from tests.dicomweb.web.conftest import HisPacs, grant_of

JSON = {"Accept": "application/dicom+json"}


def get(client: Any, path: str, **headers: str) -> Any:
    return client.get("/dicomweb" + path, headers={**JSON, **headers})


def uids(rsp: Any, tag: str = "0020000D") -> list[str]:
    assert rsp.status_code == 200, rsp.get_data(as_text=True)
    return [item[tag]["Value"][0] for item in rsp.get_json()]


def error_of(rsp: Any) -> str:
    return str(rsp.get_json()[0]["00000902"]["Value"][0])


@pytest.fixture(scope="module")
def two_patients(his_pacs: HisPacs) -> tuple[int, int]:
    """Two HIS patients who both have studies in the PACS."""
    patients = sorted({pid for pid, _ in his_pacs.studies.values()})
    assert len(patients) >= 2
    return patients[0], patients[1]


# -- access ------------------------------------------------------------------------------------


def test_a_patient_grant_sees_only_its_studies(his_pacs, client_for, two_patients):
    mine, _ = two_patients
    client = client_for({mine})
    assert sorted(uids(get(client, "/studies"))) == his_pacs.studies_of(mine)


def test_a_patient_id_in_the_query_never_widens_access(his_pacs, client_for, two_patients):
    mine, theirs = two_patients
    client = client_for({mine})
    their_mrn = his_pacs.studies[his_pacs.studies_of(theirs)[0]][1]
    my_mrn = his_pacs.studies[his_pacs.studies_of(mine)[0]][1]
    assert uids(get(client, f"/studies?PatientID={their_mrn}")) == []
    assert uids(get(client, "/studies?PatientID=*")) != []
    assert sorted(uids(get(client, "/studies?PatientID=*"))) == his_pacs.studies_of(mine)
    assert sorted(uids(get(client, f"/studies?PatientID={my_mrn}"))) == his_pacs.studies_of(mine)
    assert sorted(uids(get(client, "/studies?PatientName=*"))) == his_pacs.studies_of(mine)


def test_another_patients_study_answers_like_a_missing_one(his_pacs, client_for, two_patients):
    mine, theirs = two_patients
    client = client_for({mine})
    other = his_pacs.studies_of(theirs)[0]
    missing = "2.25.1234567890"
    assert uids(get(client, f"/studies?StudyInstanceUID={other}")) == []
    for suffix in ("/series", "/instances", "/series/1.2.3/instances"):
        rsp_other = get(client, f"/studies/{other}{suffix}")
        rsp_missing = get(client, f"/studies/{missing}{suffix}")
        assert rsp_other.status_code == rsp_missing.status_code == 404
        assert rsp_other.get_data() == rsp_missing.get_data()
    # the open client sees it: the 404 above is the access rule, not a missing study
    assert get(client_for({theirs}), f"/studies/{other}/series").status_code == 200


def test_across_studies_searches_keep_to_the_grant(his_pacs, client_for, two_patients):
    mine, theirs = two_patients
    client = client_for({mine})
    other = his_pacs.studies_of(theirs)[0]
    assert uids(get(client, f"/series?StudyInstanceUID={other}")) == []
    assert uids(get(client, f"/instances?StudyInstanceUID={other}")) == []
    series_studies = set(uids(get(client, "/series")))
    assert series_studies == set(his_pacs.studies_of(mine))


@pytest.fixture
def audited(client_for: Callable[..., Any]) -> Callable[..., Any]:
    """``audited(patients, scopes)``: a client with a real token for them; its app keeps the
    audit trail in its own state database (``trail(client.application)``)."""
    return client_for


def trail(app: Any) -> list[tuple[str, str, str, str, list[str]]]:
    """The DICOMweb (ImagingStudy) part of the app's audit trail, in order."""
    app.extensions["audit_writer"].flush()
    with app.extensions["state_engine"].connect() as conn:
        rows = conn.execute(
            sa.select(
                audit_event.c.action,
                audit_event.c.resource_type,
                audit_event.c.outcome,
                audit_event.c.subject,
                audit_event.c.entity_ids,
            )
            .where(audit_event.c.resource_type == "ImagingStudy")
            .order_by(audit_event.c.recorded)
        ).all()
    return [(a, t, o, s, sorted(filter(None, ids.split(",")))) for a, t, o, s, ids in rows]


def test_a_grant_without_imaging_scope_is_403_and_audited(audited, two_patients):
    client = audited({two_patients[0]}, scopes="patient/Observation.rs")
    assert get(client, "/studies").status_code == 403
    found = [(a, t, o) for a, t, o, *_ in trail(client.application)]
    assert found == [("search", "ImagingStudy", "denied")]


def test_every_search_is_audited_with_the_studies_it_showed(his_pacs, audited, two_patients):
    mine, theirs = two_patients
    client = audited({mine})
    app = client.application
    who = grant_of(client).subject
    study = his_pacs.studies_of(mine)[0]
    other = his_pacs.studies_of(theirs)[0]
    get(client, "/studies")
    get(client, f"/studies/{study}/series")
    get(client, f"/studies/{other}/series")
    assert trail(app) == [
        ("search", "ImagingStudy", "allowed", who, his_pacs.studies_of(mine)),
        ("search", "ImagingStudy", "allowed", who, [study]),
        ("search", "ImagingStudy", "not-found", who, [other]),
    ]


# -- matching and paging -----------------------------------------------------------------------


def test_limit_and_offset_page_the_sorted_results(dw_client):
    every = uids(get(dw_client, "/studies"))
    assert len(every) > 4
    assert uids(get(dw_client, "/studies?limit=2")) == every[:2]
    assert uids(get(dw_client, "/studies?limit=2&offset=3")) == every[3:5]
    assert uids(get(dw_client, f"/studies?offset={len(every)}")) == []


def test_uid_lists_comma_or_backslash_and_repeated(dw_client):
    every = uids(get(dw_client, "/studies"))
    a, b = every[0], every[1]
    for query in (f"{a},{b}", f"{a}\\{b}", f"{a}&StudyInstanceUID={b}"):
        assert sorted(uids(get(dw_client, f"/studies?StudyInstanceUID={query}"))) == sorted([a, b])


def test_date_ranges(dw_client):
    items = get(dw_client, "/studies").get_json()
    dates = sorted(i["00080020"]["Value"][0] for i in items)
    mid = dates[len(dates) // 2]
    for query, keep in (
        (f"{mid}-", lambda d: d >= mid),
        (f"-{mid}", lambda d: d <= mid),
        (f"{dates[0]}-{mid}", lambda d: dates[0] <= d <= mid),
        (mid, lambda d: d == mid),
    ):
        got = get(dw_client, f"/studies?StudyDate={query}").get_json()
        assert sorted(i["00080020"]["Value"][0] for i in got) == [d for d in dates if keep(d)]


def test_modalities_and_accession(dw_client):
    items = get(dw_client, "/studies").get_json()
    first = items[0]
    modality = first["00080061"]["Value"][0]
    expected = sorted(
        i["0020000D"]["Value"][0] for i in items if modality in i["00080061"]["Value"]
    )
    assert sorted(uids(get(dw_client, f"/studies?ModalitiesInStudy={modality}"))) == expected
    accession = first["00080050"]["Value"][0]
    assert uids(get(dw_client, f"/studies?AccessionNumber={accession}")) == [
        first["0020000D"]["Value"][0]
    ]


def test_names_with_diacritics_wildcards_and_fuzzy_matching(dw_client):
    items = get(dw_client, "/studies").get_json()
    names = {i["00100010"]["Value"][0]["Alphabetic"] for i in items}
    accented = sorted(n for n in names if not n.isascii())
    assert accented, "the test HIS has Romanian and Polish names"
    name = accented[0]
    family = name.split("^")[0]
    found = get(dw_client, f"/studies?PatientName={family}*").get_json()
    assert found
    assert {i["00100010"]["Value"][0]["Alphabetic"].split("^")[0] for i in found} == {family}
    assert found[0]["00080005"]["Value"] == ["ISO_IR 192"]
    # PN as its Alphabetic group (PS3.18 F.2.2)
    assert set(found[0]["00100010"]["Value"][0]) == {"Alphabetic"}
    inner = family[1:-1]
    assert uids(get(dw_client, f"/studies?PatientName={inner}")) == []
    fuzzy = uids(get(dw_client, f"/studies?PatientName={inner}&fuzzymatching=true"))
    assert set(uids(get(dw_client, f"/studies?PatientName={family}*"))) <= set(fuzzy)


def test_includefield_repeated_comma_separated_and_all(dw_client):
    base = get(dw_client, "/studies?limit=1").get_json()[0]
    assert "00101010" not in base  # PatientAge is not a default return key
    two = get(dw_client, "/studies?limit=1&includefield=PatientAge,00080080").get_json()[0]
    rep = get(dw_client, "/studies?limit=1&includefield=PatientAge&includefield=00080080")
    assert {"00101010", "00080080"} <= set(two)
    assert {"00101010", "00080080"} <= set(rep.get_json()[0])
    every = get(dw_client, "/studies?limit=1&includefield=all").get_json()[0]
    assert {"00101010", "00080080", "00081060"} <= set(every)


def test_attributes_a_viewer_needs(dw_client):
    study = get(dw_client, "/studies?limit=1").get_json()[0]
    for tag in (
        "0020000D", "00080020", "00080030", "00080050", "00100010", "00100020",
        "00080061", "00201206", "00201208", "00081030", "00081190",
    ):  # fmt: skip
        assert tag in study, tag
    uid = study["0020000D"]["Value"][0]
    series = get(dw_client, f"/studies/{uid}/series").get_json()[0]
    for tag in ("0020000E", "00080060", "00200011", "0008103E", "00201209", "00081190"):
        assert tag in series, tag
    assert series["00081190"]["Value"][0].startswith("http://gateway.test/dicomweb/studies/")


# -- protocol ----------------------------------------------------------------------------------


def test_accept_negotiation(dw_client):
    assert get(dw_client, "/studies?limit=1").mimetype == "application/dicom+json"
    rsp = get(dw_client, "/studies?limit=1", Accept="application/json")
    assert rsp.status_code == 200
    assert rsp.mimetype == "application/json"
    rsp = get(dw_client, "/studies?limit=1", Accept="text/html;q=0.9, application/json;q=0.5")
    assert rsp.mimetype == "application/json"
    assert get(dw_client, "/studies?limit=1", Accept="*/*").status_code == 200
    assert dw_client.get("/dicomweb/studies?limit=1").status_code == 200
    rsp = get(dw_client, "/studies", Accept="text/html")
    assert rsp.status_code == 406
    assert rsp.mimetype == "application/dicom+json"
    assert get(dw_client, "/studies?accept=application/json", Accept="text/html").status_code == 200


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("StudyDate=-", "range"),
        ("StudyDate=2024-01-01", "StudyDate"),
        ("StudyDate=20240201-20240101", "range"),
        ("limit=abc", "limit"),
        ("offset=-1", "offset"),
        ("NoSuchAttribute=1", "NoSuchAttribute"),
        ("StudyInstanceUID=not-a-uid", "UID"),
        ("fuzzymatching=maybe", "fuzzymatching"),
        ("includefield=Bogus", "Bogus"),
        ("PatientName=A&PatientName=B", "more than once"),
    ],
)
def test_bad_parameters_are_400_with_a_clear_message(dw_client, query, words):
    rsp = get(dw_client, f"/studies?{query}")
    assert rsp.status_code == 400
    assert words in error_of(rsp)


def test_empty_result_is_200_and_an_empty_array(dw_client):
    rsp = get(dw_client, "/studies?StudyDate=19000101")
    assert rsp.status_code == 200
    assert rsp.get_json() == []


def test_pacs_down_is_503(his_pacs):
    dead = his_pacs.pacs.settings(port=free_port(), connect_timeout_s=1.0)
    with DimseBackend(dead) as backend:
        app = create_app(
            app_config(his_pacs.his_url, dev_open_access=True), pacs=backend, pacs_settings=dead
        )
        rsp = get(app.test_client(), "/studies")
    assert rsp.status_code == 503
    assert rsp.headers["Retry-After"]
    assert rsp.mimetype == "application/dicom+json"


# -- a real DICOMweb client over HTTP ----------------------------------------------------------


@pytest.fixture(scope="module")
def http_gateway(dw_app: Any) -> Iterator[str]:
    port = free_port()
    server = make_server("127.0.0.1", port, dw_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}/dicomweb"
    server.shutdown()
    thread.join(timeout=10)
    server.server_close()


def test_dicomweb_client_searches_through_the_gateway(his_pacs, http_gateway):
    client = DICOMwebClient(url=http_gateway)
    studies = client.search_for_studies()
    # the run's Orthanc also holds studies other tests stored: the HIS's must all be there
    assert set(his_pacs.studies) <= {s["0020000D"]["Value"][0] for s in studies}
    study = studies[0]["0020000D"]["Value"][0]
    some = client.search_for_studies(search_filters={"StudyInstanceUID": study})
    assert [s["0020000D"]["Value"][0] for s in some] == [study]
    series = client.search_for_series(study_instance_uid=study)
    assert series
    instances = client.search_for_instances(
        study_instance_uid=study, series_instance_uid=series[0]["0020000E"]["Value"][0]
    )
    assert instances
    assert all("00080018" in i for i in instances)
    paged = client.search_for_studies(limit=2, offset=1, fields=["StudyDescription"])
    assert len(paged) == 2
    assert all("00081030" in s for s in paged)
