"""Every screen of the portal in every language and every state: for Romanian, Polish and
English, one signed-in browser (a patient of the generated HIS, against the served gateway in
front of the real Orthanc) visits each screen EMPTY (nothing of that kind yet, or a filter that
matches nothing), in its ERROR states (forms sent empty or wrong, dates reversed, another
patient's id, the gateway not answering) and FILLED (lists with items, forms filled just before
they are sent, an encounter, a report, a trend). Each state is one test named
``<lang>-<screen>-<state>``: axe-core finds nothing, the page says its language, a Romanian or
Polish page holds none of the English words the NHS.UK components fall back to, and it is
photographed at 360 and 1280 px as ``states/<lang>/<screen>-<state>-<width>.png``."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller

from dicomweb.backends.dimse import DimseBackend
from fhir_gateway.his import schema as t
from portal.app import create_portal
from tests.booking.his import add_slots, utcnow
from tests.conftest import app_config
from tests.dicomweb.conftest import pacs  # noqa: F401 (the session's Orthanc)
from tests.dicomweb.web.conftest import HisPacs, his_pacs  # noqa: F401
from tests.dicomweb.web.conftest import make_app as open_pacs_gateway
from tests.portal.conftest import SCOPE, Served, axe_clean, pytestmark  # noqa: F401
from tests.portal.test_appointments import service_code
from tests.portal.test_questionnaires import assign
from tests.smart_auth.accounts.conftest import Inbox
from tests.uploads import samples

PASSWORD = "correct horse battery"
#: the language, the browser's locale, the portal's button that chooses it
LANGUAGES = {"ro": ("ro-RO", "Română"), "pl": ("pl-PL", "Polski"), "en": ("en-GB", "English")}
QUESTIONNAIRE = {"ro": "onco-previsit-ro", "pl": "onco-previsit-pl", "en": "onco-previsit-ro"}
WIDTHS = (360, 1280)
#: the v2-0074 sections of the functional tests (the paraclinical screen's)
PARACLINICAL = "AU,CUS,EC,EN,PF"
HOSPITAL = "Spitalul Clinic Demo"


def fallbacks() -> list[str]:
    """The English words NHS.UK's components show when a page gives them none: every
    ``default("…")`` of the installed templates that is words, and the words they write
    themselves (the pagination's, the page template's skip link)."""
    root = Path(str(files("nhsuk_frontend_jinja"))) / "templates" / "nhsuk"
    found = {"There is a problem", "Error:", "Previous", "Next", "Skip to main content"}
    for template in root.rglob("*.jinja"):
        for match in re.finditer(r"""default\(\s*(["'])(.*?)\1""", template.read_text(), re.S):
            words = match.group(2).strip()
            if re.fullmatch(r"[A-Z][a-z]+( [a-z]+)*", words) and words != "NHS":
                found.add(words)
    return sorted(found)


def kind_names() -> list[str]:
    """The English names the gateway's mapping gives kinds of documents and reports (a report's
    ``code.text``), which a page names in its own language."""
    from mappers.codes import DOCUMENT_KINDS, PARACLINICAL_KINDS

    names = {display for display, _loinc in DOCUMENT_KINDS.values()}
    return sorted(names | {display for display, _s, _l in PARACLINICAL_KINDS.values()})


ENGLISH = fallbacks() + kind_names()
#: the words that are the same in the language (Romanian "Important", Polish "Menu")
SAME = {"ro": {"Important"}, "pl": {"Menu"}}
#: the page's title and words, hidden ones too, and the words of its attributes that are read out
PAGE_WORDS = """() => [document.title, document.body.textContent,
  ...[...document.querySelectorAll('[aria-label],[title],[alt],[placeholder],input[value]')]
     .map(e => [e.getAttribute('aria-label'), e.getAttribute('title'), e.getAttribute('alt'),
                e.getAttribute('placeholder'),
                ['submit', 'button'].includes(e.type) ? e.value : ''].join(' '))].join(' ')"""


# --- the deployment and the patients ------------------------------------------------------------


@pytest.fixture(scope="module")
def his(sqlite_his: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A copy of the session's HIS: the patients here book, and are sent questionnaires."""
    copy = tmp_path_factory.mktemp("states-his") / "his.sqlite"
    shutil.copyfile(sqlite_his.removeprefix("sqlite:///"), copy)
    return f"sqlite:///{copy}"


@pytest.fixture(scope="module")
def smtp_server() -> Iterator[tuple[Inbox, int]]:
    """A real SMTP server for the module's gateway: its inbox and port."""
    inbox = Inbox()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


@pytest.fixture(scope="module")
def mail(smtp_server: tuple[Inbox, int]) -> Inbox:
    return smtp_server[0]


@pytest.fixture(scope="module")
def deployed(
    his: str,
    his_pacs: HisPacs,  # noqa: F811
    smtp_server: tuple[Inbox, int],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, Any]]:
    """The served gateway (production authorization server, an email code at sign-in) in front
    of the Orthanc holding the HIS's studies, and the served portal registered with it."""
    from gateway.app import create_app

    tmp = tmp_path_factory.mktemp("states")
    gateway, portal = Served(), Served()
    backend = DimseBackend(his_pacs.pacs.settings())
    gw = create_app(
        app_config(
            his,
            state_url=f"sqlite:///{tmp / 'state.sqlite'}",
            smtp_host="127.0.0.1",
            smtp_port=smtp_server[1],
            outbox_dir=str(tmp / "outbox"),
            dev_open_access=False,
            public_base_url=f"{gateway.url}/fhir",
            accounts_second_factor="email",
            # the gateway's pages (a share's recipient, a result's code) carry it too
            portal_hospital_name=HOSPITAL,
        ),
        pacs=backend,
        pacs_settings=his_pacs.pacs.settings(),
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
            "portal_state_url": f"sqlite:///{tmp / 'portal.sqlite'}",
            "portal_hospital_name": HOSPITAL,
            "portal_emergency_number": "112",
        }
    )
    portal.start(app)
    yield {"gateway": gateway.url, "portal": portal.url, "served_gateway": gateway, "gw": gw}
    portal.stop()
    gateway.stop()
    backend.close()
    gw.extensions["state_engine"].dispose()
    app.extensions["portal_engine"].dispose()


@dataclass
class Facts:
    """What one patient has, as the gateway answers with authorization off."""

    person: Any
    encounters: list[str]
    reports: list[str]
    studies: list[dict[str, Any]]


@pytest.fixture(scope="module")
def patients(his_pacs: HisPacs, adults: list[Any]) -> list[Facts]:  # noqa: F811
    """Adults with encounters, lab reports and imaging studies with images: one for each
    language who has paraclinical results too, then another whose ids they must not open."""
    app = open_pacs_gateway(his_pacs)
    client = app.test_client()

    def search(resource: str, **params: Any) -> list[dict[str, Any]]:
        answer = client.get(f"/fhir/{resource}", query_string=params)
        assert answer.status_code == 200
        return [
            e["resource"]
            for e in answer.get_json().get("entry", [])
            if e["search"]["mode"] == "match"
        ]

    with_images = {pid for pid, _ in his_pacs.studies.values()}
    found: list[Facts] = []
    others: list[Facts] = []
    for person in adults:
        if person.id not in with_images:
            continue
        reports = search("DiagnosticReport", patient=person.id, category="LAB", _sort="-date")
        encounters = search("Encounter", patient=person.id, _sort="-date", _count=20)
        if not (reports and encounters):
            continue
        studies = search("ImagingStudy", patient=person.id, _sort="-started")
        facts = Facts(person, [e["id"] for e in encounters], [r["id"] for r in reports], studies)
        if len(found) < len(LANGUAGES) and search(
            "DiagnosticReport", patient=person.id, category=PARACLINICAL
        ):
            found.append(facts)
        else:
            others.append(facts)
    app.extensions["test_backend"].close()
    app.extensions["state_engine"].dispose()
    assert len(found) == len(LANGUAGES)
    assert others
    return [*found, others[0]]


@dataclass
class Visit:
    """One language's signed-in browser page, its patient, and what its states leave behind
    for the next (an upload, a share, a questionnaire, a booking's choice)."""

    lang: str
    page: Any
    portal: str
    gateway: str
    his: str
    facts: Facts
    other: Facts
    deployed: dict[str, Any]
    mail: Inbox
    scratch: Path
    kept: dict[str, Any] = field(default_factory=dict)

    def go(self, path: str, status: int = 200) -> None:
        answer = self.page.goto(f"{self.portal}{path}")
        assert answer is not None
        assert answer.status == status, f"{path}: {answer.status}"

    def rows(self, selector: str) -> int:
        return int(self.page.locator(selector).count())


def without_questionnaires(his: str, patient_id: int) -> None:
    """The patient's questionnaires withdrawn from the module's HIS, so that the list starts
    empty."""
    engine = sa.create_engine(his)
    with engine.begin() as conn:
        conn.execute(
            sa.delete(t.questionnaire_assignment).where(
                t.questionnaire_assignment.c.patient_id == patient_id
            )
        )
    engine.dispose()


def sign_in(page: Any, deployed: dict[str, Any], person: Any, mail: Inbox, button: str) -> None:
    """Register on the gateway's pages (in the browser's language), sign in through the portal
    with the password and the emailed code, allow it, then choose the language in the
    portal."""
    gateway, portal = deployed["gateway"], deployed["portal"]
    page.goto(f"{gateway}/account/register")
    page.locator("#full_name").fill(f"{person.given} {person.family}")
    page.locator("#national_id").fill(person.national_id)
    page.locator("button[type=submit]").click()
    page.wait_for_load_state()
    page.goto(mail.link(person.email))
    page.locator("#password").fill(PASSWORD)
    page.locator("button[type=submit]").click()
    page.wait_for_load_state()
    page.context.clear_cookies()
    page.goto(f"{portal}/sign-in")
    page.locator("#login").fill(str(person.email))
    page.locator("#password").fill(PASSWORD)
    page.locator("button[type=submit]").click()
    page.wait_for_load_state()
    page.locator("#code").fill(mail.code(person.email))
    page.locator("button[type=submit]").click()
    page.locator("#accept").check()
    page.locator("button[type=submit]").click()
    page.locator("button[name=decision][value=allow]").click()
    page.wait_for_url(f"{portal}/")
    page.get_by_role("button", name=button).click()
    page.wait_for_load_state()


@pytest.fixture(scope="module")
def visits(
    browser: Any,
    deployed: dict[str, Any],
    patients: list[Facts],
    mail: Inbox,
    his: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[[str], Visit]]:
    """One signed-in browser context per language, made when its first state is visited."""
    made: dict[str, Visit] = {}
    contexts: list[Any] = []

    def visit(lang: str) -> Visit:
        if lang not in made:
            locale, button = LANGUAGES[lang]
            context = browser.new_context(locale=locale)
            contexts.append(context)
            page = context.new_page()
            facts = patients[list(LANGUAGES).index(lang)]
            without_questionnaires(his, facts.person.id)
            sign_in(page, deployed, facts.person, mail, button)
            made[lang] = Visit(
                lang,
                page,
                deployed["portal"],
                deployed["gateway"],
                his,
                facts,
                patients[3],
                deployed,
                mail,
                tmp_path_factory.mktemp(f"states-{lang}"),
            )
        return made[lang]

    yield visit
    for context in contexts:
        context.close()


# --- the states, in the order they are visited ---------------------------------------------------

STATES: list[tuple[str, str, Callable[[Visit], None]]] = []


def state(screen: str, kind: str) -> Callable[[Callable[[Visit], None]], Callable[[Visit], None]]:
    def register(fn: Callable[[Visit], None]) -> Callable[[Visit], None]:
        STATES.append((screen, kind, fn))
        return fn

    return register


def error_summary(v: Visit) -> None:
    assert v.page.locator(".nhsuk-error-summary").is_visible()


@state("home", "filled")
def _home(v: Visit) -> None:
    v.go("/")
    assert v.page.locator("#patient").input_value() == str(v.facts.person.id)


# the lists with a period: filled, a period with nothing, an impossible date, reversed dates
for _screen, _rows in (
    ("record", "#encounters tbody tr"),
    ("results", "#results tbody tr"),
    ("paraclinical", "#results tbody tr"),
    ("documents", "#documents tbody tr"),
    ("imaging", "#studies > li"),
):

    def _filled(v: Visit, screen: str = _screen, rows: str = _rows) -> None:
        v.go(f"/{screen}")
        assert v.rows(rows) >= 1

    def _empty(v: Visit, screen: str = _screen, rows: str = _rows) -> None:
        v.go(f"/{screen}?from=1901-01-01&to=1901-12-31")
        assert v.rows(rows) == 0

    def _bad_date(v: Visit, screen: str = _screen) -> None:
        v.go(f"/{screen}?from=2024-02-31", 400)
        assert v.rows(".nhsuk-error-summary a[href='#from']") == 1

    def _reversed(v: Visit, screen: str = _screen) -> None:
        v.go(f"/{screen}?from=2025-01-01&to=2024-01-01", 400)
        error_summary(v)

    state(_screen, "filled")(_filled)
    state(_screen, "empty")(_empty)
    state(_screen, "error-date")(_bad_date)
    state(_screen, "error-reversed")(_reversed)


@state("record", "encounter")
def _encounter(v: Visit) -> None:
    v.go("/record")
    v.page.locator("#encounters tbody tr td:nth-child(2) a").first.click()
    v.page.wait_for_load_state()
    assert "/record/" in v.page.url


@state("record", "error-not-theirs")
def _encounter_404(v: Visit) -> None:
    v.go(f"/record/{v.other.encounters[0]}", 404)


@state("results", "report")
def _report(v: Visit) -> None:
    v.go(f"/results/{v.facts.reports[0]}")


@state("results", "trend")
def _trend(v: Visit) -> None:
    for report in v.facts.reports:
        v.go(f"/results/{report}")
        trend = v.page.locator("#analytes a[href^='/results/trend']")
        if trend.count():
            trend.first.click()
            break
    v.page.wait_for_url(f"{v.portal}/results/trend?code=**")
    assert v.rows("#trend-table tbody tr") >= 1


@state("results", "error-not-theirs")
def _report_404(v: Visit) -> None:
    v.go(f"/results/{v.other.reports[0]}", 404)


@state("imaging", "export")
def _export(v: Visit) -> None:
    v.go("/imaging")
    v.page.locator("#studies [data-action=export]").first.click()
    v.page.wait_for_url(f"{v.portal}/imaging/*/export")
    v.page.locator("#password").fill("a passphrase long enough")


@state("imaging", "export-error-short-password")
def _export_short(v: Visit) -> None:
    v.page.locator("#password").fill("short")
    v.page.locator("#export-form button[type=submit]").click()
    v.page.wait_for_load_state()
    assert v.page.get_by_role("alert").is_visible()


@state("imaging", "error-not-theirs")
def _study_404(v: Visit) -> None:
    v.go(f"/imaging/{v.other.studies[0]['id']}/export", 404)


@state("uploads", "empty")
def _uploads_empty(v: Visit) -> None:
    v.go("/uploads")
    assert v.page.locator("#no-uploads").is_visible()


@state("uploads", "error-nothing-chosen")
def _uploads_nothing(v: Visit) -> None:
    v.page.locator("#upload-form button[type=submit]").click()
    v.page.wait_for_load_state()
    assert v.page.locator("#refused").is_visible()


@state("uploads", "filled")
def _uploads_filled(v: Visit) -> None:
    v.go("/uploads")
    letter = v.scratch / "scrisoare.pdf"
    letter.write_bytes(samples.pdf())
    v.page.set_input_files("#files", str(letter))
    v.page.locator("#upload-form button[type=submit]").click()
    v.page.locator("#uploads tbody tr").first.wait_for()
    v.go("/uploads")
    assert v.rows("#uploads tbody tr") == 1


@state("uploads", "describe-filled")
def _describe(v: Visit) -> None:
    v.go("/uploads")
    v.page.locator("#uploads tbody tr a[href$='/describe']").first.click()
    v.page.wait_for_load_state()
    v.page.locator("#description").fill("Analize făcute la alt laborator, martie.")


@state("uploads", "describe-error-too-long")
def _describe_long(v: Visit) -> None:
    v.page.locator("#description").fill("x" * 2001)
    v.page.locator("main form button[type=submit]").click()
    v.page.wait_for_load_state()
    error_summary(v)


@state("uploads", "delete")
def _delete(v: Visit) -> None:
    v.go("/uploads")
    v.page.locator("#uploads tbody tr a[href$='/delete']").first.click()
    v.page.wait_for_load_state()


@state("shares", "empty")
def _shares_empty(v: Visit) -> None:
    v.go("/shares")
    assert v.page.locator("#no-shares").is_visible()


@state("shares", "new-filled")
def _share_filled(v: Visit) -> None:
    v.go(f"/shares/new?what=DiagnosticReport/{v.facts.reports[0]}")
    v.page.locator("#person-email").fill(f"medic.{v.lang}@example.org")
    v.page.locator("#person-pin").fill("482915")
    v.page.locator("#person-comment").fill("Pentru consultația de luni.")
    v.page.locator("#person-language").select_option(v.lang)


@state("shares", "new-error-no-address")
def _share_no_address(v: Visit) -> None:
    v.page.locator("#person-email").fill("")
    v.page.locator("#person-pin").fill("12ab")
    v.page.locator("#share-person").click()
    v.page.wait_for_load_state()
    error_summary(v)
    assert v.rows("#person-email-error") == 1


@state("shares", "filled")
def _shares_filled(v: Visit) -> None:
    v.page.locator("#person-email").fill(f"medic.{v.lang}@example.org")
    v.page.locator("#person-pin").fill("482915")
    v.page.locator("#share-person").click()
    v.page.wait_for_url(f"{v.portal}/shares")
    assert v.rows("#shares tbody tr") == 1


@state("shares", "withdraw")
def _withdraw(v: Visit) -> None:
    v.page.locator("#shares tbody tr").first.locator("a").last.click()
    v.page.wait_for_load_state()
    assert "/withdraw" in v.page.url


@state("share-recipient", "pin")
def _recipient(v: Visit) -> None:
    to = f"medic.{v.lang}@example.org"
    bodies = [m.get_payload(decode=True).decode() for m in v.mail.messages if m["To"] == to]  # type: ignore[union-attr]
    link = next(m.group(0) for b in bodies if (m := re.search(r"https?://\S+/share/\S+", b)))
    v.page.goto(link)
    assert v.rows("input[name=pin]") == 1


@state("share-recipient", "error-bad-pin")
def _recipient_bad_pin(v: Visit) -> None:
    v.page.locator("input[name=pin]").fill("000000")
    v.page.locator("input[name=pin]").press("Enter")
    v.page.wait_for_load_state()
    assert v.page.get_by_role("alert").is_visible()


@state("share-recipient", "filled")
def _recipient_open(v: Visit) -> None:
    v.page.locator("input[name=pin]").fill("482915")
    v.page.locator("input[name=pin]").press("Enter")
    v.page.locator("#shared-documents").wait_for()


@state("questionnaires", "empty")
def _questionnaires_empty(v: Visit) -> None:
    v.go("/questionnaires")
    assert v.rows("#waiting a[href^='/questionnaires/']") == 0


@state("questionnaires", "filled")
def _questionnaires_filled(v: Visit) -> None:
    v.kept["questionnaire"] = assign(v.his, v.facts.person.id, QUESTIONNAIRE[v.lang])
    v.go("/questionnaires")
    assert v.rows(f"#waiting a[href='/questionnaires/{v.kept['questionnaire']}']") == 1


@state("questionnaire", "start")
def _questionnaire(v: Visit) -> None:
    v.go(f"/questionnaires/{v.kept['questionnaire']}")


@state("questionnaire", "step-error-required")
def _step_error(v: Visit) -> None:
    v.page.locator("#start").click()
    v.page.wait_for_load_state()
    v.page.locator("#save").click()
    v.page.wait_for_load_state()
    error_summary(v)


@state("questionnaire", "step-filled")
def _step_filled(v: Visit) -> None:
    v.page.locator("#answer-reason").check()


@state("questionnaire", "attach-filled")
def _attach(v: Visit) -> None:
    v.page.locator("#save").click()  # the reason chosen on the step before
    v.page.locator("#save").click()  # an optional date
    v.page.locator("#answer-treated-2").check()  # no earlier treatment
    v.page.locator("#save").click()
    v.page.locator("#answer-weight").fill("64")
    v.page.locator("#save").click()
    v.page.locator("#answer-height").fill("1.6")
    v.page.locator("#save").click()
    v.page.locator("#save").click()  # the family doctor: optional
    assert v.page.locator("#deliver").is_visible()
    scan = v.scratch / "scan.pdf"
    scan.write_bytes(samples.pdf())
    v.page.locator("#file").set_input_files(str(scan))
    v.page.locator("#document-type").select_option(index=1)


@state("questionnaire", "review")
def _review(v: Visit) -> None:
    v.page.locator("#save").click()
    v.page.locator("#submit").wait_for()
    assert "scan.pdf" in v.page.get_by_role("main").inner_text()


@state("questionnaire", "submitted")
def _submitted(v: Visit) -> None:
    v.page.locator("#submit").click()
    v.page.locator("#done").wait_for()


@state("appointments", "empty")
def _appointments_empty(v: Visit) -> None:
    v.go("/appointments?when=all&service=NO-SUCH-SERVICE")
    assert v.page.locator("#no-appointments").is_visible()


@state("appointments", "book")
def _book(v: Visit) -> None:
    hour = 8 + 2 * list(LANGUAGES).index(v.lang)
    slots = add_slots(
        v.his, 2, first=(utcnow() + dt.timedelta(days=5)).replace(hour=hour, minute=0)
    )
    v.kept["slots"] = slots
    v.kept["service"] = service_code(v.his, slots[0])
    v.go("/appointments/book")
    v.page.locator("#service").select_option(v.kept["service"])


@state("appointments", "times-filled")
def _times(v: Visit) -> None:
    v.page.locator("#by-service button[type=submit]").click()
    v.page.wait_for_url(f"{v.portal}/appointments/book/times?*")
    v.page.locator(f"#slot-{v.kept['slots'][0]}").check()


@state("appointments", "error-no-time")
def _no_time(v: Visit) -> None:
    v.go(f"/appointments/book/times?service={v.kept['service']}")
    v.page.locator("#times button[type=submit]").click()
    v.page.wait_for_load_state()
    error_summary(v)


@state("appointments", "confirm")
def _confirm(v: Visit) -> None:
    v.page.locator(f"#slot-{v.kept['slots'][0]}").check()
    v.page.locator("#times button[type=submit]").click()
    v.page.wait_for_url(f"{v.portal}/appointments/book/confirm?*")


@state("appointments", "booked")
def _booked(v: Visit) -> None:
    v.page.locator("#confirm").click()
    v.page.wait_for_url(f"{v.portal}/appointments/*?done=booked")


@state("appointments", "change")
def _change(v: Visit) -> None:
    v.kept["appointment"] = v.page.url.split("/appointments/")[1].split("?")[0]
    v.page.locator("#change").click()
    v.page.wait_for_url(f"{v.portal}/appointments/*/change")


@state("appointments", "change-error-no-time")
def _change_no_time(v: Visit) -> None:
    v.page.locator("#times button[type=submit]").click()
    v.page.wait_for_load_state()
    error_summary(v)


@state("appointments", "cancel")
def _cancel(v: Visit) -> None:
    v.go(f"/appointments/{v.kept['appointment']}")
    v.page.locator("#cancel").click()
    v.page.wait_for_url(f"{v.portal}/appointments/*/cancel")


@state("appointments", "filled")
def _appointments(v: Visit) -> None:
    v.go("/appointments")
    assert v.rows("#appointments tbody tr") >= 1


@state("settings", "filled")
def _settings(v: Visit) -> None:
    v.go("/settings")


@state("history", "filled")
def _history(v: Visit) -> None:
    v.go("/history")
    assert v.rows("#events tbody tr") >= 1


@state("not-found", "error")
def _not_found(v: Visit) -> None:
    v.go("/no-such-page", 404)


@state("gateway-down", "error")
def _gateway_down(v: Visit) -> None:
    served = v.deployed["served_gateway"]
    working = served.app

    def down(environ: Any, start_response: Any) -> list[bytes]:
        start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
        return [b"down for maintenance"]

    served.app = down
    try:
        v.go("/results", 503)
        assert v.rows("#problem") == 1
    finally:
        served.app = working


@state("start", "signed-out")
def _signed_out(v: Visit) -> None:
    v.go("/")
    v.page.locator("footer button[type=submit]").click()
    v.page.locator("#sign-in").wait_for()


@state("result-access", "empty")
def _result_access(v: Visit) -> None:
    v.page.locator("#result-access").click()
    v.page.wait_for_url(f"{v.gateway}/result-access*")


@state("result-access", "error-wrong-code")
def _result_access_wrong(v: Visit) -> None:
    v.page.locator("#code").fill("000000")
    v.page.locator("#national_id").fill(v.facts.person.national_id)
    v.page.locator("main form button[type=submit]").click()
    v.page.wait_for_load_state()
    error_summary(v)


# --- the test: one state of one language ---------------------------------------------------------


def check(v: Visit, name: str) -> None:
    """The page says its language; a Romanian or Polish page holds none of the components'
    English words; axe-core finds nothing; screenshots at 360 and 1280 px."""
    page = v.page
    page.wait_for_load_state("load")
    assert page.locator("html").get_attribute("lang") == v.lang
    if v.lang != "en":
        text = page.evaluate(PAGE_WORDS)
        english = [
            w
            for w in ENGLISH
            if w not in SAME[v.lang] and re.search(rf"(?<!\w){re.escape(w)}(?!\w)", text)
        ]
        assert english == [], f"English on the {v.lang} page {page.url}: {english}"
    axe_clean(page, f"states/{v.lang}/{name}", WIDTHS)
    page.set_viewport_size({"width": 1280, "height": 900})


@pytest.mark.parametrize(
    ("lang", "screen", "kind"),
    [
        pytest.param(lang, screen, kind, id=f"{lang}-{screen}-{kind}")
        for lang in LANGUAGES
        for screen, kind, _ in STATES
    ],
)
def test_state(lang: str, screen: str, kind: str, visits: Callable[[str], Visit]) -> None:
    v = visits(lang)
    (visit,) = [fn for s, k, fn in STATES if (s, k) == (screen, kind)]
    visit(v)
    check(v, f"{screen}-{kind}")
