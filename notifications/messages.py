"""What a notification says, in Romanian, Polish and English.

Never any health data: not the test, the result, the study, the document's title, the
doctor, the department or the time of an appointment; only that something new is there (or
that an appointment was booked, moved, cancelled or is near) and a link to the portal, where
the patient signs in to see it. A test checks every kind has a text in every language and
that no message carries anything of the record.
"""

from __future__ import annotations

from smart_auth.accounts.i18n import LANGUAGES

from . import events as ev

_RESULT = (
    "Un rezultat nou este disponibil în portalul pacientului.",
    "W portalu pacjenta dostępny jest nowy wynik.",
    "A new result is available in the patient portal.",
)
_TEXTS: dict[str, tuple[str, str, str]] = {
    ev.LAB_VALIDATED: _RESULT,
    ev.PARACLINICAL_VALIDATED: _RESULT,
    ev.RADIOLOGY_SIGNED: _RESULT,
    ev.IMAGES_AVAILABLE: (
        "Imagini noi sunt disponibile în portalul pacientului.",
        "W portalu pacjenta dostępne są nowe obrazy.",
        "New images are available in the patient portal.",
    ),
    ev.DOCUMENT_NEW: (
        "Un document nou este disponibil în portalul pacientului.",
        "W portalu pacjenta dostępny jest nowy dokument.",
        "A new document is available in the patient portal.",
    ),
    ev.QUESTIONNAIRE_ASSIGNED: (
        "Aveți un chestionar de completat în portalul pacientului.",
        "W portalu pacjenta czeka na Ciebie ankieta do wypełnienia.",
        "A questionnaire is waiting for you in the patient portal.",
    ),
    ev.APPOINTMENT_BOOKED: (
        "Programarea dumneavoastră a fost înregistrată. Detaliile sunt în portalul pacientului.",
        "Twoja wizyta została zarezerwowana. Szczegóły znajdziesz w portalu pacjenta.",
        "Your appointment was booked. The details are in the patient portal.",
    ),
    ev.APPOINTMENT_CHANGED: (
        "Programarea dumneavoastră a fost modificată. Detaliile sunt în portalul pacientului.",
        "Twoja wizyta została zmieniona. Szczegóły znajdziesz w portalu pacjenta.",
        "Your appointment was changed. The details are in the patient portal.",
    ),
    ev.APPOINTMENT_CANCELLED: (
        "Programarea dumneavoastră a fost anulată. Detaliile sunt în portalul pacientului.",
        "Twoja wizyta została odwołana. Szczegóły znajdziesz w portalu pacjenta.",
        "Your appointment was cancelled. The details are in the patient portal.",
    ),
    ev.APPOINTMENT_DUE: (
        "Vă reamintim că aveți o programare în curând. Detaliile sunt în portalul pacientului.",
        "Przypominamy o zbliżającej się wizycie. Szczegóły znajdziesz w portalu pacjenta.",
        "A reminder: you have an appointment soon. The details are in the patient portal.",
    ),
}
_SUBJECT = (
    "Noutăți în portalul pacientului",
    "Nowości w portalu pacjenta",
    "News in the patient portal",
)
_FOOTER = (
    "Acest mesaj a fost trimis automat; nu răspundeți la el.",
    "Ta wiadomość została wysłana automatycznie; prosimy na nią nie odpowiadać.",
    "This message was sent automatically; please do not reply.",
)


def _pick(texts: tuple[str, str, str], language: str) -> str:
    return texts[LANGUAGES.index(language) if language in LANGUAGES else 2]


def subject(language: str) -> str:
    return _pick(_SUBJECT, language)


def text(kind: str, language: str, link: str) -> str:
    """The sentence for ``kind`` and the link (SMS: this alone)."""
    return f"{_pick(_TEXTS[kind], language)} {link}"


def mail_body(kind: str, language: str, link: str) -> str:
    return f"{text(kind, language, link)}\n\n{_pick(_FOOTER, language)}\n"
