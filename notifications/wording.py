# ruff: noqa: E501 (sentences stay whole, one per line)
"""The words of the notification preferences page, in English, said in Romanian and
Polish through the gateway's gettext catalogs (``smart_auth.translations``); the frame's words
(site name, skip link, language switch) are the account pages' (``i18n.text_over``)."""

from __future__ import annotations

from smart_auth.accounts import i18n
from smart_auth.translations import N_, P_

from . import events as ev

#: The account home page's link to the preferences page.
TITLE = N_("Notifications")

_T: i18n.Words = {
    "notifications_title": TITLE,
    "notifications_intro": N_(
        "We tell you by email or SMS when something new is there for you in the patient portal. Messages never carry results or other health data, only a link to the portal."
    ),
    "notifications_contacts": N_(
        "Messages go to the email address and mobile number the hospital holds."
    ),
    "notifications_language": N_("Language of the messages"),
    "notifications_table": N_("What to be told of, and how"),
    "notifications_event": N_("What happened"),
    "channel_email": P_("channel", "Email"),
    "channel_sms": N_("SMS"),
    "notifications_saved": N_("The preferences for {name} were saved."),
    "notifications_not_in_care": N_("This person is not in your care."),
    "notifications_bad_choice": N_("The choice could not be saved; please try again."),
    "notifications_save": N_("Save"),
    "kind_" + ev.LAB_VALIDATED: N_("A laboratory result validated"),
    "kind_" + ev.PARACLINICAL_VALIDATED: N_("A paraclinical test validated"),
    "kind_" + ev.RADIOLOGY_SIGNED: N_("A radiology report signed"),
    "kind_" + ev.IMAGES_AVAILABLE: N_("New images available"),
    "kind_" + ev.DOCUMENT_NEW: N_("A new document"),
    "kind_" + ev.QUESTIONNAIRE_ASSIGNED: N_("A questionnaire to fill in"),
    "kind_" + ev.APPOINTMENT_BOOKED: N_("An appointment booked"),
    "kind_" + ev.APPOINTMENT_CHANGED: N_("An appointment changed"),
    "kind_" + ev.APPOINTMENT_CANCELLED: N_("An appointment cancelled"),
    "kind_" + ev.APPOINTMENT_DUE: N_("An appointment soon (reminder)"),
}


def text(key: str, language: str, **values: object) -> str:
    return i18n.text_over(_T, key, language, **values)


def keys() -> list[str]:
    return list(_T)
