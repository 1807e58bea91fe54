"""Bot protection without third parties (F3): the ALTCHA proof of work on registration, on
sign-in after a failed attempt, on the forgotten-password form and on result-code access.

Through real parts: challenges from ``GET /altcha/challenge`` solved by the ``altcha`` library
(as a script would) and by the npm widget in headless Chromium (as a browser does); each
solution accepted once, on every host sharing the state database; a tampered or expired one
refused; without JavaScript the form explains why it cannot be sent; the widget runs under the
account pages' CSP (no inline script or style, no blob: worker) and the pages stay axe-clean."""

from __future__ import annotations

import re
import time
from typing import Any

import altcha
import pytest

from smart_auth.accounts import i18n
from smart_auth.botcheck import text as botcheck_text

from .conftest import Inbox, LiveServer
from .test_pages import PASSWORD

#: a light proof of work: the tests check the plumbing, not the cost
CHEAP = {"altcha_enabled": True, "altcha_cost": 20}


def solved(client: Any) -> str:
    """A challenge of ``client``'s gateway, solved: the ``altcha`` form field."""
    answer = client.get("/altcha/challenge")
    assert answer.status_code == 200
    assert answer.headers["Cache-Control"] == "no-store"
    challenge = altcha.Challenge.from_dict(answer.get_json())
    assert challenge.parameters.algorithm == "PBKDF2/SHA-256"
    assert challenge.parameters.expires_at > time.time()
    solution = altcha.solve_challenge(challenge, timeout=30)
    assert solution is not None
    return altcha.Payload(challenge, solution).to_base64()


def result_access(client: Any, proof: str | None, address: str = "10.9.9.9") -> Any:
    form = {"code": "000000", "national_id": "1900101000000"}
    if proof is not None:
        form["altcha"] = proof
    return client.post("/auth/result-access", data=form, environ_base={"REMOTE_ADDR": address})


def test_result_code_access_needs_a_fresh_proof_of_work_on_every_host(make_app: Any) -> None:
    first = make_app(**CHEAP)
    second = make_app(**CHEAP)  # another host: the same state database, the same key
    assert first.config["SETTINGS"].state_url == second.config["SETTINGS"].state_url
    client, other = first.test_client(), second.test_client()

    # no proof: refused before any code is judged
    missing = result_access(client, None)
    assert missing.status_code == 400
    assert missing.get_json()["error"] == "invalid_request"
    assert "altcha" in missing.get_json()["error_description"]

    # a proof: the code itself is judged (wrong here)
    proof = solved(client)
    judged = result_access(client, proof)
    assert judged.status_code == 400
    assert judged.get_json()["error"] == "invalid_grant"

    # the same proof again, here or on the other host: refused
    for again in (client, other):
        replay = result_access(again, proof)
        assert replay.status_code == 400
        assert replay.get_json()["error"] == "invalid_request"

    # the other host's challenges verify here (one key for the deployment)
    assert result_access(client, solved(other)).get_json()["error"] == "invalid_grant"

    # a tampered challenge (a cheaper cost) or garbage: refused
    payload = altcha.Payload.from_base64(solved(client))
    payload.challenge.parameters.cost = 1
    payload.solution = altcha.solve_challenge(payload.challenge, timeout=30)
    assert result_access(client, payload.to_base64()).get_json()["error"] == "invalid_request"
    for junk in ("", "not base64!", "e30=", "A" * 5000):
        assert result_access(client, junk).get_json()["error"] == "invalid_request"


def test_an_expired_challenge_or_another_deployments_is_refused(make_app: Any) -> None:
    app = make_app(**CHEAP, altcha_hmac_secret="deployment-one")
    client = app.test_client()
    stale = altcha.create_challenge(
        "PBKDF2/SHA-256", 20, expires_at=int(time.time()) - 1, hmac_secret="deployment-one"
    )
    stale_solution = altcha.solve_challenge(stale, timeout=30)
    assert stale_solution is not None
    expired = altcha.Payload(stale, stale_solution).to_base64()
    assert result_access(client, expired).get_json()["error"] == "invalid_request"
    foreign = make_app(**CHEAP, altcha_hmac_secret="deployment-two").test_client()
    assert result_access(client, solved(foreign)).get_json()["error"] == "invalid_request"
    assert result_access(client, solved(client)).get_json()["error"] == "invalid_grant"


def test_off_asks_for_nothing(make_app: Any) -> None:
    client = make_app(altcha_enabled=False).test_client()
    assert result_access(client, None).get_json()["error"] == "invalid_grant"
    page = client.get("/account/register", headers={"Accept-Language": "en"})
    assert b"altcha-widget" not in page.data


def watch(page: Any) -> list[str]:
    """Console errors and CSP violations of the page, as they come."""
    seen: list[str] = []

    def console(message: Any) -> None:
        where = str(message.location.get("url", ""))
        if message.type == "error" and not where.endswith("/favicon.ico"):
            seen.append(f"{message.text} {where}")

    page.on("console", console)
    page.on("pageerror", lambda e: seen.append(str(e)))
    return seen


def proof_ready(page: Any) -> str:
    field = page.locator("input[name=altcha]")
    field.wait_for(state="attached", timeout=60000)
    page.wait_for_function(
        "() => (document.querySelector('input[name=altcha]') || {}).value", timeout=60000
    )
    return str(field.input_value())


def register_by_widget(page: Any, base: str, person: Any, inbox: Inbox) -> str:
    """``test_pages.register``, waiting for the widget's proof before sending the form."""
    page.goto(f"{base}/account/register")
    page.get_by_label("Full name").fill(f"{person.given} {person.family}")
    page.get_by_label("Personal numeric code (CNP)").fill(person.national_id)
    proof_ready(page)
    page.get_by_role("button", name="Create account").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Check your email"
    page.goto(inbox.link(person.email))
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Activate account").click()
    assert page.get_by_role("status").inner_text() == i18n.text(
        "activated", "en", username=str(person.email).lower()
    )
    return str(person.email)


@pytest.fixture
def gateway(make_app: Any) -> Any:
    server = LiveServer(make_app(**CHEAP, accounts_second_factor="none"))
    yield server
    server.stop()


def test_registration_in_a_browser_solves_the_widget_under_the_csp(
    gateway: Any, browser: Any, inbox: Inbox, adults: list[Any]
) -> None:
    from tests.portal.conftest import axe_clean

    person = adults[0]
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    errors = watch(page)
    answer = page.goto(f"{gateway.url}/account/register")
    assert answer is not None
    assert "script-src 'self'; worker-src 'self'" in answer.headers["content-security-policy"]
    assert page.locator("altcha-widget").count() == 1
    assert proof_ready(page)
    axe_clean(page, "altcha-register-en")
    email = register_by_widget(page, gateway.url, person, inbox)
    assert email == person.email
    assert errors == []

    # Romanian: the widget speaks the page's language
    page.goto(f"{gateway.url}/account/lang/ro?next=/account/register")
    assert page.locator("altcha-widget").get_attribute("language") == "ro"
    proof_ready(page)
    axe_clean(page, "altcha-register-ro")
    assert errors == []
    context.close()


def test_without_javascript_the_form_says_why_and_is_refused(
    gateway: Any, browser: Any, inbox: Inbox, adults: list[Any]
) -> None:
    person = adults[1]
    context = browser.new_context(locale="en-US", java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{gateway.url}/account/register")
    note = page.locator("#altcha-noscript")
    assert note.is_visible()
    assert "needs JavaScript" in note.inner_text()
    assert "registration desk" in note.inner_text()
    page.get_by_label("Full name").fill(f"{person.given} {person.family}")
    page.get_by_label("Personal numeric code (CNP)").fill(person.national_id)
    page.get_by_role("button", name="Create account").click()
    assert botcheck_text("required", "en") in page.content()
    assert page.get_by_label("Full name").input_value() == f"{person.given} {person.family}"
    assert inbox.messages == []  # nothing was mailed
    page.goto(f"{gateway.url}/account/forgot")
    assert page.locator("#altcha-noscript").is_visible()
    context.close()


def test_sign_in_asks_for_the_proof_only_after_a_wrong_password(
    gateway: Any, browser: Any, inbox: Inbox, adults: list[Any]
) -> None:
    person = adults[2]
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    errors = watch(page)
    email = register_by_widget(page, gateway.url, person, inbox)

    # a first attempt from a fresh address: no widget, and no script allowed on the page
    first = page.goto(f"{gateway.url}/account/login")
    assert first is not None
    assert "script-src 'none'" in first.headers["content-security-policy"]
    assert page.locator("altcha-widget").count() == 0
    page.get_by_label("Email or user name").fill(email)
    page.get_by_label("Password", exact=True).fill("wrong password here")
    page.get_by_role("button", name="Sign in").click()
    assert i18n.text("bad_login", "en") in page.content()

    # after it: the widget, and a post without its proof is refused unjudged
    assert page.locator("altcha-widget").count() == 1
    token = page.locator("input[name=csrf_token]").input_value()
    bare = page.request.post(
        f"{gateway.url}/account/login",
        form={"login": email, "password": PASSWORD, "csrf_token": token},
    )
    assert bare.status == 400
    assert botcheck_text("required", "en") in bare.text()
    assert "altcha-widget" in bare.text()
    assert [e for e in errors if "status of 400" not in e] == []  # only the refusals so far
    errors.clear()

    # with the widget's proof the right password signs in
    page.get_by_label("Email or user name").fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    proof_ready(page)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/account/(welcome)?$"))
    assert errors == []
    context.close()


def test_the_result_code_page_asks_for_the_proof_too(make_app: Any) -> None:
    """The page of results without an account (``/result-access``) shows the widget and
    refuses a form without a fresh proof before judging the code, like the API."""
    client = make_app(**CHEAP).test_client()
    page = client.get("/result-access", headers={"Accept-Language": "en"})
    assert page.status_code == 200
    assert "<altcha-widget" in page.text
    form = {"code": "000000", "national_id": "1900101000000"}
    missing = client.post("/result-access", data=form, headers={"Accept-Language": "en"})
    assert missing.status_code == 400
    assert botcheck_text("required", "en") in missing.text
    proof = solved(client)
    judged = client.post(
        "/result-access", data={**form, "altcha": proof}, headers={"Accept-Language": "en"}
    )
    assert judged.status_code == 400  # a wrong pair now, the proof passed
    assert botcheck_text("required", "en") not in judged.text
    replay = client.post(
        "/result-access", data={**form, "altcha": proof}, headers={"Accept-Language": "en"}
    )
    assert botcheck_text("required", "en") in replay.text
