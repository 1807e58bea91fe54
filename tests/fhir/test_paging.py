"""Keyset paging: complete, ordered, short links, stable while the HIS changes, tamper-proof."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from fhir_gateway.his import schema as t
from tests.conftest import BASE, app_config
from tests.fhir.helpers import ids, link, local, search, walk


@pytest.fixture(scope="module")
def patient_with_reports(his_engine: sa.Engine) -> int:
    lb = t.lab_bulletin
    stmt = (
        sa.select(lb.c.patient_id)
        .group_by(lb.c.patient_id)
        .order_by(sa.func.count().desc())
        .limit(1)
    )
    with his_engine.connect() as conn:
        return conn.execute(stmt).scalar_one()


def test_pages_cover_everything_once_in_order(client):
    every = walk(client, "/fhir/Observation?_count=1000")
    paged = walk(client, "/fhir/Observation?_count=37")
    assert ids(paged) == ids(every)
    assert len(set(ids(paged))) == len(paged)


def test_merged_sources_page_by_date(client, patient_with_reports):
    path = f"/fhir/DiagnosticReport?patient={patient_with_reports}&_sort=-date"
    every = walk(client, path + "&_count=1000")
    kinds = {r["id"].split("-")[0] for r in every}
    assert {"lab"} <= kinds
    paged = walk(client, path + "&_count=3")
    assert ids(paged) == ids(every)
    dates = [r["effectiveDateTime"] for r in paged]
    assert dates == sorted(dates, reverse=True)


def test_previous_links_walk_back(client):
    first = search(client, "/fhir/Patient?_count=5")
    second = search(client, local(link(first, "next")))
    third = search(client, local(link(second, "next")))
    back = search(client, local(link(third, "previous")))
    assert ids([e["resource"] for e in back["entry"]]) == ids(
        [e["resource"] for e in second["entry"]]
    )
    back2 = search(client, local(link(back, "previous")))
    assert ids([e["resource"] for e in back2["entry"]]) == ids(
        [e["resource"] for e in first["entry"]]
    )
    assert link(first, "previous") is None


def test_links_are_absolute_short_and_keep_the_query(client):
    bundle = search(client, "/fhir/Observation?category=laboratory&_count=10&_sort=-date")
    for relation in ("self", "next"):
        url = link(bundle, relation)
        assert url.startswith(f"{BASE}/Observation?")
        assert len(url) < 300
        assert "category=laboratory" in url
        assert "_sort=-date" in url


def test_tampered_or_foreign_cursors_are_refused(client):
    nxt = local(link(search(client, "/fhir/Patient?_count=2"), "next"))
    assert client.get(nxt.replace("_cursor=", "_cursor=A")).status_code == 400
    # the same cursor on another search
    cursor = nxt.split("_cursor=")[1]
    assert client.get(f"/fhir/Patient?gender=female&_count=2&_cursor={cursor}").status_code == 400


def test_cursor_is_bound_to_the_grant(his_url):
    """Two accounts acting for the same three patients, each through its own app's real
    token: a paging link one of them got does not serve the other."""
    from gateway.app import create_app
    from tests.credentials import launch_token, with_test_sign_in
    from tests.smart_auth.test_oauth_fixtures import add_account

    app = with_test_sign_in(create_app(app_config(his_url, dev_open_access=False)))
    clients = []
    for _ in range(2):
        account = add_account(app, (1, "self"), (2, "guardian"), (3, "guardian"))
        token = launch_token(app, account, "openid user/*.rs", None)
        client = app.test_client()
        client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token['access_token']}"
        clients.append(client)
    one, two = clients
    nxt = local(link(search(one, "/fhir/Patient?_count=2"), "next"))
    assert one.get(nxt).status_code == 200
    assert two.get(nxt).status_code == 400
    app.extensions["state_engine"].dispose()


def test_links_stay_valid_while_the_his_changes(client, his_engine, patient_with_reports):
    """A row inserted before the cursor does not shift the next page (no offsets)."""
    path = f"/fhir/Observation?patient={patient_with_reports}&_count=4&_sort=date"
    first = search(client, path)
    expected_next = ids(walk(client, local(link(first, "next"))))
    lr = t.lab_result
    with his_engine.begin() as conn:
        template = dict(
            conn.execute(
                sa.select(lr)
                .where(lr.c.patient_id == patient_with_reports)
                .order_by(lr.c.observed_at)
                .limit(1)
            )
            .mappings()
            .one()
        )
        template.pop("id")
        template["observed_at"] = template["observed_at"] - dt.timedelta(days=3650)
        new_id = conn.execute(sa.insert(lr).values(**template)).inserted_primary_key[0]
    try:
        assert ids(walk(client, local(link(first, "next")))) == expected_next
        assert str(new_id) in ids(walk(client, path))
    finally:
        with his_engine.begin() as conn:
            conn.execute(sa.delete(lr).where(lr.c.id == new_id))
