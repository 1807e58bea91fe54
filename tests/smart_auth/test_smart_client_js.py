"""SMART client-js (npm fhirclient) completes a standalone launch in headless Chromium through
the gateway's real login, second-factor and consent pages, and reads the patient's data.

The app (launch.html, index.html and client-js's browser bundle) is served by a second server
on another address, so it is another origin than the gateway: the token request and the FHIR
reads are cross-origin and pass only with the CORS answers the gateway gives a registered app's
origin. Needs the bundle (``scripts/install-fhirclient-js.sh``) and Chromium (``make setup``).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import sqlalchemy as sa
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from fhir_gateway.his.schema import lab_result, patient
from mappers.ids import resource_id
from smart_auth.accounts import i18n
from tests.conftest import CHROMIUM, REPO, app_config
from tests.smart_auth.accounts.conftest import (  # noqa: F401 (fixtures)
    Inbox,
    adults,
    inbox,
    make_app,
    page,
    smtp,
)
from tests.smart_auth.accounts.test_pages import PASSWORD, accept_clause, register

BUNDLE = REPO / "var" / "fhirclient-js" / "fhir-client.js"
SCOPE = "launch/patient openid fhirUser online_access patient/*.rs"
#: The app's own address: another loopback address than the gateway's, so another origin and
#: another site (cookies of the gateway never reach it).
APP_HOST = "127.0.0.2"
pytestmark = [
    pytest.mark.skipif(
        not BUNDLE.is_file(),
        reason="SMART client-js is not installed: run scripts/install-fhirclient-js.sh",
    ),
    pytest.mark.skipif(
        not Path(CHROMIUM).is_file(), reason="Chromium is not installed: run make setup"
    ),
]

LAUNCH_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Launch</title>
<script src="fhir-client.js"></script></head>
<body><h1>Launching</h1><pre id="error"></pre>
<script>
FHIR.oauth2.authorize(%s).catch(function (e) {
  document.getElementById("error").textContent = String(e);
});
</script></body></html>
"""

INDEX_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>App</title>
<script src="fhir-client.js"></script></head>
<body><h1>App</h1><pre id="error"></pre>
<script>
function show(id, value) {
  var node = document.createElement("pre");
  node.id = id;
  node.textContent = JSON.stringify(value);
  document.body.appendChild(node);
}
FHIR.oauth2.ready().then(async function (client) {
  show("context", {patient: client.patient.id, state: client.state.tokenResponse});
  show("patient", await client.patient.read());
  show("observations", await client.request(
    "Observation?patient=" + client.patient.id, {pageLimit: 0, flat: true}));
  try {
    await client.request("Patient/" + %s);
    show("other", {status: 200});
  } catch (e) {
    show("other", {status: e.status || e.statusCode || null, message: String(e)});
  }
  // client-js's own refresh, with its default options: no client_id in the request
  var before = client.state.tokenResponse.access_token;
  try {
    await client.refresh();
    show("refreshed", {
      changed: client.state.tokenResponse.access_token !== before,
      patients: (await client.request(
        "Patient?_id=" + client.patient.id, {flat: true})).map(function (p) { return p.id; })
    });
  } catch (e) {
    show("refreshed", {error: String(e)});
  }
  show("done", true);
}).catch(function (e) {
  document.getElementById("error").textContent = String(e);
});
</script></body></html>
"""


class Server:
    """A threaded werkzeug server around a WSGI app that may be set after the port is known."""

    def __init__(self, host: str) -> None:
        self.app: Any = None
        self.server = make_server(host, 0, self._dispatch, threaded=True)
        self.url = f"http://{host}:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _dispatch(self, environ: Any, start_response: Any) -> Any:
        return self.app(environ, start_response)

    def start(self, app: Any) -> Server:
        self.app = app
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join()


def smart_app(bundle: Path, settings: dict[str, str]) -> Any:
    """The SMART app's pages; every request is kept for the assertions. ``serve.other`` is the
    id of a patient whose record the app tries to read too."""
    seen: list[str] = []

    @Request.application  # type: ignore[misc]
    def serve(request: Request) -> Response:
        seen.append(request.full_path)
        if request.path == "/launch.html":
            return Response(LAUNCH_HTML % json.dumps(settings), mimetype="text/html")
        if request.path == "/index.html":
            return Response(INDEX_HTML % json.dumps(serve.other), mimetype="text/html")
        if request.path == "/fhir-client.js":
            return Response(bundle.read_bytes(), mimetype="text/javascript")
        return Response("not found", status=404)

    serve.seen = seen
    serve.other = ""
    return serve


@pytest.fixture
def servers(make_app: Any) -> Iterator[dict[str, Any]]:  # noqa: F811
    gateway = Server("127.0.0.1")
    app = Server(APP_HOST)
    gw = make_app(
        dev_open_access=False,
        public_base_url=f"{gateway.url}/fhir",
        accounts_second_factor="email",
    )
    gateway.start(gw)
    client_id, _ = gw.extensions["smart_oauth"].store.register_client(
        name="Chart Reader",
        kind="app",
        auth_method="none",
        scope=SCOPE,
        redirect_uris=(f"{app.url}/index.html",),
        origins=(app.url,),
    )
    settings = {
        "iss": f"{gateway.url}/fhir",
        "clientId": client_id,
        "scope": SCOPE,
        "redirectUri": f"{app.url}/index.html",
        "pkceMode": "required",
    }
    app.start(smart_app(BUNDLE, settings))
    yield {"gateway": gateway, "app": app, "gw": gw, "client_id": client_id}
    app.stop()
    gateway.stop()
    gw.extensions["state_engine"].dispose()


def expected_observations(his_url: str, patient_id: int) -> set[str]:
    """The patient's Observations as the gateway answers them with authorization off."""
    from gateway.app import create_app

    open_app = create_app(app_config(his_url))
    client = open_app.test_client()
    found: set[str] = set()
    url: str | None = f"/fhir/Observation?patient={patient_id}"
    while url:
        bundle = client.get(url).get_json()
        found |= {e["resource"]["id"] for e in bundle.get("entry", [])}
        nxt = [link["url"] for link in bundle.get("link", []) if link["relation"] == "next"]
        url = None
        if nxt:
            parts = urlsplit(nxt[0])
            url = parts.path + "?" + parts.query
    open_app.extensions["state_engine"].dispose()
    return found


def test_client_js_standalone_launch_through_login_factor_and_consent(
    servers: dict[str, Any],
    page: Any,  # noqa: F811
    inbox: Inbox,  # noqa: F811
    adults: list[Any],  # noqa: F811
    sqlite_his: str,
) -> None:
    gateway, app = servers["gateway"].url, servers["app"].url
    conf = requests.get(f"{gateway}/fhir/.well-known/smart-configuration", timeout=10).json()
    assert "S256" in conf["code_challenge_methods_supported"]
    engine = sa.create_engine(sqlite_his)
    with engine.connect() as conn:
        with_results = set(conn.execute(sa.select(lab_result.c.patient_id)).scalars())
    person = next(p for p in adults if p.id in with_results)
    other = next(p for p in adults if p.id != person.id)
    email = register(page, gateway, person, inbox)
    page.context.clear_cookies()  # the launch starts signed out
    servers["app"].app.other = str(other.id)

    answers: list[Any] = []  # every answer the browser got, in order
    page.on("response", lambda answer: answers.append(answer))
    page.goto(f"{app}/launch.html")
    page.wait_for_url(f"{gateway}/account/login?*")
    assert page.get_by_role("heading", level=1).inner_text() == i18n.text("login_title", "en")
    page.get_by_label("Email or user name").fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{gateway}/account/second-factor")
    assert page.get_by_role("heading", level=1).inner_text() == i18n.text("factor_title", "en")
    page.get_by_label("Code").fill(inbox.code(email))
    page.get_by_role("button", name="Verify").click()
    accept_clause(page)  # the first sign-in of a self-registered account
    page.wait_for_url(f"{gateway}/oauth/authorize?*")
    assert page.get_by_role("heading", level=1).inner_text() == (
        "Allow Chart Reader to use your health records?"
    )
    assert page.get_by_role("radio").count() == 1
    page.get_by_role("button", name="Allow").click()
    page.wait_for_url(f"{app}/index.html?*")
    page.wait_for_function(
        "document.getElementById('done') || document.getElementById('error').textContent",
        timeout=20000,
    )
    assert page.locator("#error").inner_text() == ""
    assert page.locator("#done").count() == 1

    # the pages the browser went through, in order
    documents = [
        (a.request.method, urlsplit(a.url).netloc, urlsplit(a.url).path, a.status)
        for a in answers
        if a.request.resource_type == "document"
    ]
    gw_host, app_host = urlsplit(gateway).netloc, urlsplit(app).netloc
    assert documents == [
        ("GET", app_host, "/launch.html", 200),
        ("GET", gw_host, "/oauth/authorize", 302),
        ("GET", gw_host, "/account/login", 200),
        ("POST", gw_host, "/account/login", 302),
        ("GET", gw_host, "/account/second-factor", 200),
        ("POST", gw_host, "/account/second-factor", 302),
        ("GET", gw_host, "/account/welcome", 200),
        ("POST", gw_host, "/account/welcome", 302),
        ("GET", gw_host, "/oauth/authorize", 200),
        ("POST", gw_host, "/oauth/authorize", 302),
        ("GET", app_host, "/index.html", 200),
    ]
    # the authorization request client-js made: PKCE S256, this FHIR server as aud
    first = next(a for a in answers if urlsplit(a.url).path == "/oauth/authorize")
    asked = parse_qs(urlsplit(first.url).query)
    assert asked["code_challenge_method"] == ["S256"]
    assert asked["aud"] == [f"{gateway}/fhir"]
    assert asked["redirect_uri"] == [f"{app}/index.html"]
    landed = next(a for a in answers if urlsplit(a.url).path == "/index.html")
    back = parse_qs(urlsplit(landed.url).query)
    assert back["code"]
    assert back["state"] == asked["state"]
    # the token request and the reads were cross-origin, allowed for the app's origin only
    cross = [a for a in answers if a.request.resource_type in ("fetch", "xhr")]
    token_answers = [a for a in cross if urlsplit(a.url).path == "/oauth/token"]
    assert [(a.request.method, a.status) for a in token_answers] == [("POST", 200)] * 2
    # client-js refreshed as it does by default, naming no client (RFC 6749 §6, public client)
    sent = parse_qs(token_answers[1].request.post_data or "")
    assert sent["grant_type"] == ["refresh_token"]
    assert "client_id" not in sent
    assert json.loads(page.locator("#refreshed").inner_text()) == {
        "changed": True,
        "patients": [str(person.id)],
    }
    for answer in cross:
        if urlsplit(answer.url).netloc == gw_host:
            assert answer.request.all_headers()["origin"] == app
            allowed = answer.headers["access-control-allow-origin"]
            assert allowed in ("*", app)

    context = json.loads(page.locator("#context").inner_text())
    assert context["patient"] == str(person.id)
    token = context["state"]["access_token"]
    after = next(a for a in cross if urlsplit(a.url).query.startswith("_id="))
    assert after.status == 200
    assert after.request.all_headers()["authorization"] not in ("", f"Bearer {token}")
    read = json.loads(page.locator("#patient").inner_text())
    with engine.connect() as conn:
        row = conn.execute(sa.select(patient).where(patient.c.id == person.id)).one()
        mine = {
            resource_id("Observation", "lab_result", r)
            for r in conn.execute(
                sa.select(lab_result.c.id).where(lab_result.c.patient_id == person.id)
            ).scalars()
        }
    engine.dispose()
    assert read["resourceType"] == "Patient"
    assert read["id"] == str(row.id)
    assert any(
        n.get("family") == row.family and row.given in n.get("given", []) for n in read["name"]
    )

    observations = json.loads(page.locator("#observations").inner_text())
    ids = {o["id"] for o in observations}
    assert observations
    assert all(o["resourceType"] == "Observation" for o in observations)
    assert {o["subject"]["reference"] for o in observations} == {f"Patient/{person.id}"}
    assert ids <= mine
    assert ids == expected_observations(sqlite_his, person.id)

    # another patient's record answers like a missing one, in the browser and outside it
    assert json.loads(page.locator("#other").inner_text())["status"] == 404
    auth = {"Authorization": f"Bearer {token}", "Accept": "application/fhir+json"}
    theirs = requests.get(f"{gateway}/fhir/Patient/{other.id}", headers=auth, timeout=10)
    missing = requests.get(f"{gateway}/fhir/Patient/999999999", headers=auth, timeout=10)
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json()["issue"][0]["code"] == missing.json()["issue"][0]["code"]

    served = servers["app"].app.seen
    assert served[0] == "/launch.html?"
    assert any(p.startswith("/index.html?") and "code=" in p for p in served)
