"""The patient's own notification preferences, ``/account/notifications``, in headless
Chromium against a live gateway: signed in through the real account pages (registration,
activation mail, sign-in), a guardian sets what they and the minor in their care are told of;
the save is audited; a form without its CSRF token and another patient's id are refused; the
page has no axe-core violations; and the worker then delivers an event on the chosen channel
only, in the chosen language."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from fhir_gateway.his import schema as t
from fhir_gateway.his.sql import SqlConnector
from gateway.app import create_app
from gateway.settings import Settings
from notifications import events as ev
from notifications import messages, wording
from notifications.worker import build
from smart_auth.audit.tables import audit_event
from tests.conftest import app_config
from tests.smart_auth.accounts.conftest import Inbox, LiveServer
from tests.smart_auth.accounts.test_pages import PASSWORD, accept_clause, register, sign_in

from .conftest import Hospital, SmsProvider, now

AXE = Path(__file__).resolve().parents[2] / "var" / "portal-assets" / "axe.min.js"
MOBILE = "+40700111222"
SHOTS = Path(os.environ.get("ACCOUNT_SCREENSHOTS", "var/test-artefacts/accounts"))


@pytest.fixture
def served(
    his_copy: str, smtp: tuple[Inbox, int], sms: tuple[SmsProvider, str], tmp_path: Path
) -> Iterator[LiveServer]:
    config = app_config(
        his_copy,
        state_url=f"sqlite:///{tmp_path / 'state.sqlite'}",
        smtp_host="127.0.0.1",
        smtp_port=smtp[1],
        sms_url=sms[1],
        notify_language="ro",
        notify_email_kinds="all",
        notify_sms_kinds="",
    )
    server = LiveServer(create_app(config))
    yield server
    server.stop()


@pytest.fixture
def tab(browser: Any) -> Iterator[Any]:
    """A fresh English browser context and tab."""
    context = browser.new_context(locale="en-US")
    yield context.new_page()
    context.close()


def guardian_with_ward(his: sa.Engine) -> Any:
    """An adult with a CNP and an email address, nobody's ward, with a minor in their care
    (a current guardian link): the patient row with ``ward_id`` and ``ward_nid``."""
    g, p = t.guardian_link, t.patient
    ward = p.alias("ward")
    with his.connect() as conn:
        return conn.execute(
            sa.select(p, ward.c.id.label("ward_id"), ward.c.national_id.label("ward_nid"))
            .join(g, g.c.guardian_id == p.c.id)
            .join(ward, ward.c.id == g.c.ward_id)
            .where(p.c.national_id_kind == "CNP", p.c.email.is_not(None))
            .where(ward.c.national_id_kind == "CNP")
            .where(p.c.id.not_in(sa.select(g.c.ward_id)))
            .where(sa.or_(g.c.valid_to.is_(None), g.c.valid_to > now().date()))
            .order_by(p.c.id)
            .limit(1)
        ).one()


def screenshots(page: Any, name: str) -> None:
    """The page at 360 and 1280 px, to look at (var/test-artefacts/accounts)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width in (360, 1280):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)


def axe_violations(page: Any) -> list[Any]:
    page.wait_for_load_state("load")  # styled: colours are judged as the page shows them
    page.evaluate(AXE.read_text())
    found: list[Any] = page.evaluate(
        "axe.run(document, {runOnly: {type: 'tag', values: "
        "['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})"
        ".then(r => r.violations.map(v => [v.id, v.nodes.map(n => n.target)]))"
    )
    return found


def test_a_guardian_sets_preferences_and_the_worker_follows_them(
    served: LiveServer,
    tab: Any,
    smtp: tuple[Inbox, int],
    sms: tuple[SmsProvider, str],
    hospital: Hospital,
    his_engine_rw: sa.Engine,
    connector: SqlConnector,
) -> None:
    base, page, inbox = served.url, tab, smtp[0]
    person = guardian_with_ward(his_engine_rw)
    me, ward = int(person.id), int(person.ward_id)
    hospital.with_contacts(me, person.email, MOBILE)
    email = register(page, base, person, inbox)
    sign_in(page, base, email, PASSWORD)
    accept_clause(page)
    page.goto(f"{base}/account/identities")
    page.locator("#national_id").fill(person.ward_nid)
    page.locator("button[type=submit]").last.click()

    # the home page links to the preferences
    page.goto(f"{base}/account/")
    page.get_by_role("link", name="Notifications").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Notifications"
    sections = page.locator("section h2")
    assert sections.count() == 2  # own record and the ward's
    assert "(Myself)" in sections.nth(0).inner_text()
    assert "(In my care)" in sections.nth(1).inner_text()
    # the deployment's defaults until the person chooses: every kind by email, none by SMS
    lab = ev.QUESTIONNAIRE_ASSIGNED
    assert page.locator(f"#email-{me}-{lab}").is_checked()
    assert not page.locator(f"#sms-{me}-{lab}").is_checked()
    if AXE.is_file():
        assert axe_violations(page) == []
    screenshots(page, "notifications-en")

    # the guardian's own record: questionnaires by SMS only, in Polish
    mine = page.locator("section", has=page.locator(f"#person-{me}"))
    mine.get_by_label("Language of the messages").select_option("pl")
    page.get_by_role("checkbox", name=f"{wording.text('kind_' + lab, 'en')} Email").first.uncheck()
    page.locator(f"#sms-{me}-{lab}").check()
    mine.get_by_role("button", name="Save").click()
    assert page.get_by_role("status").inner_text().startswith("The preferences for ")
    assert page.locator(f"#sms-{me}-{lab}").is_checked()
    assert not page.locator(f"#email-{me}-{lab}").is_checked()
    assert page.locator(f"#language-{me}").input_value() == "pl"
    # the ward keeps the defaults
    assert page.locator(f"#email-{ward}-{lab}").is_checked()
    if AXE.is_file():
        assert axe_violations(page) == []

    # in the account pages' languages: the switch keeps the page
    page.goto(f"{base}/account/lang/pl?next=/account/notifications")
    assert page.get_by_role("heading", level=1).inner_text() == "Powiadomienia"
    assert page.locator("html").get_attribute("lang") == "pl"
    screenshots(page, "notifications-pl")
    assert page.locator(f"#person-{me}").inner_text().endswith("(Ja)")
    page.goto(f"{base}/account/lang/en?next=/account/notifications")

    state = served.server.app.extensions["state_engine"]
    with state.connect() as conn:
        audited = conn.execute(
            sa.select(audit_event.c.action, audit_event.c.outcome, audit_event.c.subject).where(
                audit_event.c.resource_type == "NotificationPreferences"
            )
        ).all()
    account = served.server.app.extensions["accounts"].find(email).id
    assert [tuple(r) for r in audited] == [("update", "allowed", f"account:{account}")]

    # refusals: no CSRF token; a patient not in the account's care (answered as missing)
    csrf = page.locator("input[name=csrf_token]").first.input_value()
    forged = page.request.post(
        f"{base}/account/notifications",
        form={"csrf_token": "forged", "patient": str(me), "language": "en"},
    )
    assert forged.status == 400
    other = page.request.post(
        f"{base}/account/notifications",
        form={"csrf_token": csrf, "patient": str(me + 1000), "language": "en", "sms": lab},
    )
    assert other.status == 404
    odd = page.request.post(
        f"{base}/account/notifications",
        form={"csrf_token": csrf, "patient": str(me), "language": "en", "sms": "results"},
    )
    assert odd.status == 400
    settings: Settings = served.server.app.config["SETTINGS"]
    store = served.server.app.extensions["notification_store"]
    assert store.preferences(me).language == "pl"  # the refused forms changed nothing
    assert store.preferences(me).channels(lab) == ["sms"]

    # the worker's side: a questionnaire the HIS assigns the guardian is told by SMS only
    provider, _ = sms
    built = build(settings, his=connector)
    try:
        built.runtime.poll_his()  # the feed starts at the present
        mails_before = len(inbox.messages)
        hospital.assign_questionnaire(me)
        assert built.runtime.poll_his() == 1
        pending = [d for d in built.runtime.store.deliveries() if d["patient_id"] == me]
        assert [(d["kind"], d["channel"]) for d in pending] == [(lab, "sms")]
        assert built.runtime.deliver(int(pending[0]["id"])) == "sent"
    finally:
        built.broker.close()
    assert provider.to(MOBILE) == [messages.text(lab, "pl", built.runtime.settings.link)]
    assert len(inbox.messages) == mails_before  # no mail
    assert json.dumps(provider.accepted).count(MOBILE) == 1
