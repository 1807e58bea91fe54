"""Both manuals' flows through the portal, step by step, in the browser, as each manual's
patient: the Romanian "Portal Medical" (a CNP patient who registers and signs in with an email
code, a guardian acting for a minor) and the Polish "Portal Pacjenta" (a PESEL patient whose
account the hospital's registration desk created, signing in with an SMS code, the portal in
Polish). One test per chapter; every screen is checked with axe-core and photographed at 360,
768 and 1280 px as ``manual-ro-<step>`` / ``manual-pl-<step>``. What each page shows is
compared with what the gateway answers (authorization off, the same HIS and PACS)."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest
import pyzipper  # type: ignore[import-untyped]
import requests
import sqlalchemy as sa
from playwright.sync_api import expect

from demo.his_studies import images_in_pacs, load_his_studies, order_rows
from dicomweb.backends.dimse import DimseBackend
from fhir_gateway.his import schema as t
from fhir_gateway.his.sql import make_engine
from portal.app import create_portal
from portal.screens import period as periods
from smart_auth.accounts import i18n
from tests.booking.his import add_slots, appointments_of_slot, utcnow
from tests.conftest import app_config
from tests.dicomweb.conftest import Pacs, pacs  # noqa: F401 (the session's Orthanc)
from tests.dicomweb.web.conftest import HisPacs
from tests.dicomweb.web.conftest import make_app as open_pacs_gateway
from tests.portal.conftest import SCOPE, Served, axe_clean, fill_date, pytestmark  # noqa: F401
from tests.smart_auth.accounts.conftest import Inbox
from tests.uploads import samples

PASSWORD = "correct horse battery"
NEW_PASSWORD = "my own new passphrase"
DESK_TOKEN = "desk-secret-token"
#: the v2-0074 sections of the functional tests (the paraclinical screen's)
PARACLINICAL = "AU,CUS,EC,EN,PF"
AVAILABILITY = "https://fhir-gateway.example/StructureDefinition/imaging-availability"


# --- the HIS and the PACS of this module --------------------------------------------------------


@pytest.fixture(scope="module")
def sqlite_his(sqlite_his: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A copy of the session's generated HIS: the manuals' patients book appointments and
    answer questionnaires, which must not change what other modules read."""
    source = Path(sqlite_his.removeprefix("sqlite:///"))
    copy = tmp_path_factory.mktemp("manuals-his") / "his.sqlite"
    shutil.copyfile(source, copy)
    return f"sqlite:///{copy}"


@pytest.fixture(scope="module")
def his_pacs(sqlite_his: str, pacs: Pacs) -> HisPacs:  # noqa: F811
    """The session's Orthanc holding this HIS's studies (the same ones as the session's HIS:
    the copy holds the same imaging orders)."""
    engine = make_engine(sqlite_his)
    try:
        with DimseBackend(pacs.settings()) as backend:
            report = load_his_studies(engine, backend, max_size=32)
        assert not report.failures, report.failures
        with engine.connect() as conn:
            ids: dict[str, int] = dict(conn.execute(sa.text("SELECT mrn, id FROM patient")).all())
        studies = {
            str(row.study_uid): (ids[row.mrn], str(row.mrn))
            for row in order_rows(engine)
            if images_in_pacs(row)
        }
    finally:
        engine.dispose()
    return HisPacs(sqlite_his, pacs, report, studies)


@pytest.fixture(scope="module")
def truth(his_pacs: HisPacs) -> Iterator[Callable[..., list[dict[str, Any]]]]:
    """A search as the gateway answers it with authorization off, in front of the same PACS."""
    app = open_pacs_gateway(his_pacs)
    client = app.test_client()

    def search(resource: str, **params: Any) -> list[dict[str, Any]]:
        answer = client.get(f"/fhir/{resource}", query_string=params)
        assert answer.status_code == 200, answer.get_data(as_text=True)[:300]
        return [
            e["resource"]
            for e in answer.get_json().get("entry", [])
            if e["search"]["mode"] == "match"
        ]

    yield search
    app.extensions["test_backend"].close()
    app.extensions["state_engine"].dispose()


def people(his: str, kind: str) -> list[sa.Row]:
    """Patients of the HIS with this kind of national ID who are nobody's ward and have an
    email address and a mobile number on file."""
    engine = sa.create_engine(his)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(t.patient)
            .where(t.patient.c.national_id_kind == kind, t.patient.c.email.is_not(None))
            .where(t.patient.c.phone.is_not(None))
            .where(t.patient.c.id.not_in(sa.select(t.guardian_link.c.ward_id)))
            .order_by(t.patient.c.id)
        ).all()
    engine.dispose()
    return list(rows)


@pytest.fixture(scope="module")
def romanians(sqlite_his: str) -> list[sa.Row]:
    return people(sqlite_his, "CNP")


@pytest.fixture(scope="module")
def poles(sqlite_his: str) -> list[sa.Row]:
    return people(sqlite_his, "PESEL")


# --- the two deployments -------------------------------------------------------------------------


@pytest.fixture
def make_app(
    sqlite_his: str, tmp_path: Path, smtp: tuple[Inbox, int], his_pacs: HisPacs
) -> Iterator[Callable[..., Any]]:
    """A gateway over this module's HIS, in front of the Orthanc holding its studies."""
    from gateway.app import create_app

    backends: list[DimseBackend] = []

    def build(**extra: object) -> Any:
        backend = DimseBackend(his_pacs.pacs.settings())
        backends.append(backend)
        config = app_config(
            sqlite_his,
            state_url=f"sqlite:///{tmp_path / 'state.sqlite'}",
            smtp_host="127.0.0.1",
            smtp_port=smtp[1],
            outbox_dir=str(tmp_path / "outbox"),
            **extra,
        )
        return create_app(config, pacs=backend, pacs_settings=his_pacs.pacs.settings())

    yield build
    for backend in backends:
        backend.close()


@contextmanager
def deployment(
    make_app: Callable[..., Any], tmp_path: Path, portal: dict[str, str], **gateway: object
) -> Iterator[dict[str, Any]]:
    """A served gateway (production authorization server) and a served portal registered with
    it as a confidential client."""
    gateway_server, portal_server = Served(), Served()
    gw = make_app(
        dev_open_access=False,
        public_base_url=f"{gateway_server.url}/fhir",
        # the gateway's account pages carry the hospital's name too
        portal_hospital_name=portal["portal_hospital_name"],
        **gateway,
    )
    gateway_server.start(gw)
    client_id, secret = gw.extensions["smart_oauth"].store.register_client(
        name="Portal",
        kind="app",
        auth_method="client_secret_basic",
        scope=SCOPE,
        redirect_uris=(f"{portal_server.url}/callback",),
    )
    app = create_portal(
        {
            "portal_fhir_url": f"{gateway_server.url}/fhir",
            "portal_public_url": portal_server.url,
            "portal_client_id": client_id,
            "portal_client_secret": secret,
            "portal_secret_key": "portal-test-key",
            "portal_state_url": f"sqlite:///{tmp_path / 'portal.sqlite'}",
            "portal_emergency_number": "112",
            **portal,
        }
    )
    portal_server.start(app)
    try:
        yield {
            "gateway": gateway_server.url,
            "portal": portal_server.url,
            "gw": gw,
            "app": app,
            "outbox": tmp_path / "outbox",
        }
    finally:
        portal_server.stop()
        gateway_server.stop()
        gw.extensions["state_engine"].dispose()
        app.extensions["portal_engine"].dispose()


RO_PORTAL = {"portal_hospital_name": "Spitalul Clinic Demo", "portal_default_locale": "ro"}
#: whom a patient is told to contact, in the deployment's language
RO_SUPPORT = "recepția spitalului"
PL_PORTAL = {
    "portal_hospital_name": "Narodowy Instytut Onkologii",
    "portal_default_locale": "pl",
    "portal_time_zone": "Europe/Warsaw",
}


@pytest.fixture
def ro(make_app: Callable[..., Any], tmp_path: Path) -> Iterator[dict[str, Any]]:
    """The Romanian hospital: CNP patients register themselves; an email code at sign-in."""
    with deployment(
        make_app,
        tmp_path,
        RO_PORTAL,
        accounts_second_factor="email",
        accounts_support_contact=RO_SUPPORT,
    ) as served:
        yield served


@pytest.fixture
def pl(make_app: Callable[..., Any], tmp_path: Path) -> Iterator[dict[str, Any]]:
    """The Polish hospital: PESEL patients whose accounts the registration desk creates, a
    4-digit SMS code after every password sign-in, the portal in Polish."""
    with deployment(
        make_app,
        tmp_path,
        PL_PORTAL,
        accounts_national_id="PESEL",
        accounts_second_factor="sms",
        accounts_admin_token=DESK_TOKEN,
        accounts_support_contact="portalpacjenta@example.org",
    ) as served:
        yield served


# --- steps shared by the chapters ----------------------------------------------------------------


def shot(page: Any, lang: str, step: str) -> None:
    """axe-core finds nothing on this screen; its screenshots at 360, 768 and 1280 px."""
    page.wait_for_load_state("load")
    axe_clean(page, f"manual-{lang}-{step}")
    page.set_viewport_size({"width": 1280, "height": 900})


def heading(page: Any) -> str:
    return str(page.get_by_role("heading", level=1).inner_text()).strip()


def fits_360(page: Any) -> None:
    """Nothing of the page reaches beyond a 360 px wide screen (tables scroll in their own
    region)."""
    page.set_viewport_size({"width": 360, "height": 800})
    wide = page.evaluate("document.documentElement.scrollWidth")
    page.set_viewport_size({"width": 1280, "height": 900})
    assert wide <= 360, f"{page.url}: {wide} px wide at 360 px"


def ro_register(page: Any, gateway: str, person: Any, inbox: Inbox, shots: bool = False) -> str:
    """Înregistrare: name and CNP on the gateway's page, then the activation link mailed to
    the address the hospital holds, where the password is chosen. The account's email."""
    page.goto(f"{gateway}/account/register")
    assert heading(page) == i18n.text("register_title", "ro")
    if shots:
        shot(page, "ro", "register")
    page.locator("#full_name").fill(f"{person.given} {person.family}")
    page.locator("#national_id").fill(person.national_id)
    page.locator("button[type=submit]").click()
    assert heading(page) == i18n.text("check_mail_title", "ro")
    if shots:
        shot(page, "ro", "register-check-mail")
    page.goto(inbox.link(person.email))
    assert heading(page) == i18n.text("activate_title", "ro")
    if shots:
        shot(page, "ro", "activate")
    page.locator("#password").fill(PASSWORD)
    page.locator("button[type=submit]").click()
    assert page.get_by_role("status").inner_text() == i18n.text(
        "activated", "ro", username=str(person.email).lower()
    )
    if shots:
        shot(page, "ro", "activated")
    return str(person.email)


def allow(page: Any, served: dict[str, Any], lang: str, shots: bool = False) -> None:
    """The gateway's consent page: the portal may use the records."""
    page.wait_for_url(f"{served['gateway']}/oauth/authorize?*")
    if shots:
        shot(page, lang, "consent")
    page.locator("button[name=decision][value=allow]").click()
    page.wait_for_url(f"{served['portal']}/")


def ro_sign_in(page: Any, served: dict[str, Any], person: Any, inbox: Inbox) -> str:
    """Register, then sign in through the portal with the password and the emailed code."""
    email = ro_register(page, served["gateway"], person, inbox)
    page.context.clear_cookies()
    page.goto(served["portal"])
    page.locator("#sign-in").click()
    page.locator("#login").fill(email)
    page.locator("#password").fill(PASSWORD)
    page.locator("button[type=submit]").click()
    assert heading(page) == i18n.text("factor_title", "ro")
    page.locator("#code").fill(inbox.code(email))
    page.locator("button[type=submit]").click()
    assert heading(page) == i18n.text("welcome_title", "ro")
    page.locator("#accept").check()
    page.locator("button[type=submit]").click()
    allow(page, served, "ro")
    return email


def sms_code(outbox: Path, phone: str) -> str:
    """The newest SMS code sent to ``phone`` (the SMS outbox the gateway writes when no SMS
    provider is set)."""
    sent = sorted((outbox / "sms").glob("*.json"), key=lambda p: p.stat().st_mtime_ns)
    digits = re.sub(r"\D", "", phone)
    for path in reversed(sent):
        doc = json.loads(path.read_text())
        if re.sub(r"\D", "", doc["to"]) == digits:
            code = str(doc["text"]).rsplit(" ", 1)[-1]
            assert re.fullmatch(r"\d{4}", code), doc["text"]
            return code
    raise AssertionError(f"no SMS to {phone}")


def desk_creates(served: dict[str, Any], person: Any, inbox: Inbox) -> str:
    """The registration desk creates the account (email and mobile number); the temporary
    password the patient receives by email."""
    made = requests.post(
        f"{served['gateway']}/account/api/accounts",
        json={
            "national_id": person.national_id,
            "email": person.email,
            "phone": person.phone,
            "language": "pl",
        },
        headers={"Authorization": f"Bearer {DESK_TOKEN}"},
        timeout=10,
    )
    assert made.status_code == 201, made.text
    mail = inbox.last_to(person.email)
    assert mail["Subject"] == i18n.text("mail_temp_subject", "pl")
    return inbox.body(person.email).split("tymczasowe: ", 1)[1].split()[0]


def pl_sign_in(
    page: Any, served: dict[str, Any], person: Any, inbox: Inbox, shots: bool = False
) -> None:
    """Portal Pacjenta, chapter 2: the user name and the temporary password from the email,
    "Logowanie", the 4-digit SMS code, the information clause and a new password."""
    temporary = desk_creates(served, person, inbox)
    page.goto(served["portal"])
    assert page.locator("html").get_attribute("lang") == "pl"
    if shots:
        shot(page, "pl", "start")
    page.locator("#sign-in").click()
    page.wait_for_url(f"{served['gateway']}/account/login?*")
    assert heading(page) == i18n.text("login_title", "pl")
    if shots:
        shot(page, "pl", "login")
    page.locator("#login").fill(str(person.email).lower())
    page.locator("#password").fill(temporary)
    page.locator("button[type=submit]").click()
    assert heading(page) == i18n.text("factor_title", "pl")
    if shots:
        shot(page, "pl", "sms-code")
    page.locator("#code").fill(sms_code(served["outbox"], person.phone))
    page.locator("button[type=submit]").click()
    assert heading(page) == i18n.text("welcome_title", "pl")
    if shots:
        shot(page, "pl", "clause-and-password")
    page.locator("#accept").check()
    page.locator("#new_password").fill(NEW_PASSWORD)
    page.locator("button[type=submit]").click()
    allow(page, served, "pl", shots)


def portal_sign_in_again(page: Any, served: dict[str, Any], login: str, password: str) -> None:
    """A later sign-in with the chosen password and a fresh SMS code (Polish deployment)."""
    page.context.clear_cookies()
    page.goto(served["portal"])
    page.locator("#sign-in").click()
    page.locator("#login").fill(login)
    page.locator("#password").fill(password)
    page.locator("button[type=submit]").click()


def account_page(page: Any, path: str) -> Any:
    """The settings' link to the gateway's account page ``path``."""
    return page.locator(f"#account-pages a[href$='next={quote(path, safe='')}']")


def tile(page: Any, endpoint_path: str) -> None:
    """Open a service from the navigation (the link to ``endpoint_path``)."""
    page.get_by_role("navigation").locator(f"a[href='{endpoint_path}']").first.click()
    page.wait_for_load_state("load")


def available(study: dict[str, Any]) -> dict[str, Any]:
    (ext,) = [e for e in study.get("extension", []) if e["url"] == AVAILABILITY]
    return {e["url"]: e.get("valueBoolean", e.get("valueReference")) for e in ext["extension"]}


def viewer_stub(context: Any, gateway: str) -> None:
    """The viewer's own page answered by a stand-in: the portal's business is where it sends
    the tab and the token it mints there."""
    context.route(
        f"{gateway}/viewer/**",
        lambda route: route.fulfill(status=200, content_type="text/html", body="<title>v</title>"),
    )


def assign(his: str, patient: int, code: str) -> int:
    """A questionnaire the hospital sends ``patient`` now; the assignment's id."""
    engine = sa.create_engine(his)
    now = utcnow() - dt.timedelta(minutes=5)
    with engine.begin() as conn:
        questionnaire = conn.execute(
            sa.select(t.questionnaire.c.id).where(t.questionnaire.c.code == code)
        ).scalar_one()
        key = conn.execute(
            sa.insert(t.questionnaire_assignment).values(
                questionnaire_id=questionnaire,
                patient_id=patient,
                sent_at=now,
                status="sent",
                updated_at=now,
                version=1,
            )
        ).inserted_primary_key
    engine.dispose()
    assert key is not None
    return int(key[0])


def assignment(his: str, assignment_id: int) -> Any:
    engine = sa.create_engine(his)
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(t.questionnaire_assignment).where(
                t.questionnaire_assignment.c.id == assignment_id
            )
        ).one()
    engine.dispose()
    return row


# --- Portal Medical (Romania) ---------------------------------------------------------------------


def test_ro_account_registration_email_code_and_home(
    make_app: Callable[..., Any],
    tmp_path: Path,
    browser: Any,
    inbox: Inbox,
    romanians: list[Any],
) -> None:
    """ÎNREGISTRARE / AUTENTIFICARE, BINE AȚI VENIT: the patient registers with the CNP,
    activates the account from the email, turns on the two-step verification by email (it
    cannot be turned off), then signs in to the portal with the emailed code and lands on the
    welcome page with every service."""
    person = romanians[0]
    with deployment(make_app, tmp_path, RO_PORTAL, accounts_support_contact=RO_SUPPORT) as served:
        gateway, portal = served["gateway"], served["portal"]
        context = browser.new_context(locale="ro-RO")
        page = context.new_page()

        # the portal's start page: sign in, or a result without an account; the emergency number
        page.goto(portal)
        assert page.locator("html").get_attribute("lang") == "ro"
        assert "112" in page.locator("#emergency").inner_text()
        shot(page, "ro", "start")
        page.locator("#sign-in").click()
        page.wait_for_url(f"{gateway}/account/login?*")
        assert heading(page) == i18n.text("login_title", "ro")
        shot(page, "ro", "login")
        # "Nu ai cont încă? Înregistrează-te aici"
        page.get_by_role("link", name=i18n.text("no_account", "ro")).click()
        page.wait_for_url(f"{gateway}/account/register*")
        email = ro_register(page, gateway, person, inbox, shots=True)

        # the first sign-in at the gateway: the information clause, then the account page
        page.goto(f"{gateway}/account/")
        page.locator("#login").fill(email)
        page.locator("#password").fill(PASSWORD)
        page.locator("button[type=submit]").click()
        assert heading(page) == i18n.text("welcome_title", "ro")
        shot(page, "ro", "clause")
        page.locator("#accept").check()
        page.locator("button[type=submit]").click()
        assert heading(page) == i18n.text("home_title", "ro")
        shot(page, "ro", "account")

        # "Activează 2FA": from now on a code by email at every sign-in; no way back
        page.get_by_role("button", name=i18n.text("turn_email_code_on", "ro")).click()
        assert i18n.text("email_code_on", "ro") in page.get_by_role("main").inner_text()
        assert page.get_by_role("button", name=i18n.text("turn_email_code_on", "ro")).count() == 0
        shot(page, "ro", "two-step-on")

        # signing in to the portal: password, then the code from the email
        context.clear_cookies()
        page.goto(portal)
        page.locator("#sign-in").click()
        page.locator("#login").fill(email)
        page.locator("#password").fill("wrong password here")
        page.locator("button[type=submit]").click()
        assert page.get_by_role("alert").is_visible()
        shot(page, "ro", "login-error")
        page.locator("#login").fill(email)
        page.locator("#password").fill(PASSWORD)
        page.locator("button[type=submit]").click()
        assert heading(page) == i18n.text("factor_title", "ro")
        shot(page, "ro", "email-code")
        page.locator("#code").fill(inbox.code(email))
        page.locator("button[type=submit]").click()
        allow(page, served, "ro", shots=True)

        # "Bine ați venit în Portal Medical!": the services, the active CNP, the emergency number
        assert heading(page) == "Bine ați venit"
        assert page.locator("#patient").input_value() == str(person.id)
        services = page.get_by_role("navigation", name="Servicii")
        for path in (
            "/record",
            "/results",
            "/paraclinical",
            "/documents",
            "/uploads",
            "/imaging",
            "/appointments",
            "/settings",
        ):
            assert services.locator(f"a[href='{path}']").count() == 1, path
        shot(page, "ro", "home")
        fits_360(page)
        page.locator("footer button[type=submit]").click()
        assert page.locator("#sign-in").is_visible()
        context.close()


def guardian_and_ward(his: str, truth: Callable[..., list[dict[str, Any]]]) -> tuple[Any, Any]:
    """A guardian with a CNP and an email address, and a minor in their care who has results."""
    engine = sa.create_engine(his)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(t.patient, t.guardian_link.c.ward_id)
            .join(t.guardian_link, t.guardian_link.c.guardian_id == t.patient.c.id)
            .where(t.patient.c.national_id_kind == "CNP", t.patient.c.email.is_not(None))
            .where(
                sa.or_(
                    t.guardian_link.c.valid_to.is_(None),
                    t.guardian_link.c.valid_to > dt.date.today(),
                )
            )
            .where(t.patient.c.id.not_in(sa.select(t.guardian_link.c.ward_id)))
            .order_by(t.patient.c.id)
        ).all()
        guardian = next(
            r for r in rows if truth("DiagnosticReport", patient=r.ward_id, category="LAB")
        )
        ward = conn.execute(sa.select(t.patient).where(t.patient.c.id == guardian.ward_id)).one()
    engine.dispose()
    return guardian, ward


def test_ro_cnp_management_a_guardian_reads_the_minors_data(
    ro: dict[str, Any], browser: Any, inbox: Inbox, sqlite_his: str, truth: Any
) -> None:
    """GESTIONARE CNP: the account holder adds the CNP of a minor in their care (checked
    against the hospital's records), the "CNP activ" switcher offers both, and the minor's
    record and results are shown under the minor's name, not the holder's."""
    gateway, portal = ro["gateway"], ro["portal"]
    guardian, ward = guardian_and_ward(sqlite_his, truth)
    context = browser.new_context(locale="ro-RO")
    page = context.new_page()
    ro_sign_in(page, ro, guardian, inbox)
    assert [o.get_attribute("value") for o in page.locator("#patient option").all()] == [
        str(guardian.id)
    ]

    # the portal's settings lead to the gateway's "People you act for" page
    tile(page, "/settings")
    account_page(page, "/account/identities").click()
    page.wait_for_url(f"{gateway}/account/identities*")
    assert heading(page) == i18n.text("identities_title", "ro")
    shot(page, "ro", "identities")
    page.locator("#national_id").fill("1234567890123")  # no valid CNP: said, nothing added
    page.locator("form:has(#national_id) button[type=submit]").click()
    assert page.get_by_role("alert").is_visible()
    shot(page, "ro", "identities-error")
    page.locator("#national_id").fill(ward.national_id)
    page.locator("form:has(#national_id) button[type=submit]").click()
    assert f"{ward.given} {ward.family}" in page.get_by_role("main").inner_text()
    shot(page, "ro", "identities-added")
    fits_360(page)

    # back in the portal (signed in again so that the grant covers the minor): both CNPs
    page.goto(f"{portal}/sign-in")
    allow(page, ro, "ro")
    offered = [o.get_attribute("value") for o in page.locator("#patient option").all()]
    assert offered == [str(guardian.id), str(ward.id)] or set(offered) == {
        str(guardian.id),
        str(ward.id),
    }
    # each person told apart in the switcher, even a child who shares the parent's name
    labels = page.locator("#patient option").all_inner_texts()
    assert len(set(labels)) == 2, labels
    born = dt.date.fromisoformat(str(ward.birth_date)[:10]).strftime("%d.%m.%Y")
    assert any(born in label for label in labels), labels
    page.locator("#patient").select_option(str(ward.id))
    page.locator("form[action='/identity'] button[type=submit]").click()
    assert page.locator("#patient").input_value() == str(ward.id)
    shot(page, "ro", "home-minor")

    # the minor's results and record, as the gateway answers them for the minor
    tile(page, "/results")
    shown = page.locator("#results tbody tr td:first-child").all_inner_texts()
    expected = [
        r["id"] for r in truth("DiagnosticReport", patient=ward.id, category="LAB", _sort="-date")
    ]
    assert shown == expected
    mine = {r["id"] for r in truth("DiagnosticReport", patient=guardian.id, category="LAB")}
    assert not set(shown) & mine
    shot(page, "ro", "results-minor")
    tile(page, "/record")
    numbers = page.locator("#encounters tbody tr td:nth-child(2) a").all_inner_texts()
    wanted = truth("Encounter", patient=ward.id, _sort="-date", _count=100)
    assert numbers == [e["identifier"][0]["value"] for e in wanted][: len(numbers)]
    shot(page, "ro", "record-minor")
    # the holder's own record again
    page.locator("#patient").select_option(str(guardian.id))
    page.locator("form[action='/identity'] button[type=submit]").click()
    assert page.locator("#patient").input_value() == str(guardian.id)
    context.close()


def busiest(people: list[Any], count: Callable[[Any], int]) -> Any:
    return max(people[:12], key=count)


def test_ro_medical_record_periods_and_an_encounter(
    ro: dict[str, Any], browser: Any, inbox: Inbox, romanians: list[Any], truth: Any
) -> None:
    """DOSAR MEDICAL: every encounter, newest first, with type, number, date, doctor, place and
    status; the quick periods and the advanced filters; an encounter's documents; "Partajare
    dosar"."""
    portal = ro["portal"]
    person = busiest(romanians, lambda p: len(truth("Encounter", patient=p.id, _count=100)))
    expected = truth("Encounter", patient=person.id, _sort="-date", _count=100)
    assert len(expected) >= 3
    context = browser.new_context(locale="ro-RO")
    page = context.new_page()
    ro_sign_in(page, ro, person, inbox)

    tile(page, "/record")
    assert heading(page) == "Dosar medical"
    rows = page.locator("#encounters tbody tr")
    numbers = [r.locator("td").nth(1).locator("a").inner_text() for r in rows.all()]
    assert numbers == [e["identifier"][0]["value"] for e in expected][: len(numbers)]
    period = page.locator("#active-period").inner_text()
    assert re.search(r"\d\d\.\d\d\.\d{4}", period), period  # 01.01.2019 → 03.08.2026
    shot(page, "ro", "record")

    # quick filters: "Ultimii 3 ani", then "Orice perioadă"
    quick = page.locator("a[href*='period=']")
    assert quick.count() >= 3
    for link in quick.all():
        if "3" in link.inner_text():
            link.click()
            break
    assert page.locator("a[aria-current=true]").count() >= 1
    shot(page, "ro", "record-3-years")

    # advanced filters: a year and the ambulatory episodes
    year = expected[0]["period"]["start"][:4]
    page.get_by_role("main").locator("details.nhsuk-details summary").first.click()
    page.locator("#from").fill(f"{year}-01-01")
    page.locator("#to").fill(f"{year}-12-31")
    page.locator("#filters button[type=submit]").click()
    wanted = truth(
        "Encounter",
        patient=person.id,
        date=[f"ge{year}-01-01", f"le{year}-12-31"],
        _sort="-date",
        _count=100,
    )
    shown = [r.locator("td").nth(1).locator("a").inner_text() for r in rows.all()]
    assert shown == [e["identifier"][0]["value"] for e in wanted][: len(shown)]
    assert f"01.01.{year}" in page.locator("#active-period").inner_text()
    shot(page, "ro", "record-filtered")

    # an encounter: its documents, reports and studies
    page.goto(f"{portal}/record")
    rows.first.locator("td").nth(1).locator("a").click()
    assert expected[0]["identifier"][0]["value"] in heading(page)
    shot(page, "ro", "record-encounter")
    fits_360(page)

    # "Partajare dosar"
    page.goto(f"{portal}/record")
    page.locator("#share-record").click()
    page.wait_for_url(f"{portal}/shares/new?what=record")
    shot(page, "ro", "record-share")
    context.close()


def test_ro_results_trends_and_paraclinical(
    ro: dict[str, Any], browser: Any, inbox: Inbox, romanians: list[Any], truth: Any
) -> None:
    """REZULTATE INVESTIGAȚII and REZULTATE PARACLINICE: the lab reports (view the PDF,
    download, share), an analyte's trend over time, the functional tests; and the access to a
    result without an account from the start page."""
    portal = ro["portal"]
    with_tests = [
        p for p in romanians if truth("DiagnosticReport", patient=p.id, category=PARACLINICAL)
    ] or romanians
    person = busiest(
        with_tests, lambda p: len(truth("DiagnosticReport", patient=p.id, category="LAB"))
    )
    expected = [
        r["id"] for r in truth("DiagnosticReport", patient=person.id, category="LAB", _sort="-date")
    ]
    assert len(expected) >= 2
    context = browser.new_context(locale="ro-RO", accept_downloads=True)
    page = context.new_page()
    page.goto(portal)
    page.locator("#result-access").click()
    page.wait_for_load_state("load")
    shot(page, "ro", "result-without-account")
    ro_sign_in(page, ro, person, inbox)

    tile(page, "/results")
    assert heading(page) == "Rezultate de laborator"
    assert page.locator("#results tbody tr td:first-child").all_inner_texts() == expected
    dates = page.locator("#results tbody tr td:nth-child(2)").all_inner_texts()
    assert all(re.fullmatch(r"\d\d\.\d\d\.\d{4}", d) for d in dates), dates
    shot(page, "ro", "results")
    fits_360(page)

    # the periods, as on the record: "Ultimii 3 ani", then dates of one year, then none
    page.locator("a[href='/results?period=last-3-years']").click()
    with ro["app"].app_context():  # the portal's today, in its time zone
        today = periods.today()
    since = today.replace(year=today.year - 3)
    wanted = truth(
        "DiagnosticReport",
        patient=person.id,
        category="LAB",
        date=[f"ge{since.isoformat()}", f"le{today.isoformat()}"],
        _sort="-date",
    )
    assert page.locator("#results tbody tr td:first-child").all_inner_texts() == [
        r["id"] for r in wanted
    ]
    assert since.strftime("%d.%m.%Y") in page.locator("#active-period").inner_text()
    shot(page, "ro", "results-3-years")
    year = dates[-1][-4:]
    page.goto(f"{portal}/results?from={year}-01-01&to={year}-12-31")
    wanted = truth(
        "DiagnosticReport",
        patient=person.id,
        category="LAB",
        date=[f"ge{year}-01-01", f"le{year}-12-31"],
        _sort="-date",
    )
    assert page.locator("#results tbody tr td:first-child").all_inner_texts() == [
        r["id"] for r in wanted
    ]
    assert page.locator("#from").input_value() == f"{year}-01-01"
    page.goto(f"{portal}/results?from=1990-01-01&to=1990-12-31")
    assert page.locator("#no-results").inner_text() == "Nu există rezultate în această perioadă."
    shot(page, "ro", "results-empty-period")
    answer = page.goto(f"{portal}/results?from=2024-02-31")
    assert answer is not None
    assert answer.status == 400
    assert page.locator(".nhsuk-error-summary a[href='#from']").count() == 1
    shot(page, "ro", "results-period-error")
    page.goto(f"{portal}/results")
    first = page.locator("#results tbody tr").first
    pdf = page.request.get(portal + first.locator("a[href$='.pdf']").first.get_attribute("href"))
    assert pdf.status == 200
    assert pdf.body().startswith(b"%PDF")
    with page.expect_download() as download:
        first.locator("a[download]").click()
    assert Path(download.value.path()).read_bytes().startswith(b"%PDF")
    assert first.locator("a[href^='/shares/new']").count() == 1

    # a report's values, then one analyte's trend
    first.locator("td").first.get_by_role("link").click()
    assert expected[0] in heading(page)
    shot(page, "ro", "results-report")
    for report in expected:
        page.goto(f"{portal}/results/{report}")
        if page.locator("#analytes a[href^='/results/trend']").count():
            break
    page.locator("#analytes a[href^='/results/trend']").first.click()
    page.wait_for_url(f"{portal}/results/trend?code=**")
    assert page.locator("#trend-table tbody tr").count() >= 1
    shot(page, "ro", "results-trend")
    fits_360(page)

    # paraclinical results: ECG, EEG, spirometry …
    tile(page, "/paraclinical")
    assert page.locator("a[href='/paraclinical?period=last-3-years']").count() == 1
    functional = truth("DiagnosticReport", patient=person.id, category=PARACLINICAL, _sort="-date")
    if functional:
        shown = page.locator("#results tbody tr td:first-child").all_inner_texts()
        assert shown == [r["id"] for r in functional]
    else:
        assert page.locator("#no-results").is_visible()
    shot(page, "ro", "paraclinical")
    fits_360(page)
    context.close()


def test_ro_imaging_viewer_report_and_export(
    ro: dict[str, Any],
    browser: Any,
    inbox: Inbox,
    romanians: list[Any],
    his_pacs: HisPacs,
    truth: Any,
) -> None:
    """IMAGISTICĂ: the PACS studies with modality, series and images, the filter by modality
    and dates, a study opened in the viewer in a new tab with a temporary token, the report."""
    gateway, portal = ro["gateway"], ro["portal"]
    with_images = {pid for pid, _ in his_pacs.studies.values()}
    person = next(
        p
        for p in romanians
        if p.id in with_images and len(truth("ImagingStudy", patient=p.id)) >= 2
    )
    studies = truth("ImagingStudy", patient=person.id, _sort="-started", _count=100)
    context = browser.new_context(locale="ro-RO")
    viewer_stub(context, gateway)
    page = context.new_page()
    ro_sign_in(page, ro, person, inbox)

    tile(page, "/imaging")
    assert heading(page) == "Imagistică"
    cards = page.locator("#studies > li")
    assert cards.count() == len(studies)
    for card, study in zip(cards.all(), studies, strict=True):
        assert card.locator("[data-field=series]").inner_text() == str(study["numberOfSeries"])
        assert card.locator("[data-field=instances]").inner_text() == str(
            study["numberOfInstances"]
        )
    shot(page, "ro", "imaging")
    fits_360(page)

    modality = studies[-1]["modality"][0]["code"]
    page.locator("#modality").select_option(modality)
    page.locator("#filters button[type=submit]").first.click()
    wanted = truth("ImagingStudy", patient=person.id, modality=modality)
    assert cards.count() == len(wanted)
    shot(page, "ro", "imaging-filtered")

    page.goto(f"{portal}/imaging")
    study = next(s for s in studies if available(s)["images"])
    link = page.locator(f"#study-{study['id']} [data-action=viewer]")
    assert link.get_attribute("target") == "_blank"
    with page.expect_popup() as popup:
        link.click()
    viewer = popup.value
    viewer.wait_for_load_state()
    query = parse_qs(urlsplit(viewer.url).query)
    assert query["StudyInstanceUIDs"] == [study["identifier"][0]["value"].removeprefix("urn:oid:")]
    assert query["token"][0]
    viewer.close()
    report = page.locator("#studies [data-action=report]").first
    if report.count():
        pdf = page.request.get(portal + report.get_attribute("href"))
        assert pdf.status == 200
        assert pdf.body().startswith(b"%PDF")
    page.locator(f"#study-{study['id']} [data-action=export]").click()
    shot(page, "ro", "imaging-export")
    context.close()


def test_ro_documents_and_uploads(
    ro: dict[str, Any],
    browser: Any,
    inbox: Inbox,
    romanians: list[Any],
    truth: Any,
    tmp_path: Path,
) -> None:
    """DOCUMENTE and ÎNCĂRCARE DOCUMENTE: every document issued by the care team with the total
    count and the periods; a document opened; the patient's own files uploaded (a PDF and an
    image), the space used against the quota, described, then one deleted."""
    portal = ro["portal"]
    person = busiest(romanians, lambda p: len(truth("DocumentReference", patient=p.id, _count=100)))
    context = browser.new_context(locale="ro-RO")
    page = context.new_page()
    ro_sign_in(page, ro, person, inbox)

    tile(page, "/documents")
    assert heading(page) == "Toate documentele"
    total = len(truth("DocumentReference", patient=person.id, _count=200))
    assert str(total) in page.locator("#documents-total").inner_text()
    shot(page, "ro", "documents")
    fits_360(page)
    opened = page.locator("#documents a[href^='/documents/']").first
    pdf = page.request.get(portal + opened.get_attribute("href"))
    assert pdf.status == 200
    year = dt.date.today().year
    quick = page.locator("a[href*='period=']")
    if quick.count():
        quick.first.click()
        shot(page, "ro", "documents-period")
    del year

    # Încărcare documente: a letter from another clinic and a photo of a paper result
    tile(page, "/uploads")
    assert page.locator("#quota").count() == 1
    shot(page, "ro", "uploads-empty")
    letter = tmp_path / "scrisoare-alta-clinica.pdf"
    letter.write_bytes(samples.pdf())
    photo = tmp_path / "analize-externe.png"
    photo.write_bytes(samples.image("PNG"))
    page.set_input_files("#files", [str(letter), str(photo)])
    page.locator("#upload-form button[type=submit]").click()
    rows = page.locator("#uploads tbody tr")
    expect(rows).to_have_count(2)
    assert rows.count() == 2
    assert "scrisoare-alta-clinica.pdf" in page.locator("#uploads").inner_text()
    shot(page, "ro", "uploads")
    fits_360(page)
    target = page.locator("#uploads tbody tr:has-text('analize-externe.png')")
    target.locator("a[href$='/describe']").click()
    page.locator("#description").fill("Analize făcute la alt laborator, martie.")
    shot(page, "ro", "uploads-describe")
    page.locator("main form button[type=submit]").click()
    page.goto(f"{portal}/uploads")
    assert "Analize făcute la alt laborator" in page.locator("#uploads").inner_text()
    target.locator("a[href$='/delete']").click()
    shot(page, "ro", "uploads-delete")
    page.locator("main form button[type=submit]").click()
    page.goto(f"{portal}/uploads")
    assert rows.count() == 1
    context.close()


def test_ro_appointments_booking_and_video(
    ro: dict[str, Any], browser: Any, inbox: Inbox, romanians: list[Any], sqlite_his: str
) -> None:
    """PROGRAMĂRI: the list with its filters (upcoming or all, type, specialty, service), a
    booking (a service, the doctors and their free times, the confirmation) and a video
    consultation."""
    portal = ro["portal"]
    person = romanians[1]
    slots = add_slots(
        sqlite_his, 2, first=(utcnow() + dt.timedelta(days=3)).replace(hour=8, minute=0)
    )
    video = add_slots(
        sqlite_his,
        1,
        telemedicine=True,
        first=(utcnow() + dt.timedelta(days=4)).replace(hour=11, minute=0),
    )
    context = browser.new_context(locale="ro-RO")
    page = context.new_page()
    ro_sign_in(page, ro, person, inbox)

    tile(page, "/appointments")
    assert heading(page) == "Programări"
    shot(page, "ro", "appointments")
    fits_360(page)
    page.locator("#book").click()
    shot(page, "ro", "appointments-book")
    engine = sa.create_engine(sqlite_his)
    with engine.connect() as conn:
        code = conn.execute(
            sa.select(t.service.c.code)
            .join(t.schedule, t.schedule.c.service_id == t.service.c.id)
            .join(t.slot, t.slot.c.schedule_id == t.schedule.c.id)
            .where(t.slot.c.id == slots[0])
        ).scalar_one()
        video_code = conn.execute(
            sa.select(t.service.c.code)
            .join(t.schedule, t.schedule.c.service_id == t.service.c.id)
            .join(t.slot, t.slot.c.schedule_id == t.schedule.c.id)
            .where(t.slot.c.id == video[0])
        ).scalar_one()
    engine.dispose()
    page.locator("#service").select_option(code)
    page.locator(
        "#by-service button[type=submit], form:has(#service) button[type=submit]"
    ).first.click()
    page.wait_for_url(f"{portal}/appointments/book/times?*")
    shot(page, "ro", "appointments-times")
    fits_360(page)
    page.locator(f"#slot-{slots[0]}").check()
    page.locator("#times button[type=submit]").click()
    page.wait_for_url(f"{portal}/appointments/book/confirm?*")
    shot(page, "ro", "appointments-confirm")
    page.locator("#confirm").click()
    page.wait_for_url(f"{portal}/appointments/*?done=booked")
    assert [(a.patient_id, a.status) for a in appointments_of_slot(sqlite_his, slots[0])] == [
        (person.id, "booked")
    ]
    shot(page, "ro", "appointment-booked")

    # a video consultation: booked, the link comes near its time
    page.goto(f"{portal}/appointments/book/confirm?service={video_code}&slot={video[0]}")
    page.locator("#confirm").click()
    page.wait_for_url(f"{portal}/appointments/*?done=booked")
    assert page.locator("#join-later").is_visible()
    shot(page, "ro", "appointment-video")

    # the list: upcoming, then filtered to video consultations
    page.goto(f"{portal}/appointments")
    assert page.locator("#appointments tbody tr").count() >= 2
    shot(page, "ro", "appointments-upcoming")
    fits_360(page)
    page.locator("#type").select_option("video")
    page.locator("#filters button[type=submit]").click()
    assert parse_qs(urlsplit(page.url).query)["when"] == ["upcoming"]
    assert page.locator("#filters input[name=when]").input_value() == "upcoming"
    assert page.locator("#appointments tbody tr").count() >= 1
    context.close()


def test_ro_shares_record_and_result(
    ro: dict[str, Any], browser: Any, inbox: Inbox, romanians: list[Any], truth: Any
) -> None:
    """ "Partajează" a result and "Partajare dosar": with someone outside by email, a 6-digit
    PIN and a time limit; the recipient opens the link with the PIN; the share is withdrawn."""
    portal = ro["portal"]
    person = next(p for p in romanians if truth("DiagnosticReport", patient=p.id, category="LAB"))
    report = truth("DiagnosticReport", patient=person.id, category="LAB", _sort="-date")[0]
    context = browser.new_context(locale="ro-RO")
    page = context.new_page()
    ro_sign_in(page, ro, person, inbox)

    tile(page, "/shares")
    assert page.locator("#no-shares").is_visible()
    shot(page, "ro", "shares-empty")
    page.goto(f"{portal}/results")
    page.locator(f"a[href='/shares/new?what=DiagnosticReport/{report['id']}']").click()
    shot(page, "ro", "shares-new")
    fits_360(page)
    page.locator("#person-email").fill("not an address")
    page.locator("#person-pin").fill("12ab")
    page.locator("#share-person").click()
    assert page.locator(".nhsuk-error-summary").is_visible()
    shot(page, "ro", "shares-new-error")
    recipient = "medic.familie@example.org"
    pin = "482915"
    page.locator("#person-email").fill(recipient)
    page.locator("#person-pin").fill(pin)
    page.locator("#person-comment").fill("Pentru consultația de luni.")
    page.locator("#share-person").click()
    page.wait_for_url(f"{portal}/shares")
    assert recipient in page.locator("#shares-done").inner_text()
    shot(page, "ro", "shares")
    fits_360(page)

    bodies = [
        m.get_payload(decode=True).decode()  # type: ignore[union-attr]
        for m in inbox.messages
        if m["To"] == recipient
    ]
    link = next(
        re.search(r"https?://\S+", b).group(0)  # type: ignore[union-attr]
        for b in bodies
        if "/share/" in b
    )
    assert any(pin in b for b in bodies if "/share/" not in b)
    them = browser.new_context(locale="ro-RO").new_page()
    them.goto(link)
    shot(them, "ro", "share-recipient-pin")
    them.locator("input[name=pin]").fill(pin)
    them.locator("input[name=pin]").press("Enter")
    expect(them.locator("#share-comment")).to_have_text("Pentru consultația de luni.")
    assert them.locator("#shared-documents tbody tr").count() == 1
    shot(them, "ro", "share-recipient")
    them.context.close()

    # the whole record, then withdrawn
    page.goto(f"{portal}/shares/new?what=record")
    page.locator("#person-email").fill("sora@example.org")
    page.locator("#person-pin").fill("193746")
    page.locator("#share-person").click()
    page.wait_for_url(f"{portal}/shares")
    assert page.locator("#shares tbody tr").count() == 2
    page.locator("#shares tbody tr").first.locator("a").last.click()
    shot(page, "ro", "shares-withdraw")
    fits_360(page)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(f"{portal}/shares*")
    assert page.locator("#shares tbody tr").count() == 1
    context.close()


def test_ro_settings_profile_password_email_and_history(
    ro: dict[str, Any], browser: Any, inbox: Inbox, romanians: list[Any]
) -> None:
    """SETĂRI: the profile, the password (current, new, confirmed), the email address changed
    with a code sent to the new one; then who opened the record (the access history)."""
    gateway, portal = ro["gateway"], ro["portal"]
    person = romanians[2]
    context = browser.new_context(locale="ro-RO")
    page = context.new_page()
    email = ro_sign_in(page, ro, person, inbox)

    tile(page, "/settings")
    assert heading(page) == "Setări"
    shot(page, "ro", "settings")
    fits_360(page)

    account_page(page, "/account/profile").click()
    assert heading(page) == i18n.text("profile_title", "ro")
    shot(page, "ro", "profile")
    page.go_back()

    account_page(page, "/account/password").click()
    assert heading(page) == i18n.text("password_title", "ro")
    shot(page, "ro", "password")
    page.locator("#current_password").fill(PASSWORD)
    page.locator("#new_password").fill(NEW_PASSWORD)
    page.locator("#confirm_password").fill(NEW_PASSWORD + " typo")
    page.locator("main form button[type=submit]").click()
    assert page.get_by_role("alert").is_visible()
    shot(page, "ro", "password-error")
    page.locator("#current_password").fill(PASSWORD)
    page.locator("#new_password").fill(NEW_PASSWORD)
    page.locator("#confirm_password").fill(NEW_PASSWORD)
    page.locator("main form button[type=submit]").click()
    assert page.get_by_role("status").inner_text() == i18n.text("password_changed", "ro")
    service = ro["gw"].extensions["accounts"]
    assert service.login(email, NEW_PASSWORD, "10.9.9.9").status == "ok"

    page.goto(f"{portal}/settings")
    account_page(page, "/account/email").click()
    assert heading(page) == i18n.text("email_title", "ro")
    shot(page, "ro", "email")
    fresh = "adresa.noua@example.org"
    page.locator("#new_email").fill(fresh)
    page.locator("main form button[type=submit]").click()
    page.locator("#code").fill(inbox.code(fresh))
    shot(page, "ro", "email-code-new-address")
    page.locator("main form button[type=submit]").click()
    assert service.find(fresh) is not None

    page.goto(f"{portal}/history")
    assert page.locator("#events tbody tr").count() >= 1
    shot(page, "ro", "history")
    fits_360(page)
    del gateway
    context.close()


# --- Portal Pacjenta (Poland) ---------------------------------------------------------------------


def test_pl_account_created_by_the_hospital_sms_code_forgotten_password_lockout(
    pl: dict[str, Any], browser: Any, inbox: Inbox, poles: list[Any]
) -> None:
    """2. Aktywacja konta oraz logowanie; 8. Zmiana hasła: the registration desk creates the
    account, the patient signs in with the user name and the temporary password from the
    email, the 4-digit SMS code, accepts the information clause and chooses a new password;
    "Nie pamiętasz swojego hasła?" leads by email to a new password; five wrong passwords lock
    the account."""
    gateway = pl["gateway"]
    person = poles[0]
    context = browser.new_context(locale="pl-PL")
    page = context.new_page()
    pl_sign_in(page, pl, person, inbox, shots=True)
    assert heading(page) == "Witamy"
    assert page.locator("#patient").input_value() == str(person.id)
    shot(page, "pl", "home")
    fits_360(page)
    login = str(person.email).lower()

    # signed out, the temporary password no longer works; the new one does, with a new SMS code
    page.locator("footer button[type=submit]").click()
    portal_sign_in_again(page, pl, login, NEW_PASSWORD)
    assert heading(page) == i18n.text("factor_title", "pl")
    page.locator("#code").fill("0000")
    page.locator("button[type=submit]").click()
    assert page.get_by_role("alert").is_visible()
    shot(page, "pl", "sms-code-error")
    page.locator("#code").fill(sms_code(pl["outbox"], person.phone))
    page.locator("button[type=submit]").click()
    allow(page, pl, "pl")

    # "Nie pamiętasz swojego hasła?": the user name, a link by email, a new password
    context.clear_cookies()
    page.goto(f"{gateway}/account/login")
    page.get_by_role("link", name=i18n.text("forgot_link", "pl")).click()
    assert heading(page) == i18n.text("forgot_title", "pl")
    shot(page, "pl", "forgot")
    page.locator("#email").fill(login)
    page.locator("button[type=submit]").click()
    assert page.get_by_role("status").inner_text() == i18n.text("reset_sent", "pl")
    shot(page, "pl", "forgot-sent")
    assert inbox.last_to(person.email)["Subject"] == i18n.text("mail_reset_subject", "pl")
    page.goto(inbox.link(person.email))
    assert heading(page) == i18n.text("reset_title", "pl")
    shot(page, "pl", "reset")
    page.locator("#new_password").fill("yet another passphrase")
    page.locator("button[type=submit]").click()
    service = pl["gw"].extensions["accounts"]
    assert service.login(login, "yet another passphrase", "10.8.8.8").status == "ok"

    # five wrong passwords: the account is locked, support unlocks it
    for _ in range(5):
        page.goto(f"{gateway}/account/login")
        page.locator("#login").fill(login)
        page.locator("#password").fill("not my password at all")
        page.locator("button[type=submit]").click()
        # the lockout is under test here, not the growing delay between attempts
        service.limits.clear(["addr:127.0.0.1", f"acct:{service.find(login).id}"])
    page.goto(f"{gateway}/account/login")
    page.locator("#login").fill(login)
    page.locator("#password").fill("yet another passphrase")
    page.locator("button[type=submit]").click()
    assert page.locator("#form-error").inner_text() == i18n.text(
        "locked", "pl", contact="portalpacjenta@example.org"
    )
    shot(page, "pl", "locked")
    context.close()


def test_pl_imaging_studies_viewer_report_and_encrypted_export(
    pl: dict[str, Any],
    browser: Any,
    inbox: Inbox,
    poles: list[Any],
    his_pacs: HisPacs,
    truth: Any,
) -> None:
    """1.–3. Moje badania: the imaging studies with the icons telling whether the report and
    the images are available; a study opened in the image viewer (new window); the report's
    PDF; "Export DICOM" with the viewer and a password the patient chooses."""
    gateway, portal = pl["gateway"], pl["portal"]
    with_images = {pid for pid, _ in his_pacs.studies.values()}
    person = next(p for p in poles if p.id in with_images and truth("ImagingStudy", patient=p.id))
    studies = truth("ImagingStudy", patient=person.id, _sort="-started", _count=100)
    context = browser.new_context(locale="pl-PL", accept_downloads=True)
    viewer_stub(context, gateway)
    page = context.new_page()
    pl_sign_in(page, pl, person, inbox)

    tile(page, "/imaging")
    cards = page.locator("#studies > li")
    assert cards.count() == len(studies)
    for card, study in zip(cards.all(), studies, strict=True):
        tags = card.locator("[data-available]").all()
        assert (tags[1].get_attribute("data-available") == "yes") is available(study)["images"]
    shot(page, "pl", "imaging")
    fits_360(page)

    study = next(s for s in studies if available(s)["images"])
    card = page.locator(f"#study-{study['id']}")
    with page.expect_popup() as popup:
        card.locator("[data-action=viewer]").click()
    viewer = popup.value
    viewer.wait_for_load_state()
    assert urlsplit(viewer.url).path == "/viewer/viewer"
    token = parse_qs(urlsplit(viewer.url).query)["token"][0]
    seen = requests.get(
        f"{gateway}/dicomweb/studies",
        headers={"Authorization": f"Bearer {token}", "Accept": "application/dicom+json"},
        timeout=30,
    )
    assert seen.status_code == 200
    viewer.close()
    report = page.locator("#studies [data-action=report]").first
    if report.count():
        pdf = page.request.get(portal + report.get_attribute("href"))
        assert pdf.status == 200
        assert pdf.body().startswith(b"%PDF")

    card.locator("[data-action=export]").click()
    shot(page, "pl", "imaging-export")
    fits_360(page)
    password = "haslo do badania 1"
    page.locator("#password").fill("krotkie")
    page.locator("#export-form button[type=submit]").click()
    assert page.get_by_role("alert").is_visible()
    shot(page, "pl", "imaging-export-error")
    page.locator("#password").fill(password)
    with page.expect_download() as download:
        page.locator("#export-form button[type=submit]").click()
    data = Path(download.value.path()).read_bytes()
    with pyzipper.AESZipFile(io.BytesIO(data)) as secret:
        first = next(i for i in secret.infolist() if i.filename != "DICOMDIR")
        with pytest.raises(RuntimeError):  # not without the patient's password
            secret.read(first.filename)
        secret.setpassword(password.encode())
        assert secret.read(first.filename)[128:132] == b"DICM"
    context.close()


def test_pl_questionnaire_with_documents_then_my_documents(
    pl: dict[str, Any],
    browser: Any,
    inbox: Inbox,
    poles: list[Any],
    sqlite_his: str,
    tmp_path: Path,
) -> None:
    """4.–6. Kwestionariusze, Dodawanie dokumentów, Moje dokumenty: the hospital sends a
    questionnaire; the patient answers it question by question, attaches a scanned document
    with a description and an earlier study, starts the upload (which closes it for good); a
    second one is delivered without upload; the attached document is then among "My
    documents"."""
    portal = pl["portal"]
    person = poles[1]
    first = assign(sqlite_his, person.id, "onco-previsit-pl")
    context = browser.new_context(locale="pl-PL")
    page = context.new_page()
    pl_sign_in(page, pl, person, inbox)

    tile(page, "/questionnaires")
    assert page.locator(f"#waiting a[href='/questionnaires/{first}']").count() == 1
    shot(page, "pl", "questionnaires")
    fits_360(page)
    page.locator(f"a[href='/questionnaires/{first}']").click()
    shot(page, "pl", "questionnaire")
    page.locator("#start").click()
    shot(page, "pl", "questionnaire-question")
    fits_360(page)
    page.locator("#save").click()  # a required answer left out: said, linked to the field
    assert page.locator(".nhsuk-error-summary").is_visible()
    shot(page, "pl", "questionnaire-question-error")
    page.locator("#answer-reason").check()
    page.locator("#save").click()
    page.locator("#save").click()  # an optional date
    page.locator("#answer-treated-2").check()  # no earlier treatment
    page.locator("#save").click()
    page.locator("#answer-weight").fill("64")
    page.locator("#save").click()
    page.locator("#answer-height").fill("1.6")
    page.locator("#save").click()
    page.locator("#save").click()  # the family doctor: optional
    assert page.locator("#deliver").is_visible()  # "Dostarcz bez przesyłania"
    shot(page, "pl", "questionnaire-attach")
    fits_360(page)
    scan = tmp_path / "skan-wypisu.pdf"
    scan.write_bytes(samples.pdf())
    page.locator("#file").set_input_files(str(scan))
    page.locator("#document-type").select_option(index=1)
    page.locator("#save").click()
    assert "skan-wypisu.pdf" in page.get_by_role("main").inner_text()
    shot(page, "pl", "questionnaire-review")
    fits_360(page)
    page.locator("#submit").click()
    assert page.locator("#done").is_visible()
    shot(page, "pl", "questionnaire-sent")
    row = assignment(sqlite_his, first)
    assert row.status == "submitted"
    assert any(a.get("title") == "skan-wypisu.pdf" for a in row.answers["earlier"])
    page.goto(f"{portal}/questionnaires/{first}/step/0")
    assert page.url.endswith(f"/questionnaires/{first}")  # closed for good

    # another one, delivered without upload
    second = assign(sqlite_his, person.id, "onco-previsit-pl")
    page.goto(f"{portal}/questionnaires/{second}")
    page.locator("#start").click()
    page.locator("#answer-reason-2").check()
    page.locator("#save").click()
    page.locator("#save").click()
    page.locator("#answer-treated-2").check()
    page.locator("#save").click()
    page.locator("#answer-weight").fill("70")
    page.locator("#save").click()
    page.locator("#answer-height").fill("1.7")
    page.locator("#save").click()
    page.locator("#save").click()
    page.locator("#deliver").click()
    assert page.locator("#done").is_visible()
    assert assignment(sqlite_his, second).status == "submitted"

    # "Moje dokumenty": the document the patient attached is there to open
    tile(page, "/documents")
    shot(page, "pl", "documents")
    fits_360(page)
    page.goto(f"{portal}/uploads")
    assert "skan-wypisu.pdf" in page.locator("#uploads").inner_text()
    shot(page, "pl", "uploads")
    fits_360(page)
    context.close()


def test_pl_share_a_study_outside_with_pin_and_time_limit(
    pl: dict[str, Any],
    browser: Any,
    inbox: Inbox,
    poles: list[Any],
    his_pacs: HisPacs,
    truth: Any,
) -> None:
    """7. Udostępnianie wyniku badania: a study shared outside: the recipient's email, a
    6-digit PIN, the time it stays open and a comment; the link and the PIN come in separate
    messages and open the study."""
    portal = pl["portal"]
    with_images = {pid for pid, _ in his_pacs.studies.values()}
    person = next(p for p in poles if p.id in with_images and truth("ImagingStudy", patient=p.id))
    study = truth("ImagingStudy", patient=person.id, _sort="-started")[0]
    context = browser.new_context(locale="pl-PL")
    page = context.new_page()
    pl_sign_in(page, pl, person, inbox)

    tile(page, "/imaging")
    page.locator(f"#study-{study['id']} [data-action=share]").click()
    page.wait_for_url(f"{portal}/shares/new?what=ImagingStudy/{study['id']}")
    shot(page, "pl", "share-study")
    fits_360(page)
    recipient = "lekarz.rodzinny@example.org"
    pin = "750319"
    until = dt.date.today() + dt.timedelta(days=14)
    page.locator("#person-email").fill(recipient)
    page.locator("#person-pin").fill(pin)
    fill_date(page, "person-until", until)
    page.locator("#person-comment").fill("Proszę o konsultację przed wizytą.")
    page.locator("#share-person").click()
    page.wait_for_url(f"{portal}/shares")
    assert recipient in page.locator("#shares-done").inner_text()
    assert until.strftime("%d.%m.%Y") in page.locator("#shares").inner_text()
    shot(page, "pl", "shares")
    fits_360(page)

    bodies = [
        m.get_payload(decode=True).decode()  # type: ignore[union-attr]
        for m in inbox.messages
        if m["To"] == recipient
    ]
    link = next(
        re.search(r"https?://\S+", b).group(0)  # type: ignore[union-attr]
        for b in bodies
        if "/share/" in b
    )
    assert any(pin in b for b in bodies if "/share/" not in b)
    assert not any(pin in b for b in bodies if "/share/" in b)
    them = browser.new_context(locale="pl-PL").new_page()
    them.goto(link)
    shot(them, "pl", "share-recipient-pin")
    them.locator("input[name=pin]").fill(pin)
    them.locator("input[name=pin]").press("Enter")
    expect(them.locator("#share-comment")).to_have_text("Proszę o konsultację przed wizytą.")
    shot(them, "pl", "share-recipient")
    them.context.close()
    context.close()


def test_pl_change_password_settings_and_history(
    pl: dict[str, Any], browser: Any, inbox: Inbox, poles: list[Any]
) -> None:
    """8. Zmiana hasła from the patient's settings (current, new, confirmed), the portal's
    other settings, and who opened the records."""
    portal = pl["portal"]
    person = poles[2]
    context = browser.new_context(locale="pl-PL")
    page = context.new_page()
    pl_sign_in(page, pl, person, inbox)

    tile(page, "/settings")
    assert heading(page) == "Ustawienia"
    shot(page, "pl", "settings")
    fits_360(page)
    account_page(page, "/account/password").click()
    assert heading(page) == i18n.text("password_title", "pl")
    shot(page, "pl", "password")
    page.locator("#current_password").fill(NEW_PASSWORD)
    page.locator("#new_password").fill("the newest passphrase")
    page.locator("#confirm_password").fill("the newest passphrase")
    page.locator("main form button[type=submit]").click()
    assert page.get_by_role("status").inner_text() == i18n.text("password_changed", "pl")
    shot(page, "pl", "password-changed")
    login = str(person.email).lower()
    assert (
        pl["gw"].extensions["accounts"].login(login, "the newest passphrase", "10.7.7.7").status
        == "ok"
    )

    page.goto(f"{portal}/history")
    assert heading(page) == "Historia dostępu"
    assert page.locator("#events tbody tr").count() >= 1
    shot(page, "pl", "history")
    fits_360(page)
    context.close()
