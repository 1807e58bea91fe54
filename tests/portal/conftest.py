"""What the portal's browser tests share: a served gateway (production authorization server,
accounts with an email second factor) and a served portal registered with it as a confidential
client; signing a patient in through the portal; axe-core and screenshots of a page."""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from portal.app import ASSETS, create_portal
from portal.client import Gateway
from tests.conftest import CHROMIUM, app_config
from tests.smart_auth.accounts.conftest import (  # noqa: F401 (fixtures)
    Inbox,
    adults,
    inbox,
    make_app,
    smtp,
)
from tests.smart_auth.accounts.test_pages import PASSWORD, accept_clause, register

pytestmark = [
    pytest.mark.skipif(not Path(CHROMIUM).is_file(), reason="Chromium: run make setup"),
    pytest.mark.skipif(
        not (ASSETS / "axe.min.js").is_file(), reason="portal assets: run make setup"
    ),
]
#: what the portal registers for: what it asks
SCOPE = Gateway.scope
SHOTS = Path(os.environ.get("PORTAL_SCREENSHOTS", "var/test-artefacts/portal"))


class Served:
    """A threaded werkzeug server whose app is set once its port is known."""

    def __init__(self) -> None:
        self.app: Any = None
        self.server = make_server("127.0.0.1", 0, lambda e, s: self.app(e, s), threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self, app: Any) -> None:
        self.app = app
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join()


@pytest.fixture
def served(make_app: Any, tmp_path: Path) -> Iterator[dict[str, Any]]:  # noqa: F811
    gateway, portal = Served(), Served()
    gw = make_app(
        dev_open_access=False,
        public_base_url=f"{gateway.url}/fhir",
        accounts_second_factor="email",
    )
    gateway.start(gw)
    client_id, secret = gw.extensions["smart_oauth"].store.register_client(
        name="Patient portal",
        kind="app",
        auth_method="client_secret_basic",
        scope=SCOPE,
        redirect_uris=(f"{portal.url}/callback",),
    )
    app = create_portal(
        {
            "portal_fhir_url": f"{gateway.url}/fhir",
            "portal_public_url": portal.url,
            "portal_client_id": client_id,
            "portal_client_secret": secret,
            "portal_secret_key": "portal-test-key",
            "portal_state_url": f"sqlite:///{tmp_path / 'portal.sqlite'}",
            "portal_hospital_name": "Spitalul Clinic Demo",
            "portal_emergency_number": "112",
        }
    )
    portal.start(app)
    yield {"gateway": gateway.url, "portal": portal.url, "gw": gw, "app": app}
    portal.stop()
    gateway.stop()
    gw.extensions["state_engine"].dispose()
    app.extensions["portal_engine"].dispose()


def lab_reports(his_url: str, patient_id: int) -> list[str]:
    """The patient's lab DiagnosticReports as the gateway answers with authorization off."""
    from gateway.app import create_app

    open_app = create_app(app_config(his_url))
    bundle = (
        open_app.test_client()
        .get(f"/fhir/DiagnosticReport?patient={patient_id}&category=LAB&_sort=-date&_count=50")
        .get_json()
    )
    open_app.extensions["state_engine"].dispose()
    return [e["resource"]["id"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]


def axe_clean(page: Any, name: str, widths: tuple[int, ...] = (360, 768, 1280)) -> None:
    """axe-core (WCAG 2.1 A and AA rules) finds nothing on the page; screenshots at each of
    ``widths`` as ``<name>-<width>.png`` (``name`` may hold folders). It waits for the page's
    stylesheets first: a check of a page not yet styled judges colours the page never shows."""
    page.wait_for_load_state("load")
    page.evaluate((ASSETS / "axe.min.js").read_text())
    found = page.evaluate(
        "axe.run(document, {runOnly: {type: 'tag', values: "
        "['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})"
        ".then(r => r.violations.map(v => [v.id, v.nodes.map(n => n.target)]))"
    )
    assert found == [], f"{name}: {json.dumps(found)}"
    for width in widths:
        path = SHOTS / f"{name}-{width}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(path), full_page=True)


def reach_consent(page: Any, served: dict[str, Any], person: Any, inbox: Inbox) -> str:  # noqa: F811
    """Register ``person`` (an account with an email second factor) on the gateway's pages,
    then sign in through the portal as far as the gateway's consent page; the account's
    email."""
    gateway, portal = served["gateway"], served["portal"]
    email = register(page, gateway, person, inbox)
    page.context.clear_cookies()
    page.goto(f"{portal}/sign-in")
    page.get_by_label("Email or user name").fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_label("Code").fill(inbox.code(email))
    page.get_by_role("button", name="Verify").click()
    accept_clause(page)
    page.wait_for_url(f"{gateway}/oauth/authorize?*")
    return email


def sign_in(page: Any, served: dict[str, Any], person: Any, inbox: Inbox) -> str:  # noqa: F811
    """``reach_consent``, then allow the portal: the page ends on the portal's home. The
    account's email."""
    email = reach_consent(page, served, person, inbox)
    page.get_by_role("button", name="Allow").click()
    page.wait_for_url(f"{served['portal']}/")
    return email


def sign_in_with_ward(
    page: Any,
    served: dict[str, Any],
    guardian: Any,
    ward_national_id: str,
    inbox: Inbox,  # noqa: F811
) -> str:
    """``reach_consent`` for ``guardian``; before allowing, the ward is added on the gateway's
    identities page (F8), then the portal's sign-in starts again, finds the account signed in
    at the gateway, and is allowed. The guardian's email."""
    gateway, portal = served["gateway"], served["portal"]
    email = reach_consent(page, served, guardian, inbox)
    page.goto(f"{gateway}/account/identities")
    page.get_by_label("Personal numeric code (CNP)").fill(ward_national_id)
    page.get_by_role("button", name="Add").click()
    page.goto(f"{portal}/sign-in")
    page.wait_for_url(f"{gateway}/oauth/authorize?*")
    page.get_by_role("button", name="Allow").click()
    page.wait_for_url(f"{portal}/")
    return email


def fill_date(page: Any, field: str, day: dt.date) -> None:
    """Type ``day`` into the date input ``field`` (its day, month and year boxes)."""
    page.locator(f"#{field}-day").fill(str(day.day))
    page.locator(f"#{field}-month").fill(str(day.month))
    page.locator(f"#{field}-year").fill(str(day.year))
