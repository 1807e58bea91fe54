"""The patient's own notification preferences (F22), ``/account/notifications``.

For the person signed in to the account pages: one form per person in the account's care (their
own record and the minors they act for, ``smart_auth.accounts.identities``), each with the
language of the messages and, per event kind, the channels (email, SMS) wanted. The page keeps
the account pages' frame, language, input and CSRF checks and headers
(``smart_auth.accounts.routes.guard``); a save is audited (who, for which patient) and is what
the worker reads when it next records an event for that patient (``store.Store.record``).
Without a session the page asks to sign in; a bearer token is no session.
"""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    g,
    make_response,
    redirect,
    render_template,
    request,
)
from werkzeug.wrappers import Response as BaseResponse

from access import audit
from access.policy import Grant
from smart_auth import session as signed
from smart_auth.accounts import i18n, identities
from smart_auth.accounts.routes import add_home_link, csrf_token, guard
from smart_auth.state import shared_engine

from . import wording
from .events import KINDS
from .store import CHANNELS, Preferences, Store, default_preferences

pages = Blueprint(
    "notification_pages", __name__, url_prefix="/account", template_folder="templates"
)
guard(pages)

#: The audit trail's name of what the page changes (no FHIR resource holds it).
AUDITED_TYPE = "NotificationPreferences"


def _store() -> Store:
    store: Store = current_app.extensions["notification_store"]
    return store


def _page(status: int = 200, **context: Any) -> Response:
    lang = g.lang
    body = render_template(
        "notifications/preferences.html",
        t=lambda key, **values: wording.text(key, lang, **values),
        lang=lang,
        languages=i18n.LANGUAGES,
        language_names=i18n.NAMES,
        kinds=KINDS,
        channels=CHANNELS,
        csrf=csrf_token(),
        here=request.full_path.rstrip("?"),
        **context,
    )
    return make_response(body, status)


def _people(account_id: int) -> list[dict[str, Any]]:
    store = _store()
    out = []
    for person in identities.list_identities(g.accounts, account_id):
        out.append(
            {
                "patient": person.his_patient_id,
                "name": person.name,
                "relation": person.relation,
                "prefs": store.preferences(person.his_patient_id),
            }
        )
    return out


@pages.route("/notifications", methods=["GET", "POST"])
def preferences() -> BaseResponse:
    me = signed.current_account_id()
    if me is None:
        return redirect(signed.login_url(request.path))
    people = _people(me)
    if request.method == "GET":
        return _page(people=people)
    grant = Grant(subject=f"account:{me}", patients=frozenset(p["patient"] for p in people))
    chosen = _chosen(request.form)
    person = next((p for p in people if str(p["patient"]) == request.form.get("patient")), None)
    if person is None:
        # another patient's id answers as a missing one would
        audit.record(grant, "update", AUDITED_TYPE, outcome="not-found", patients=())
        return _page(404, people=people, error=wording.text("notifications_not_in_care", g.lang))
    patient = int(person["patient"])
    if chosen is None:
        audit.record(grant, "update", AUDITED_TYPE, outcome="denied", patients=[patient])
        return _page(400, people=people, error=wording.text("notifications_bad_choice", g.lang))
    _store().set_preferences(patient, chosen)
    # the patient is the record's entity; the preferences are no FHIR resource to name
    audit.record(grant, "update", AUDITED_TYPE, outcome="allowed", patients=[patient])
    person["prefs"] = chosen
    return _page(
        people=people,
        saved=patient,
        note=wording.text("notifications_saved", g.lang, name=person["name"]),
    )


def _chosen(form: Any) -> Preferences | None:
    """The preferences a form states, or None if it names a language or kind that is not."""
    language = form.get("language", "")
    wanted = {channel: set(form.getlist(channel)) for channel in CHANNELS}
    if language not in i18n.LANGUAGES or any(not kinds <= set(KINDS) for kinds in wanted.values()):
        return None
    return Preferences(language, frozenset(wanted["email"]), frozenset(wanted["sms"]))


def init_app(app: Flask, settings: Any) -> Store:
    """The preferences page and its store over the state database; a link on the account's
    home page. After ``smart_auth.accounts.init_app`` (the session and the accounts)."""
    store = Store(shared_engine(app.extensions, settings.state_url), default_preferences(settings))
    app.extensions["notification_store"] = store
    app.register_blueprint(pages)
    add_home_link(app, "notification_pages.preferences", wording.TITLE)
    return store


__all__ = ["init_app", "pages"]
