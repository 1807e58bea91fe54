"""Python fhirclient (SMART client-py) completes a standalone launch against a live server
and reads the patient; it finds the endpoints in the CapabilityStatement's oauth-uris."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from fhirclient import client as smart_client
from werkzeug.serving import make_server

from tests.smart_auth.test_oauth_fixtures import REDIRECT, add_account, add_app, consent_form


@pytest.fixture
def live(sqlite_his: str, tmp_path: Path) -> Iterator[dict[str, Any]]:
    holder: dict[str, Any] = {}

    def dispatch(environ: Any, start_response: Any) -> Any:
        return holder["app"](environ, start_response)

    server = make_server("127.0.0.1", 0, dispatch, threaded=True)
    base = f"http://127.0.0.1:{server.server_port}/fhir"
    from tests.smart_auth.test_oauth_fixtures import make_app

    holder["app"] = make_app(sqlite_his, tmp_path, public_base_url=base)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield {"app": holder["app"], "base": base}
    server.shutdown()
    thread.join()
    holder["app"].extensions["state_engine"].dispose()


def test_fhirclient_standalone_launch_and_read(live: dict[str, Any]) -> None:
    app, base = live["app"], live["base"]
    client_id, _ = add_app(app)
    account_id = add_account(app, (4, "self"))
    smart = smart_client.FHIRClient(
        settings={
            "app_id": client_id,
            "api_base": base,
            "redirect_uri": REDIRECT,
            "scope": "launch/patient openid fhirUser patient/*.rs",
        }
    )
    url = smart.authorize_url
    assert url is not None
    assert url.startswith(base.removesuffix("/fhir") + "/oauth/authorize")
    browser = requests.Session()
    root = base.removesuffix("/fhir")
    assert browser.get(f"{root}/_test/sign-in/{account_id}", timeout=10).status_code == 200
    page = browser.get(url, timeout=10)
    assert page.status_code == 200
    action, form = consent_form(page.text)
    form["patient"] = form.pop("patients")[0]
    answer = browser.post(root + action, data=form, allow_redirects=False, timeout=10)
    assert answer.status_code == 302
    smart.handle_callback(answer.headers["Location"])
    assert smart.ready
    assert smart.patient_id == "4"
    patient = smart.patient
    assert patient is not None
    assert patient.id == "4"
