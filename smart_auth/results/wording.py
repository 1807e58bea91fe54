# ruff: noqa: E501 (sentences of the catalog stay whole, one per line)
"""The words of the page of results without an account (F9) in Romanian, Polish and English.
The page's frame (site name, skip link, language switch) uses the account pages' own texts."""

from __future__ import annotations

from smart_auth.accounts import i18n

LANGUAGES = i18n.LANGUAGES
NAMES = i18n.NAMES

_T: dict[str, tuple[str, str, str]] = {
    # key: (ro, pl, en)
    "title": ("Rezultat fără cont", "Wynik bez konta", "Your result without an account"),
    "intro": (
        "Introduceți codul de 6 cifre primit prin SMS sau e-mail și codul numeric personal al pacientului.",
        "Wpisz 6-cyfrowy kod otrzymany SMS-em lub e-mailem oraz numer PESEL pacjenta.",
        "Enter the 6-digit code you received by SMS or email and the patient's national ID number.",
    ),
    "code": ("Codul rezultatului", "Kod wyniku", "Result code"),
    "code_hint": ("6 cifre", "6 cyfr", "6 digits"),
    "national_id": ("CNP-ul pacientului", "PESEL pacjenta", "The patient's national ID number"),
    "national_id_hint": (
        "Codul numeric personal (CNP), doar cifre",
        "Numer PESEL, same cyfry",
        "CNP or PESEL, digits only",
    ),
    "open": ("Vezi rezultatul", "Pokaż wynik", "Show the result"),
    "problem": ("Există o problemă", "Wystąpił problem", "There is a problem"),
    "wrong": (
        "Codul sau CNP-ul nu este corect. Verificați-le și încercați din nou.",
        "Kod lub PESEL jest nieprawidłowy. Sprawdź je i spróbuj ponownie.",
        "The code or the national ID number is not right. Check them and try again.",
    ),
    "too_many": (
        "Prea multe încercări. Încercați din nou peste {minutes} minute.",
        "Zbyt wiele prób. Spróbuj ponownie za {minutes} min.",
        "Too many attempts. Try again in {minutes} minutes.",
    ),
    "unavailable": (
        "Sistemul spitalului nu răspunde acum; încercați din nou puțin mai târziu.",
        "System szpitala teraz nie odpowiada; spróbuj ponownie za chwilę.",
        "The hospital system is not answering; try again shortly.",
    ),
    "result_title": ("Rezultatul dumneavoastră", "Twój wynik", "Your result"),
    "report": ("Buletin", "Badanie", "Report"),
    "date": ("Data", "Data", "Date"),
    "status": ("Stare", "Status", "Status"),
    "conclusion": ("Concluzie", "Wniosek", "Conclusion"),
    "final": ("Validat", "Zatwierdzony", "Final"),
    "pdf": ("Descarcă buletinul (PDF)", "Pobierz wynik (PDF)", "Download the report (PDF)"),
    "no_pdf": (
        "Acest rezultat nu are încă un buletin PDF.",
        "Ten wynik nie ma jeszcze pliku PDF.",
        "This result has no PDF report yet.",
    ),
    "valid": (
        "Pagina rămâne deschisă {minutes} minute. Pe un calculator comun, închideți-o când ați terminat.",
        "Strona pozostaje otwarta przez {minutes} min. Na wspólnym komputerze zamknij ją po zakończeniu.",
        "This page stays open for {minutes} minutes. On a shared computer, close it when you are done.",
    ),
    "close": ("Închide rezultatul", "Zamknij wynik", "Close the result"),
    "another": ("Alt rezultat", "Inny wynik", "Open another result"),
}


def text(key: str, language: str, **values: object) -> str:
    """The text ``key`` in ``language`` (English when the language is not offered)."""
    return i18n.text_over(_T, key, language, **values)


def all_keys() -> list[str]:
    return list(_T)
