"""Scale-out, shown: two gateway hosts behind HAProxy share their state, and nothing one host
does or forgets is undone by the other.

Every credential is made through its production path over HTTP (the registration desk's CLI,
the sign-in and consent pages, the token endpoint, client assertions); a request is sent to a
chosen host through the load balancer (``X-Gateway-Host``), or left to its round robin.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest
import redis
import requests
import sqlalchemy as sa

from smart_auth.audit.tables import audit_event
from smart_auth.oauth.revocations import KEY
from tests.deployment.conftest import MAX_FAILED_LOGINS, Cluster, Person, run_cli
from tests.deployment.flows import (
    APP_SCOPE,
    NEW_PASSWORD,
    Browser,
    bearer,
    jwks_file,
    launch,
    partner_key,
    partner_token,
    temporary_password,
)
from tests.dicomweb.web.test_stow import CT, body, part10, study
from tests.smart_auth.test_oauth_fixtures import REDIRECT

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@dataclass
class Signed:
    """A person with an account, signed in once (temporary password replaced)."""

    person: Person
    token: dict[str, Any]


@pytest.fixture(scope="module")
def app_id(cluster: Cluster) -> str:
    out = run_cli(
        cluster.env,
        "oauth", "register-app", "--name", "Scale-out app",
        "--redirect-uri", REDIRECT, "--scope", APP_SCOPE,
    )  # fmt: skip
    return out.split("client_id:", 1)[1].split()[0]


def _account(cluster: Cluster, person: Person) -> str:
    run_cli(
        cluster.env,
        "accounts", "create", "--national-id", person.national_id,
        "--email", person.email, "--language", "en",
    )  # fmt: skip
    return temporary_password(cluster.workdir / "cli-outbox", person.email)


@pytest.fixture(scope="module")
def patient_a(cluster: Cluster, app_id: str) -> Signed:
    """A's first launch, its steps spread over both hosts (one browser session)."""
    password = _account(cluster, cluster.a)
    browser = Browser(cluster.lb.url)
    token = launch(browser, app_id, cluster.a.email, password, cluster.a.his_id, hosts=("a", "b"))
    return Signed(cluster.a, token)


@pytest.fixture(scope="module")
def patient_b(cluster: Cluster, app_id: str) -> Signed:
    password = _account(cluster, cluster.b)
    token = launch(Browser(cluster.lb.url), app_id, cluster.b.email, password, cluster.b.his_id)
    return Signed(cluster.b, token)


def _get(cluster: Cluster, path: str, token: str, host: str | None, **kw: Any) -> requests.Response:
    url = path if path.startswith("http") else cluster.lb.url + path
    return requests.get(
        url, headers={**bearer(token, host), **kw.pop("headers", {})}, timeout=30, **kw
    )


# --- the same settings ------------------------------------------------------------------------


def test_both_hosts_report_one_shared_settings_fingerprint(cluster: Cluster) -> None:
    import subprocess
    import sys
    from pathlib import Path

    cli = str(Path(sys.executable).parent / "fhir-gateway")
    printed = set()
    for host in cluster.hosts.values():
        done = subprocess.run(
            ["ip", "netns", "exec", host.namespace, cli, "check-config"],
            env=host.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        assert "HIS: reachable" in done.stdout
        (line,) = [x for x in done.stdout.splitlines() if x.startswith("shared settings")]
        printed.add(line)
    assert len(printed) == 1


# --- lockout and revocation ------------------------------------------------------------------


def test_a_lockout_made_through_host_a_holds_on_host_b(cluster: Cluster, app_id: str) -> None:
    person = Person(0, "", "", "")
    # a third person of the HIS: the lockout must not touch A's or B's account
    with sa.create_engine(cluster.his_url).connect() as conn:
        from fhir_gateway.his import schema as t
        from smart_auth.accounts.service import valid_national_id

        rows = conn.execute(
            sa.select(t.patient.c.id, t.patient.c.national_id).order_by(t.patient.c.id.desc())
        ).all()
    taken = {cluster.a.his_id, cluster.b.his_id}
    row = next(r for r in rows if r.id not in taken and valid_national_id("CNP", r.national_id))
    person = Person(int(row.id), str(row.national_id), "", f"lock-{uuid.uuid4().hex[:6]}@x.test")
    password = _account(cluster, person)
    browser = Browser(cluster.lb.url)
    assert browser.login(person.email, password, "b").status_code == 302  # the password works
    answers = [
        browser.login(person.email, "not the password", "a").status_code
        for _ in range(MAX_FAILED_LOGINS)
    ]
    assert answers == [400] * (MAX_FAILED_LOGINS - 1) + [423]
    # the right password, on the other host: locked there too
    on_b = browser.login(person.email, password, "b")
    assert on_b.status_code == 423, on_b.text
    run_cli(cluster.env, "accounts", "unlock", person.email)
    assert browser.login(person.email, password, "a").status_code == 302


def test_a_token_revoked_on_host_a_is_refused_on_host_b(
    cluster: Cluster, app_id: str, patient_a: Signed
) -> None:
    token = launch(Browser(cluster.lb.url), app_id, cluster.a.email, NEW_PASSWORD, cluster.a.his_id)
    access = token["access_token"]
    patient = f"/fhir/Patient/{cluster.a.his_id}"
    # both hosts (and their workers) have looked the token up, and remember it
    for host in ("a", "b") * 4:
        assert _get(cluster, patient, access, host).status_code == 200
    counter = redis.Redis.from_url(cluster.redis_url, socket_timeout=5)
    before = int(counter.get(KEY) or 0)
    assert before  # the hosts keep the revocation counter their token memory relies on
    revoked = requests.post(
        cluster.lb.url + "/oauth/revoke",
        data={"token": access, "client_id": app_id},
        headers={"X-Gateway-Host": "a"},
        timeout=30,
    )
    assert revoked.status_code == 200
    assert int(counter.get(KEY) or 0) > before
    for host in ("b", "a") * 4:
        answer = _get(cluster, patient, access, host)
        assert answer.status_code == 401, (host, answer.status_code)
    # the refresh token of the family is gone too, whichever host is asked
    refresh = requests.post(
        cluster.lb.url + "/oauth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": token["refresh_token"],
            "client_id": app_id,
        },
        headers={"X-Gateway-Host": "b"},
        timeout=30,
    )
    assert refresh.status_code == 400


# --- paging, viewer links, shares --------------------------------------------------------------


def test_a_paging_link_from_host_a_works_on_host_b(cluster: Cluster, patient_a: Signed) -> None:
    access = patient_a.token["access_token"]
    query = f"/fhir/Observation?patient={cluster.a.his_id}&_count=3"
    first = _get(cluster, query, access, "a")
    assert first.status_code == 200, first.text
    links = {link["relation"]: link["url"] for link in first.json()["link"]}
    assert links["next"].startswith(cluster.base)
    second = _get(cluster, links["next"], access, "b")
    assert second.status_code == 200, second.text
    ids = [e["resource"]["id"] for e in first.json()["entry"]]
    more = [e["resource"]["id"] for e in second.json()["entry"]]
    assert more
    assert not set(ids) & set(more)
    # and the same link on A gives the same page: it is the search's, not the host's
    again = _get(cluster, links["next"], access, "a")
    assert [e["resource"]["id"] for e in again.json()["entry"]] == more


def test_a_viewer_link_minted_on_host_a_works_on_both(cluster: Cluster, patient_a: Signed) -> None:
    study_uid = cluster.studies[cluster.a.his_id][0]
    minted = requests.post(
        f"{cluster.lb.url}/dicomweb/studies/{study_uid}/viewer-link",
        headers=bearer(patient_a.token["access_token"], "a"),
        timeout=30,
    )
    assert minted.status_code == 201, minted.text
    viewer = minted.json()["token"]
    for host in ("b", "a"):
        series = _get(cluster, f"/dicomweb/studies/{study_uid}/series", viewer, host)
        assert series.status_code == 200, (host, series.text)
        assert len(series.json()) == 1
    other = cluster.studies[cluster.a.his_id][1]  # the token is bound to its one study
    denied = _get(cluster, f"/dicomweb/studies/{other}/series", viewer, "b")
    assert denied.status_code in (403, 404), denied.status_code


def test_a_share_granted_on_host_a_works_on_both_until_withdrawn_on_b(
    cluster: Cluster, patient_a: Signed, tmp_path: Any
) -> None:
    key = partner_key()
    out = run_cli(
        cluster.env,
        "oauth", "register-partner", "--name", "Partner clinic",
        "--jwks-file", str(jwks_file(key, tmp_path / "jwks.json")),
    )  # fmt: skip
    partner = out.split("client_id:", 1)[1].split()[0]
    seen = f"/fhir/Patient/{cluster.a.his_id}"
    before = partner_token(cluster.lb.url, partner, key, "b")
    assert _get(cluster, seen, before, "b").status_code == 404  # nobody shared yet
    system = "https://his.hospital.example/fhir/sid/oauth-client"
    consent = requests.post(
        cluster.base + "/Consent",
        json={
            "resourceType": "Consent",
            "status": "active",
            "patient": {"reference": f"Patient/{cluster.a.his_id}"},
            "organization": [{"identifier": {"system": system, "value": partner}}],
        },
        headers=bearer(patient_a.token["access_token"], "a"),
        timeout=30,
    )
    assert consent.status_code == 201, consent.text
    tokens = []
    for host in ("b", "a"):
        token = partner_token(cluster.lb.url, partner, key, host)
        tokens.append(token)
        for where in ("a", "b"):
            assert _get(cluster, seen, token, where).status_code == 200, (host, where)
            other = _get(cluster, f"/fhir/Patient/{cluster.b.his_id}", token, where)
            assert other.status_code == 404
    # withdrawn on B: the partner's tokens, remembered by both hosts, see nothing more on A
    withdrawn = requests.put(
        f"{cluster.base}/Consent/{consent.json()['id']}",
        json={**consent.json(), "status": "inactive"},
        headers=bearer(patient_a.token["access_token"], "b"),
        timeout=30,
    )
    assert withdrawn.status_code == 200, withdrawn.text
    for token in tokens:
        for where in ("a", "b"):
            assert _get(cluster, seen, token, where).status_code == 404, where


# --- the DICOMweb cache ------------------------------------------------------------------------


def _instances(cluster: Cluster, token: str, study_uid: str) -> list[tuple[str, str]]:
    answer = _get(cluster, f"/dicomweb/studies/{study_uid}/instances", token, "a")
    assert answer.status_code == 200, answer.text
    return [(item["0020000E"]["Value"][0], item["00080018"]["Value"][0]) for item in answer.json()]


def test_a_study_in_host_as_cache_is_never_served_to_another_patient(
    cluster: Cluster, patient_a: Signed, patient_b: Signed
) -> None:
    study_uid = cluster.studies[cluster.a.his_id][0]
    mine = patient_a.token["access_token"]
    theirs = patient_b.token["access_token"]
    instances = _instances(cluster, mine, study_uid)
    assert instances
    warm = _get(cluster, f"/dicomweb/studies/{study_uid}", mine, "a")
    assert warm.status_code == 200
    assert warm.content.count(b"DICM") >= len(instances)
    cache = cluster.hosts["a"].workdir / "dicomweb-cache"
    assert sum(1 for p in cache.rglob("*") if p.is_file()) >= len(instances)  # it is warm
    series, sop = instances[0]
    paths = [
        f"/dicomweb/studies/{study_uid}",
        f"/dicomweb/studies/{study_uid}/series/{series}",
        f"/dicomweb/studies/{study_uid}/series/{series}/instances/{sop}",
        f"/dicomweb/studies/{study_uid}/series/{series}/instances/{sop}/frames/1",
        f"/dicomweb/studies/{study_uid}/series/{series}/instances/{sop}/metadata",
        f"/dicomweb/studies/{study_uid}/series/{series}/instances/{sop}/rendered",
        f"/dicomweb/studies/{study_uid}/instances",
    ]
    for host in ("a", "b"):
        for path in paths:
            answer = _get(cluster, path, theirs, host)
            assert answer.status_code == 404, (host, path, answer.status_code)
            assert b"DICM" not in answer.content
            assert cluster.a.mrn.encode() not in answer.content
    # the owner still gets it from either host
    assert _get(cluster, paths[2], mine, "b").status_code == 200


# --- a host killed mid-stream --------------------------------------------------------------------


@dataclass
class Answered:
    reads: dict[str, int]
    stored: dict[str, list[str]]


def _observation_ids(cluster: Cluster, token: str) -> list[str]:
    answer = _get(
        cluster,
        f"/fhir/Observation?patient={cluster.a.his_id}&_count=1000&_elements=id",
        token,
        "b",
    )
    assert answer.status_code == 200
    return [e["resource"]["id"] for e in answer.json().get("entry", [])]


def _stream(cluster: Cluster, token: str, ids: list[str], stop: threading.Event) -> Answered:
    """Reads of distinct Observations and STOW uploads of new studies, four at a time through
    the load balancer's round robin, until ``stop`` (or the ids run out)."""
    answered = Answered({}, {})
    lock = threading.Lock()
    queue: Iterator[int] = iter(range(len(ids)))

    def worker() -> None:
        while not stop.is_set():
            with lock:
                n = next(queue, None)
            if n is None:
                return
            try:
                if n % 4 == 3:
                    datasets = study(cluster.a.mrn, count=2)
                    answer = requests.post(
                        cluster.lb.url + "/dicomweb/studies",
                        data=body(*map(part10, datasets)),
                        headers={**bearer(token), "Content-Type": CT},
                        timeout=30,
                    )
                    if answer.status_code == 200:
                        with lock:
                            answered.stored[str(datasets[0].StudyInstanceUID)] = [
                                str(ds.SOPInstanceUID) for ds in datasets
                            ]
                else:
                    answer = _get(cluster, f"/fhir/Observation/{ids[n]}", token, None)
                    if answer.status_code == 200:
                        with lock:
                            answered.reads[ids[n]] = answer.status_code
            except requests.RequestException:
                pass  # not answered: the client would try again

    with ThreadPoolExecutor(4) as pool:
        for _ in range(4):
            pool.submit(worker)
    return answered


def _audited(cluster: Cluster, resource_type: str, action: str) -> set[str]:
    with cluster.state().connect() as conn:
        return set(
            conn.execute(
                sa.select(audit_event.c.entity_ids).where(
                    audit_event.c.resource_type == resource_type, audit_event.c.action == action
                )
            ).scalars()
        )


def test_killing_a_host_mid_stream_loses_no_audit_event_and_no_upload(
    cluster: Cluster, patient_a: Signed
) -> None:
    token = patient_a.token["access_token"]
    ids = _observation_ids(cluster, token)
    random.Random(5).shuffle(ids)
    assert len(ids) >= 40, "the test HIS gives A too few observations to stream"
    already = _audited(cluster, "Observation", "read")
    ids = [i for i in ids if i not in already]
    stop = threading.Event()
    result: list[Answered] = []
    streaming = threading.Thread(target=lambda: result.append(_stream(cluster, token, ids, stop)))
    # The audit table is held (as a slow or busy database would) while the stream runs: what
    # host A answers before it dies is then only in its journal, never in the database yet.
    blocker = cluster.state().connect()
    held = blocker.begin()
    try:
        blocker.execute(sa.text("LOCK TABLE audit_event IN SHARE ROW EXCLUSIVE MODE"))
        streaming.start()
        time.sleep(1.5)
        cluster.hosts["a"].kill()  # master and workers, SIGKILL: nothing is flushed
        time.sleep(1.5)
        stop.set()
        streaming.join(timeout=60)
        journal = cluster.hosts["a"].workdir / "journal"
        waiting = sum(len(p.read_bytes().splitlines()) for p in journal.rglob("*.journal"))
        assert waiting > 0, "host A died with nothing in its journal: the test proves nothing"
    finally:
        held.rollback()
        blocker.close()
    (answered,) = result
    assert len(answered.reads) >= 10
    assert answered.stored
    # A comes back on its own journal, and writes what its killed workers had not
    cluster.hosts["a"].start()
    deadline = time.monotonic() + 30
    while True:
        missing_reads = set(answered.reads) - _audited(cluster, "Observation", "read")
        missing_stows = set(answered.stored) - _audited(cluster, "ImagingStudy", "create")
        if not (missing_reads or missing_stows) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert not missing_reads, f"{len(missing_reads)} answered reads left no audit event"
    assert not missing_stows, f"{len(missing_stows)} answered uploads left no audit event"
    orthanc = cluster.pacs.process.client
    for study_uid, sops in answered.stored.items():
        for sop in sops:  # each instance of an answered upload is in the PACS
            found = orthanc.lookup(sop)
            assert [item["Type"] for item in found] == ["Instance"], (study_uid, sop)
