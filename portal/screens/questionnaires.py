"""Questionnaires (F18): the questionnaires the hospital sent the active patient, answered one
question a page with the answers kept in the gateway's in-progress QuestionnaireResponse (each
page is a ``PUT`` of it, locked on its version), attachments (a new upload, or documents and
imaging studies the patient already has), "deliver without upload", and the submission that
closes the questionnaire for good."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from typing import Any

from babel.numbers import format_decimal
from flask import (
    Blueprint,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import get_locale, lazy_gettext  # type: ignore[import-untyped]
from flask_babel import gettext as _  # type: ignore[import-untyped]

from portal.client import GatewayError
from portal.screens import Tile
from portal.web import (
    active,
    gateway,
    matches,
    read,
    search,
    searches,
    send,
    signed_in,
    typed_day,
)

blueprint = Blueprint("questionnaires", __name__)
TILE = Tile(
    "questionnaires.listing",
    lazy_gettext("Questionnaires"),
    lazy_gettext("Answer the questionnaires the hospital sends you, with documents if asked."),
)
RESOURCE = "QuestionnaireResponse"
#: the problems of an attachment page's file (not an item of the questionnaire)
FILE = " file"
#: the largest upload the portal passes on to the gateway (which has its own limit, 413)
UPLOAD_LIMIT = 60 * 1024 * 1024
#: the types of a patient's document (the gateway's patient-document-type code system)
DOCUMENT_TYPES = ("external-lab-result", "other-clinic-letter", "image", "other")
_LINK = re.compile(r"linkId='([A-Za-z0-9._\-]{1,64})'")
_TYPE_SYSTEM = re.compile(r"https?://[^\s,;()]+/CodeSystem/patient-document-type")


def hospital_zone() -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(current_app.extensions["portal_settings"].portal_time_zone)


def document_type_label(code: str) -> str:
    return {
        "external-lab-result": _("A laboratory result from elsewhere"),
        "other-clinic-letter": _("A letter from another clinic"),
        "image": _("An image"),
        "other": _("Another document"),
    }[code]


# --- reading -------------------------------------------------------------------------------------


def questionnaires_of(responses: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The Questionnaires the responses answer, by their canonical ``url|version``."""
    urls = sorted({str(r.get("questionnaire", "")).split("|")[0] for r in responses} - {""})
    if not urls:
        return {}
    bundle = search("Questionnaire", {"url": ",".join(urls), "_count": "100"})
    found = {}
    for questionnaire in matches(bundle, "Questionnaire"):
        found[f"{questionnaire['url']}|{questionnaire.get('version', '')}"] = questionnaire
    return found


@blueprint.get("/questionnaires")
@signed_in
def listing() -> Any:
    bundle = search(RESOURCE, {"patient": active(), "_count": "100", "_sort": "-authored"})
    responses = matches(bundle, RESOURCE)
    titles = questionnaires_of(responses)

    def row(response: dict[str, Any]) -> dict[str, Any]:
        questionnaire = titles.get(response.get("questionnaire", ""), {})
        return {
            "id": response["id"],
            "title": questionnaire.get("title") or questionnaire.get("name", ""),
            "date": response.get("authored", ""),
            "started": bool(response.get("item")),
        }

    waiting = [row(r) for r in responses if r.get("status") == "in-progress"]
    done = [row(r) for r in responses if r.get("status") == "completed"]
    return render_template("questionnaires/list.html", waiting=waiting, done=done)


class Form:
    """One response of the active patient with its Questionnaire, its pages and answers."""

    def __init__(self, response_id: str) -> None:
        response = read(f"{RESOURCE}/{response_id}")
        if response is None or (response.get("subject") or {}).get("reference") != (
            f"Patient/{active()}"
        ):
            abort(404)
        questionnaire = questionnaires_of([response]).get(response.get("questionnaire", ""))
        if questionnaire is None:
            raise GatewayError(502, "Questionnaire of a response")
        self.response = response
        self.questionnaire = questionnaire
        self.items: list[dict[str, Any]] = questionnaire.get("item", [])
        self.answers: dict[str, list[dict[str, Any]]] = {
            item["linkId"]: item.get("answer", []) for item in response.get("item", [])
        }
        self.pages = pages_of(self.items)

    @property
    def id(self) -> str:
        return str(self.response["id"])

    @property
    def closed(self) -> bool:
        return self.response.get("status") == "completed"

    @property
    def version(self) -> str:
        return str((self.response.get("meta") or {}).get("versionId", ""))

    def shown(self, index: int) -> bool:
        item = self.pages[index]["item"]
        return item is None or enabled(item, self.answers)

    def next_page(self, index: int, step: int = 1) -> int | None:
        """The next (or previous, ``step`` -1) page the answers show, None past the end."""
        index += step
        while 0 <= index < len(self.pages):
            if self.shown(index):
                return index
            index += step
        return None

    def page_of(self, link_id: str) -> int:
        for index, page in enumerate(self.pages):
            if page["item"] is not None and page["item"]["linkId"] == link_id:
                return index
        return 0

    def anchor(self, link_id: str) -> str:
        """The id an error about ``link_id`` links to: a date's day box, any other field's
        own."""
        item = self.pages[self.page_of(link_id)]["item"] if self.pages else None
        if item is not None and item["linkId"] == link_id and item.get("type") == "date":
            return f"answer-{link_id}-day"
        return f"answer-{link_id}"

    def body(self, status: str) -> dict[str, Any]:
        """The response to PUT: the answers of the items the answers enable, in order."""
        kept: dict[str, list[dict[str, Any]]] = {}
        for item in self.items:
            given = self.answers.get(item["linkId"])
            if given and item.get("type") != "display" and enabled(item, kept):
                kept[item["linkId"]] = given
        body = {
            "resourceType": RESOURCE,
            "id": self.id,
            "questionnaire": self.response["questionnaire"],
            "status": status,
            "subject": self.response["subject"],
            "source": self.response.get("source", self.response["subject"]),
        }
        if kept:
            body["item"] = [{"linkId": k, "answer": v} for k, v in kept.items()]
        return body

    def save(self, status: str) -> Any:
        """PUT the response, locked on the version the page showed (its ``version`` field;
        else the one just read): a change made elsewhere since is 412, never overwritten."""
        shown_version = request.form.get("version", "")
        version = shown_version if re.fullmatch(r"[0-9.]{1,32}", shown_version) else self.version
        return send(
            "PUT",
            f"{RESOURCE}/{self.id}",
            json=self.body(status),
            headers={"If-Match": f'W/"{version}"'},
        )

    def summary(self) -> list[dict[str, Any]]:
        """Every question the answers show, with the answer as text."""
        rows = []
        for index, page in enumerate(self.pages):
            item = page["item"]
            if item is None or not self.shown(index):
                continue
            rows.append(
                {
                    "page": index,
                    "link_id": item["linkId"],
                    "text": item.get("text", ""),
                    "answers": [answer_text(a) for a in self.answers.get(item["linkId"], [])],
                }
            )
        return rows


def pages_of(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One page per question; display items go on the page of the question after them (or of
    the last question)."""
    pages: list[dict[str, Any]] = []
    intro: list[str] = []
    for item in items:
        if item.get("type") == "display":
            intro.append(item.get("text", ""))
            continue
        pages.append({"intro": intro, "item": item})
        intro = []
    if intro:
        if pages:
            pages[-1]["intro"] = [*pages[-1]["intro"], *intro]
        else:
            pages.append({"intro": intro, "item": None})
    return pages


def _value(answer: dict[str, Any]) -> Any:
    for key, value in answer.items():
        if key.startswith("value"):
            if isinstance(value, dict) and "code" in value:
                return (value.get("system"), value.get("code"))
            return value
    return None


def _expected(condition: dict[str, Any]) -> Any:
    for key, value in condition.items():
        if key.startswith("answer"):
            if isinstance(value, dict) and "code" in value:
                return (value.get("system"), value.get("code"))
            return value
    return None


def _met(condition: dict[str, Any], answers: dict[str, list[dict[str, Any]]]) -> bool:
    given = [_value(a) for a in answers.get(condition.get("question", ""), [])]
    operator, expected = condition.get("operator"), _expected(condition)
    if operator == "exists":
        return bool(given) == expected
    if operator == "!=":
        return all(value != expected for value in given)
    for value in given:
        try:
            if (
                (operator == "=" and value == expected)
                or (operator == ">" and value > expected)
                or (operator == "<" and value < expected)
                or (operator == ">=" and value >= expected)
                or (operator == "<=" and value <= expected)
            ):
                return True
        except TypeError:
            continue
    return False


def enabled(item: dict[str, Any], answers: dict[str, list[dict[str, Any]]]) -> bool:
    """Whether ``item`` is shown given ``answers`` (FHIR R4 enableWhen / enableBehavior)."""
    conditions = item.get("enableWhen") or []
    if not conditions:
        return True
    met = [_met(c, answers) for c in conditions]
    return any(met) if item.get("enableBehavior") == "any" else all(met)


def answer_text(answer: dict[str, Any]) -> dict[str, str]:
    """An answer as a page shows it: its text, and a date to write the local way."""
    if "valueCoding" in answer:
        coding = answer["valueCoding"]
        return {"text": str(coding.get("display") or coding.get("code", ""))}
    if "valueBoolean" in answer:
        return {"text": _("Yes") if answer["valueBoolean"] else _("No")}
    if "valueDate" in answer:
        return {"date": str(answer["valueDate"])}
    if "valueDecimal" in answer:
        return {"text": format_decimal(answer["valueDecimal"], locale=str(get_locale()))}
    if "valueAttachment" in answer:
        attachment = answer["valueAttachment"]
        return {"text": str(attachment.get("title") or attachment.get("url", ""))}
    value = _value(answer)
    return {"text": "" if value is None else str(value)}


# --- the gateway's refusals -------------------------------------------------------------------


def issues_of(answer: Any) -> list[tuple[str | None, str]]:
    """(linkId or None, the patient's words) for each issue of a 422 OperationOutcome."""
    try:
        outcome = answer.json()
    except ValueError:
        return [(None, _("The answers could not be saved."))]
    found = []
    for issue in outcome.get("issue", []):
        diagnostics = str(issue.get("diagnostics", ""))
        link = None
        for expression in issue.get("expression", []):
            hit = _LINK.search(str(expression))
            if hit:
                link = hit.group(1)
        if "required" in diagnostics:
            words = _("Answer this question.")
        elif "maxLength" in diagnostics:
            words = _("The answer is too long.")
        elif "32-bit" in diagnostics:
            words = _("Enter a smaller whole number.")
        elif "attachment" in diagnostics:
            words = _("Choose one of your documents or imaging studies.")
        else:
            words = _("Check this answer.")
        found.append((link, words))
    return found or [(None, _("The answers could not be saved."))]


def changed_elsewhere() -> str:
    return _(
        "This questionnaire was changed elsewhere (perhaps in another window). Check the "
        "answers below and try again."
    )


# --- pages ---------------------------------------------------------------------------------------


@blueprint.get("/questionnaires/<response_id>")
@signed_in
def view(response_id: str) -> Any:
    form = Form(response_id)
    first = form.next_page(-1)
    return render_template(
        "questionnaires/view.html", form=form, first=first, done=request.args.get("done", "")
    )


def earlier() -> list[dict[str, str]]:
    """The patient's documents and imaging studies an attachment answer may point at."""
    studies, documents = searches(
        ("ImagingStudy", {"patient": active(), "_count": "50"}),
        ("DocumentReference", {"patient": active(), "_count": "50"}),
    )
    found = []
    for study in matches(studies, "ImagingStudy"):
        found.append(
            {
                "ref": f"ImagingStudy/{study['id']}",
                "title": study.get("description") or _("Imaging study"),
                "date": str(study.get("started", "")),
                "kind": _("Imaging study"),
            }
        )
    for document in matches(documents, "DocumentReference"):
        found.append(
            {
                "ref": f"DocumentReference/{document['id']}",
                "title": document.get("description")
                or (document.get("type") or {}).get("text")
                or _("Document"),
                "date": str(document.get("date", "")),
                "kind": _("Document"),
            }
        )
    return found


def step_page(
    form: Form,
    index: int,
    problems: list[tuple[str | None, str]] | None = None,
    status: int = 200,
    given: str | None = None,
) -> Any:
    page = form.pages[index]
    item = page["item"]
    link = item["linkId"] if item is not None else ""
    summary = []
    field_error = ""
    file_error = ""
    for problem_link, words in problems or []:
        if problem_link == FILE:
            summary.append((words, "#file"))
            file_error = words
        elif problem_link in (None, link):
            summary.append((words, f"#{form.anchor(link)}" if link else "#main"))
            field_error = field_error or words
        else:
            other = form.page_of(problem_link)
            summary.append(
                (
                    words,
                    url_for(".step", response_id=form.id, index=other)
                    + f"#{form.anchor(problem_link)}",
                )
            )
    previous = form.next_page(index, -1)
    attachable = earlier() if item is not None and item.get("type") == "attachment" else []
    chosen = {
        a["valueCoding"].get("code") for a in form.answers.get(link, []) if "valueCoding" in a
    }
    chosen_urls = {a.get("valueAttachment", {}).get("url") for a in form.answers.get(link, [])}
    return (
        render_template(
            "questionnaires/step.html",
            form=form,
            index=index,
            page=page,
            item=item,
            summary=summary,
            field_error=field_error,
            file_error=file_error,
            previous=previous,
            position=sum(1 for i in range(index + 1) if form.shown(i)),
            attachable=attachable,
            chosen_codes=chosen,
            chosen_urls=chosen_urls,
            current=given if given is not None else current_value(form, link),
            document_types=[(c, document_type_label(c)) for c in DOCUMENT_TYPES],
        ),
        status,
    )


def current_value(form: Form, link: str) -> Any:
    """What the field of ``link`` shows: the saved answer, as the form writes it."""
    answers = form.answers.get(link, [])
    if not answers:
        return ""
    value = _value(answers[0])
    if "valueDateTime" in answers[0] and "T" in str(value):
        try:
            at = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            return ""
        return at.astimezone(hospital_zone()).strftime("%Y-%m-%dT%H:%M")
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, tuple):
        return value[1]
    return "" if value is None else str(value)


def closed(form: Form) -> Any:
    return redirect(url_for(".view", response_id=form.id))


@blueprint.get("/questionnaires/<response_id>/step/<int:index>")
@signed_in
def step(response_id: str, index: int) -> Any:
    form = Form(response_id)
    if form.closed:
        return closed(form)
    if not 0 <= index < len(form.pages):
        abort(404)
    if not form.shown(index):
        following = form.next_page(index)
        if following is None:
            return redirect(url_for(".review", response_id=form.id))
        return redirect(url_for(".step", response_id=form.id, index=following))
    return step_page(form, index)


def parse(item: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
    """The answers of the posted field of ``item``, or the problem with it."""
    kind = item.get("type")
    name = f"answer-{item['linkId']}"
    if kind == "date":
        raw = [typed_day(request.form, name)]
    elif item.get("repeats"):
        raw = request.form.getlist(name)
    else:
        raw = [request.form.get(name, "")]
    raw = [r.strip() for r in raw if r.strip()]
    if not raw:
        return [], ""
    answers: list[dict[str, Any]] = []
    for value in raw:
        if kind == "boolean":
            if value not in ("yes", "no"):
                return [], _("Choose yes or no.")
            answers.append({"valueBoolean": value == "yes"})
        elif kind == "choice":
            options = [o.get("valueCoding", {}) for o in item.get("answerOption", [])]
            coding = next((o for o in options if o.get("code") == value), None)
            if coding is None:
                return [], _("Choose one of the options.")
            answers.append({"valueCoding": coding})
        elif kind == "integer":
            if not re.fullmatch(r"[+-]?\d{1,30}", value):
                return [], _("Enter a whole number, such as 70.")
            answers.append({"valueInteger": int(value)})
        elif kind == "decimal":
            try:
                number = float(value.replace(",", "."))
            except ValueError:
                return [], _("Enter a number, such as 1.75.")
            answers.append({"valueDecimal": number})
        elif kind == "date":
            try:
                answers.append({"valueDate": dt.date.fromisoformat(value).isoformat()})
            except ValueError:
                return [], _("Enter a real date.")
        elif kind == "dateTime":
            try:
                at = dt.datetime.fromisoformat(value).replace(tzinfo=hospital_zone())
            except ValueError:
                return [], _("Enter a real date.")
            answers.append({"valueDateTime": at.isoformat(timespec="seconds")})
        else:
            answers.append({"valueString": value})
    return answers, ""


def after_save(form: Form, index: int, answer: Any, given: str | None = None) -> Any:
    """Where a saved page goes: the next page, or this one with the gateway's refusal."""
    if answer.status_code == 200:
        form.response = answer.json()
        following = form.next_page(index)
        if following is None:
            return redirect(url_for(".review", response_id=form.id))
        return redirect(url_for(".step", response_id=form.id, index=following))
    if answer.status_code == 422:
        return step_page(form, index, issues_of(answer), 422, given)
    if answer.status_code in (409, 412):
        fresh = Form(form.id)
        if fresh.closed:
            return closed(fresh)
        return step_page(fresh, index, [(None, changed_elsewhere())], 409)
    if answer.status_code == 404:
        abort(404)
    raise GatewayError(answer.status_code, f"{RESOURCE} update")


@blueprint.post("/questionnaires/<response_id>/step/<int:index>")
@signed_in
def save(response_id: str, index: int) -> Any:
    form = Form(response_id)
    if form.closed:
        return closed(form)
    if not 0 <= index < len(form.pages):
        abort(404)
    item = form.pages[index]["item"]
    if item is None or item.get("type") == "attachment":
        following = form.next_page(index)
        if following is None:
            return redirect(url_for(".review", response_id=form.id))
        return redirect(url_for(".step", response_id=form.id, index=following))
    answers, wrong = parse(item)
    name = f"answer-{item['linkId']}"
    given = (
        typed_day(request.form, name) if item.get("type") == "date" else request.form.get(name, "")
    )
    if wrong:
        return step_page(form, index, [(item["linkId"], wrong)], 400, given)
    if not answers and item.get("required"):
        return step_page(form, index, [(item["linkId"], _("Answer this question."))], 400, given)
    form.answers[item["linkId"]] = answers
    return after_save(form, index, form.save("in-progress"), given)


def document_type_system() -> str:
    """The gateway's code system of patient document types, as its CapabilityStatement names
    it (read once per portal process)."""
    cache = current_app.extensions.setdefault("portal_document_types", {})
    if "system" not in cache:
        answer = gateway().fhir(session, "metadata")
        if answer.status_code != 200:
            raise GatewayError(answer.status_code, "metadata")
        found = _TYPE_SYSTEM.search(answer.text)
        if found is None:
            raise GatewayError(502, "metadata without patient document types")
        cache["system"] = found.group(0)
    return str(cache["system"])


def upload_file(item: dict[str, Any]) -> tuple[dict[str, Any] | None, str]:
    """The posted file stored at the gateway as the patient's document: its attachment
    answer, or the problem."""
    file = request.files.get("file")
    if file is None or not file.filename:
        return None, ""
    data = file.read()
    if not data:
        return None, _("The file is empty.")
    kind = request.form.get("document-type", "other")
    if kind not in DOCUMENT_TYPES:
        kind = "other"
    stored = send(
        "POST",
        "Binary",
        data=data,
        content_type="application/octet-stream",
        headers={"X-Security-Context": f"Patient/{active()}"},
    )
    if stored.status_code == 413:
        return None, _("The file is too large, or your space for documents is full.")
    if stored.status_code == 415:
        return None, _(
            "This kind of file is not accepted: send a PDF, a Word or Pages document, an image, "
            "DICOM, NIfTI or a video."
        )
    if stored.status_code != 201:
        raise GatewayError(stored.status_code, "Binary create")
    binary = stored.json()
    title = file.filename.rsplit("/", 1)[-1][:200]
    document = send(
        "POST",
        "DocumentReference",
        json={
            "resourceType": "DocumentReference",
            "status": "current",
            "type": {"coding": [{"system": document_type_system(), "code": kind}]},
            "subject": {"reference": f"Patient/{active()}"},
            "description": title,
            "content": [
                {
                    "attachment": {
                        "url": f"Binary/{binary['id']}",
                        "contentType": binary.get("contentType", "application/octet-stream"),
                        "title": title,
                    }
                }
            ],
        },
        headers={"X-Security-Context": f"Patient/{active()}"},
    )
    if document.status_code != 201:
        raise GatewayError(document.status_code, "DocumentReference create")
    made = document.json()
    return {
        "valueAttachment": {
            "url": f"DocumentReference/{made['id']}",
            "contentType": binary.get("contentType", "application/octet-stream"),
            "title": title,
        }
    }, ""


@blueprint.post("/questionnaires/<response_id>/attach/<int:index>")
@signed_in
def attach(response_id: str, index: int) -> Any:
    """An attachment page: a file sent with it (larger than the portal's other forms, so its
    CSRF token is checked here, once the larger limit is set), earlier documents and studies
    chosen, or "deliver without upload", which submits the questionnaire with nothing attached."""
    request.max_content_length = UPLOAD_LIMIT
    # the token (and over https the Referer) as every other form of the portal: a refusal is
    # the app's CSRFError page
    current_app.extensions["csrf"].protect()
    form = Form(response_id)
    if form.closed:
        return closed(form)
    if not 0 <= index < len(form.pages) or form.pages[index]["item"] is None:
        abort(404)
    item = form.pages[index]["item"]
    if item.get("type") != "attachment":
        abort(404)
    link = item["linkId"]
    if request.form.get("action") == "deliver":
        form.answers[link] = []
        return submitted(form, form.save("completed"))
    allowed = {e["ref"]: e for e in earlier()}
    answers = [
        {"valueAttachment": {"url": ref, "title": str(allowed[ref]["title"])[:200]}}
        for ref in request.form.getlist(f"answer-{link}")
        if ref in allowed
    ]
    # uploads attached before stay attached
    answers += [
        a
        for a in form.answers.get(link, [])
        if str(a.get("valueAttachment", {}).get("url", "")).startswith("DocumentReference/upload")
        and a["valueAttachment"]["url"] not in allowed
    ]
    uploaded, wrong = upload_file(item)
    if wrong:
        return step_page(form, index, [(FILE, wrong)], 400)
    if uploaded is not None:
        answers.append(uploaded)
    if answers and not item.get("repeats"):
        answers = answers[-1:]
    form.answers[link] = answers
    return after_save(form, index, form.save("in-progress"))


@blueprint.get("/questionnaires/<response_id>/review")
@signed_in
def review(response_id: str) -> Any:
    form = Form(response_id)
    if form.closed:
        return closed(form)
    return render_template("questionnaires/review.html", form=form, summary=[])


def submitted(form: Form, answer: Any) -> Any:
    if answer.status_code == 200:
        return redirect(url_for(".view", response_id=form.id, done="submitted"))
    if answer.status_code == 422:
        problems = []
        for link, words in issues_of(answer):
            if link is None:
                problems.append((words, "#main"))
            else:
                target = url_for(".step", response_id=form.id, index=form.page_of(link))
                problems.append((words, f"{target}#{form.anchor(link)}"))
        fresh = Form(form.id)
        return render_template("questionnaires/review.html", form=fresh, summary=problems), 422
    if answer.status_code in (409, 412):
        fresh = Form(form.id)
        if fresh.closed:
            return closed(fresh)
        return (
            render_template(
                "questionnaires/review.html", form=fresh, summary=[(changed_elsewhere(), "#main")]
            ),
            409,
        )
    if answer.status_code == 404:
        abort(404)
    raise GatewayError(answer.status_code, f"{RESOURCE} submit")


@blueprint.post("/questionnaires/<response_id>/submit")
@signed_in
def submit(response_id: str) -> Any:
    form = Form(response_id)
    if form.closed:
        return closed(form)
    return submitted(form, form.save("completed"))


@blueprint.record_once
def _exempt(state: Any) -> None:
    """The attachment page checks its own CSRF token (see ``attach``)."""
    state.app.extensions["csrf"].exempt(attach)
