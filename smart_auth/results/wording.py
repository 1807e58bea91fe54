# ruff: noqa: E501 (sentences of the catalog stay whole, one per line)
"""The words of the page of results without an account (F9) in English, said in Romanian and
Polish through the gateway's gettext catalogs (``smart_auth.translations``).
The page's frame (site name, skip link, language switch) uses the account pages' own texts."""

from __future__ import annotations

from smart_auth.accounts import i18n
from smart_auth.translations import N_, NP_

LANGUAGES = i18n.LANGUAGES
NAMES = i18n.NAMES

_T: i18n.Words = {
    "title": N_("Your result without an account"),
    "intro": N_(
        "Enter the 6-digit code you received by SMS or email and the patient's national ID number."
    ),
    "code": N_("Result code"),
    "code_hint": N_("6 digits"),
    "national_id": N_("The patient's national ID number"),
    "national_id_hint": N_("CNP or PESEL, digits only"),
    "open": N_("Show the result"),
    "problem": N_("There is a problem"),
    "wrong": N_("The code or the national ID number is not right. Check them and try again."),
    "too_many": NP_(
        "Too many attempts. Try again in {minutes} minute.",
        "Too many attempts. Try again in {minutes} minutes.",
        "minutes",
    ),
    "unavailable": N_("The hospital system is not answering; try again shortly."),
    "result_title": N_("Your result"),
    "report": N_("Report"),
    "date": N_("Date"),
    "status": N_("Status"),
    "conclusion": N_("Conclusion"),
    "final": N_("Final"),
    "pdf": N_("Download the report (PDF)"),
    "no_pdf": N_("This result has no PDF report yet."),
    "valid": NP_(
        "This page stays open for {minutes} minute. On a shared computer, close it when you are done.",
        "This page stays open for {minutes} minutes. On a shared computer, close it when you are done.",
        "minutes",
    ),
    "close": N_("Close the result"),
    "another": N_("Open another result"),
}


def text(key: str, language: str, **values: object) -> str:
    """The text ``key`` in ``language`` (English when the language is not offered)."""
    return i18n.text_over(_T, key, language, **values)


def all_keys() -> list[str]:
    return list(_T)
