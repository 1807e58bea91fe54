"""What a notification says, in English, said in Romanian and Polish through the gateway's
gettext catalogs (``smart_auth.translations``).

Never any health data: not the test, the result, the study, the document's title, the
doctor, the department or the time of an appointment; only that something new is there (or
that an appointment was booked, moved, cancelled or is near) and a link to the portal, where
the patient signs in to see it. A test checks every kind has a text in every language and
that no message carries anything of the record.
"""

from __future__ import annotations

from smart_auth.translations import N_, translate

from . import events as ev

_RESULT = N_("A new result is available in the patient portal.")
_TEXTS: dict[str, str] = {
    ev.LAB_VALIDATED: _RESULT,
    ev.PARACLINICAL_VALIDATED: _RESULT,
    ev.RADIOLOGY_SIGNED: _RESULT,
    ev.IMAGES_AVAILABLE: N_("New images are available in the patient portal."),
    ev.DOCUMENT_NEW: N_("A new document is available in the patient portal."),
    ev.QUESTIONNAIRE_ASSIGNED: N_("A questionnaire is waiting for you in the patient portal."),
    ev.APPOINTMENT_BOOKED: N_(
        "Your appointment was booked. The details are in the patient portal."
    ),
    ev.APPOINTMENT_CHANGED: N_(
        "Your appointment was changed. The details are in the patient portal."
    ),
    ev.APPOINTMENT_CANCELLED: N_(
        "Your appointment was cancelled. The details are in the patient portal."
    ),
    ev.APPOINTMENT_DUE: N_(
        "A reminder: you have an appointment soon. The details are in the patient portal."
    ),
}
_SUBJECT = N_("News in the patient portal")
_FOOTER = N_("This message was sent automatically; please do not reply.")


def subject(language: str) -> str:
    return translate(_SUBJECT, language)


def text(kind: str, language: str, link: str) -> str:
    """The sentence for ``kind`` and the link (SMS: this alone)."""
    return f"{translate(_TEXTS[kind], language)} {link}"


def mail_body(kind: str, language: str, link: str) -> str:
    return f"{text(kind, language, link)}\n\n{translate(_FOOTER, language)}\n"
