# ruff: noqa: E501 (sentences of the catalog stay whole, one per line)
"""The words of a share with a person outside (F21): the recipient's page and the mails and
SMS of a share, in English, said in Romanian and Polish through the gateway's gettext catalogs
(``smart_auth.translations``).

Mails carry no health data: not the patient's name, not what was shared, not the comment (the
recipient reads it on the page, after the PIN). The page's frame (site name, language switch)
uses the account pages' own texts.
"""

from __future__ import annotations

from smart_auth import translations
from smart_auth.accounts import i18n
from smart_auth.translations import N_, NP_

LANGUAGES = i18n.LANGUAGES
NAMES = i18n.NAMES

_T: i18n.Words = {
    "title": N_("Shared health records"),
    "pin_intro": N_(
        "A patient shared health records with you. Enter the 6-digit PIN you received separately."
    ),
    "pin": N_("PIN"),
    "pin_hint": N_("6 digits"),
    "problem": N_("There is a problem"),
    "what": N_("What"),
    "date": N_("Date"),
    "files": N_("Files"),
    "open": N_("Open"),
    "wrong_pin": NP_(
        "The PIN is not right. {left} attempt left.",
        "The PIN is not right. {left} attempts left.",
        "left",
    ),
    "try_later": NP_(
        "Try again in {seconds} second.", "Try again in {seconds} seconds.", "seconds"
    ),
    "locked_title": N_("Share locked"),
    "locked": N_(
        "This share was locked after too many wrong PINs. The patient has been told; ask them for a new share."
    ),
    "closed_title": N_("Link not valid"),
    "closed": N_("This link is no longer valid: it has expired or the patient withdrew the share."),
    "until": N_("Available until {end} (UTC)."),
    "comment": N_("The patient's message"),
    "documents": N_("Documents and reports"),
    "studies": N_("Imaging studies"),
    "none": N_("Nothing to show."),
    "download": N_("Download"),
    "view": N_("Open in the viewer"),
    "export": N_("Download the study (ZIP)"),
    "document": N_("Document"),
    "study": N_("Study"),
    "unavailable": N_("The hospital system is not answering; try again shortly."),
    # the recipient's mails and SMS: no health data
    "mail_link_subject": N_("Health records shared with you"),
    "mail_link_body": N_(
        "Hello,\n\nA patient of the hospital shared health records with you. Open this link:\n{link}\n\nYou will need the 6-digit PIN, sent in a separate message. The link is valid until {end} (UTC).\n\nIf you were not expecting this message, ignore it."
    ),
    "mail_pin_subject": N_("PIN for the shared records"),
    "mail_pin_body": N_(
        "The PIN for the health records shared with you is {pin}. The link came in a separate message."
    ),
    "sms_pin": N_("PIN for the shared records: {pin}"),
    # the patient's mail when a share locks
    "mail_locked_subject": N_("A share was locked"),
    "mail_locked_body": N_(
        "Hello,\n\nYour share {share} with {email} was locked after too many wrong PINs. Nobody can open it any more. If it was the recipient, make a new share; if not, there is nothing to do."
    ),
}


#: the English names the mapping gives kinds of documents and reports (``mappers.codes``), which
#: title what a share lists when the hospital gave no description of its own
_KINDS = {
    "Laboratory report": N_("Laboratory report"),
    "Discharge letter": N_("Discharge letter"),
    "Functional test report": N_("Functional test report"),
    "Imaging report": N_("Imaging report"),
    "Prescription": N_("Prescription"),
    "Medical certificate": N_("Medical certificate"),
    "Referral": N_("Referral"),
    "Other document": N_("Other document"),
    "Electrocardiogram": N_("Electrocardiogram"),
    "Holter monitoring": N_("Holter monitoring"),
    "Electroencephalogram": N_("Electroencephalogram"),
    "Electromyography": N_("Electromyography"),
    "Spirometry": N_("Spirometry"),
    "Audiometry": N_("Audiometry"),
    "Echocardiography": N_("Echocardiography"),
}


def kind(name: str, language: str) -> str:
    """A kind's English name (``Laboratory report``) in ``language``; any other title, such as
    the hospital's own description of a document, as it is."""
    message = _KINDS.get(name)
    return name if message is None else translations.translate(message, language)


def text(key: str, language: str, **values: object) -> str:
    """The text ``key`` in ``language`` (English when the language is not offered); the
    account pages' frame keeps its own words."""
    return i18n.text_over(_T, key, language, **values)


def day(value: str, language: str) -> str:
    """A date (``YYYY-MM-DD...``) as each language writes it (Babel's ``format_date``):
    21.04.2026 in Romanian and Polish, 21/04/2026 in English, as the portal writes them."""
    return translations.day(value, language)


def all_keys() -> list[str]:
    return list(_T)
