# ruff: noqa: E501 (sentences of the catalog stay whole, one per line)
"""The words of the consent page and of the apps page in Romanian, Polish and English, and
SMART scopes in plain words.

The language is chosen as on the account pages (``smart_auth.accounts.i18n.negotiate``: the
``lang`` cookie of the switcher, else Accept-Language, else English); the page's frame (site
name, language switcher) uses the account pages' own texts.
"""

from __future__ import annotations

from access.scopes import ScopeSet
from smart_auth.accounts import i18n

LANGUAGES = i18n.LANGUAGES
NAMES = i18n.NAMES
negotiate = i18n.negotiate

_T: dict[str, tuple[str, str, str]] = {
    # key: (ro, pl, en)
    "title": (
        "Permiteți aplicației {app} să vă folosească datele medicale?",
        "Czy zezwolić aplikacji {app} na korzystanie z Twoich danych medycznych?",
        "Allow {app} to use your health records?",
    ),
    "whose": ("Ale cui date?", "Czyje dane?", "Whose records?"),
    "patient_n": ("Pacientul {id}", "Pacjent {id}", "Patient {id}"),
    "you": ("(dvs.)", "(Ty)", "(you)"),
    "in_care": ("(în grija dvs.)", "(pod Twoją opieką)", "(in your care)"),
    "asks_to": ("{app} cere:", "{app} prosi o:", "{app} asks to:"),
    "allow": ("Permite", "Zezwól", "Allow"),
    "deny": ("Refuză", "Odmów", "Deny"),
    "not_offered": (
        "{app} a cerut și permisiuni pe care acest server nu le poate onora; ele nu sunt oferite. Aplicațiile pot doar citi și căuta date, partaja dosarul (Consent), adăuga imagini (ImagingStudy) și documente (DocumentReference, Binary), răspunde la chestionarele spitalului (QuestionnaireResponse) și face programări (Appointment).",
        "{app} prosi też o uprawnienia, których ten serwer nie obsługuje; nie są one oferowane. Aplikacje mogą tylko odczytywać i wyszukiwać dane, udostępniać dokumentację (Consent), dodawać obrazy (ImagingStudy) i dokumenty (DocumentReference, Binary), odpowiadać na ankiety szpitala (QuestionnaireResponse) i umawiać wizyty (Appointment).",
        "{app} also asked for permissions this server cannot honour; they are not offered. Apps may only read and search records, share your record (Consent), add images (ImagingStudy) and documents (DocumentReference, Binary), answer the hospital's questionnaires (QuestionnaireResponse) and book appointments (Appointment).",
    ),
    # the page of the apps a person allowed (the management endpoint)
    "apps_title": ("Aplicațiile permise", "Dozwolone aplikacje", "Apps you allowed"),
    "apps_none": (
        "Nicio aplicație nu are acces la datele dvs.",
        "Żadna aplikacja nie ma dostępu do Twoich danych.",
        "No app holds access to your records.",
    ),
    "apps_revoke": ("Retrage accesul", "Odbierz dostęp", "Revoke access"),
    # what a permission letter lets an app do
    "perm_c": ("adăugare", "dodawanie", "create"),
    "perm_r": ("citire", "odczyt", "read"),
    "perm_u": ("modificare", "zmiana", "update"),
    "perm_d": ("ștergere", "usuwanie", "delete"),
    "perm_s": ("căutare", "wyszukiwanie", "search"),
    # whose records, for each scope level: every type, or one type
    "all_patient": (
        "toate datele pacientului ales",
        "wszystkie dane wybranego pacjenta",
        "all records of the chosen patient",
    ),
    "all_user": (
        "toate datele dvs. și ale persoanelor din grija dvs.",
        "wszystkie Twoje dane i osób pod Twoją opieką",
        "all your records and those of the people in your care",
    ),
    "all_system": ("toate datele partajate", "wszystkie udostępnione dane", "all shared records"),
    "type_patient": (
        "înregistrările {type} ale pacientului ales",
        "zapisy {type} wybranego pacjenta",
        "{type} records of the chosen patient",
    ),
    "type_user": (
        "înregistrările {type} ale dvs. și ale persoanelor din grija dvs.",
        "zapisy {type}: Twoje i osób pod Twoją opieką",
        "{type} records: yours and those of the people in your care",
    ),
    "type_system": (
        "înregistrările {type} partajate",
        "udostępnione zapisy {type}",
        "shared {type} records",
    ),
    "filtered": (
        "(doar o parte: {filter})",
        "(tylko część: {filter})",
        "(only some of them: {filter})",
    ),
    # launch context, identity and refresh scopes
    "launch": (
        "să știe pentru ce pacient a deschis-o portalul",
        "wiedzieć, dla którego pacjenta otworzył ją portal",
        "know which patient the portal opened it for",
    ),
    "launch/patient": (
        "să întrebe pentru ce pacient acționați",
        "zapytać, w imieniu którego pacjenta działasz",
        "ask which patient you are acting for",
    ),
    "launch/encounter": (
        "să cunoască vizita curentă",
        "znać bieżącą wizytę",
        "know the current visit",
    ),
    "openid": ("să vă confirme identitatea", "potwierdzić Twoją tożsamość", "confirm who you are"),
    "fhirUser": (
        "să știe care fișă de pacient este a dvs.",
        "wiedzieć, która karta pacjenta jest Twoja",
        "know which patient record is yours",
    ),
    "profile": ("să vă vadă numele", "widzieć Twoje imię i nazwisko", "see your name"),
    "offline_access": (
        "să păstreze accesul și cât lipsiți, până îl revocați",
        "zachować dostęp również pod Twoją nieobecność, do czasu jego odwołania",
        "keep access while you are away, until you revoke it",
    ),
    "online_access": (
        "să păstreze accesul cât timp o folosiți",
        "zachować dostęp, gdy z niej korzystasz",
        "keep access while you use it",
    ),
}


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
            what = text(f"type_{scope.level}", language, type=scope.resource_type)
        words = f"{verbs}: {what}"
        if scope.filtered:
            words += " " + text("filtered", language, filter=scope.to_string().partition("?")[2])
        out.append((scope.to_string(), words))
    for token in [*sorted(scopes.context), *sorted(scopes.identity), *sorted(scopes.refresh)]:
        out.append((token, text(token, language) if token in _T else token))
    return out
