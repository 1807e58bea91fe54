# ruff: noqa: E501 (sentences of the catalog stay whole, one per line)
"""The words of the consent page and of the apps page in English, said in Romanian
and Polish through the gateway's gettext catalogs (``smart_auth.translations``), and SMART
scopes in plain words.

The language is chosen as on the account pages (``smart_auth.accounts.i18n.negotiate``: the
``lang`` cookie of the switcher, else Accept-Language, else English); the page's frame (site
name, language switcher) uses the account pages' own texts.
"""

from __future__ import annotations

from access.scopes import ScopeSet
from smart_auth.accounts import i18n
from smart_auth.translations import N_, translate

LANGUAGES = i18n.LANGUAGES
NAMES = i18n.NAMES
negotiate = i18n.negotiate

_T: i18n.Words = {
    "title": N_("Allow {app} to use your health records?"),
    "whose": N_("Whose records?"),
    "patient_n": N_("Patient {id}"),
    "you": N_("(you)"),
    "in_care": N_("(in your care)"),
    "asks_to": N_("{app} asks to:"),
    "allow": N_("Allow"),
    "deny": N_("Deny"),
    "not_offered": N_(
        "{app} also asked for permissions this server cannot honour; they are not offered. Apps may only read and search records, share your record, add images and documents, answer the hospital's questionnaires and book appointments."
    ),
    # the page of the apps a person allowed (the management endpoint)
    "apps_title": N_("Apps you allowed"),
    "apps_none": N_("No app holds access to your records."),
    "apps_revoke": N_("Revoke access"),
    # what a permission letter lets an app do
    "perm_c": N_("create"),
    "perm_r": N_("read"),
    "perm_u": N_("update"),
    "perm_d": N_("delete"),
    "perm_s": N_("search"),
    # whose records, for each scope level: every type, or one type
    "all_patient": N_("all records of the chosen patient"),
    "all_user": N_("all your records and those of the people in your care"),
    "all_system": N_("all shared records"),
    "type_patient": N_("{type} of the chosen patient"),
    "type_user": N_("{type}: yours and those of the people in your care"),
    "type_system": N_("shared {type}"),
    "filtered": N_("(only some of them: {filter})"),
    # launch context, identity and refresh scopes
    "launch": N_("know which patient the portal opened it for"),
    "launch/patient": N_("ask which patient you are acting for"),
    "launch/encounter": N_("know the current visit"),
    "openid": N_("confirm who you are"),
    "fhirUser": N_("know which patient record is yours"),
    "profile": N_("see your name"),
    "offline_access": N_("keep access while you are away, until you revoke it"),
    "online_access": N_("keep access while you use it"),
}

#: each resource type in plain words, as a patient reads it on the consent page (a type not
#: listed is named as FHIR names it)
_TYPES: dict[str, str] = {
    "Appointment": N_("appointments"),
    "Binary": N_("files"),
    "DiagnosticReport": N_("reports and results bulletins"),
    "DocumentReference": N_("documents"),
    "Encounter": N_("visits and admissions"),
    "HealthcareService": N_("the hospital's services"),
    "ImagingStudy": N_("imaging studies"),
    "Location": N_("the hospital's places"),
    "Observation": N_("test values"),
    "Organization": N_("organisations"),
    "Patient": N_("personal details"),
    "Practitioner": N_("doctors"),
    "PractitionerRole": N_("doctors' roles"),
    "Questionnaire": N_("questionnaires"),
    "QuestionnaireResponse": N_("answers to questionnaires"),
    "RelatedPerson": N_("related people"),
    "Schedule": N_("schedules"),
    "Slot": N_("free times"),
    "AuditEvent": N_("the access history"),
    "Consent": N_("shares"),
    "Subscription": N_("subscriptions to notifications"),
}


def type_words(resource_type: str, language: str) -> str:
    """``resource_type`` in plain words in ``language``."""
    if resource_type not in _TYPES:
        return resource_type
    return translate(_TYPES[resource_type], language)


def text(key: str, language: str, **values: object) -> str:
    """The text ``key`` in ``language`` (English when the language is not offered); the
    account pages' frame keeps its own words."""
    return i18n.text_over(_T, key, language, **values)


def all_keys() -> list[str]:
    return list(_T)


def describe(scopes: ScopeSet, language: str) -> list[tuple[str, str]]:
    """Each scope offered, as (its v2 text, what it lets the app do in plain words)."""
    out: list[tuple[str, str]] = []
    for scope in scopes.resources:
        verbs = ", ".join(text(f"perm_{letter}", language) for letter in scope.permissions)
        if scope.resource_type == "*":
            what = text(f"all_{scope.level}", language)
        else:
            what = text(
                f"type_{scope.level}", language, type=type_words(scope.resource_type, language)
            )
        words = f"{verbs}: {what}"
        if scope.filtered:
            words += " " + text("filtered", language, filter=scope.to_string().partition("?")[2])
        out.append((scope.to_string(), words))
    for token in [*sorted(scopes.context), *sorted(scopes.identity), *sorted(scopes.refresh)]:
        out.append((token, text(token, language) if token in _T else token))
    return out
