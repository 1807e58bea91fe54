# ruff: noqa: E501  (the translation table: one message per line reads best)
"""The portal's RO and PL translations, written into the gettext catalogs (.po, then the
compiled .mo files, both committed): ``python -m portal.translations.catalogs`` after
``pybabel extract -F portal/babel.cfg -o portal/translations/messages.pot .``. A string missing
here fails the catalog test."""

from __future__ import annotations

from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

HERE = Path(__file__).resolve().parent

TRANSLATIONS: dict[str, dict[str, str | tuple[str, ...]]] = {
    "ro": {
        "The form expired. Please go back and try again.": "Formularul a expirat. Vă rugăm să reveniți și să încercați din nou.",
        "The hospital's records cannot be reached now. Please try again later.": "Datele spitalului nu pot fi accesate acum. Vă rugăm să încercați mai târziu.",
        "This page does not exist.": "Această pagină nu există.",
        "The sign-in could not be completed. Please sign in again.": "Autentificarea nu a putut fi finalizată. Vă rugăm să vă autentificați din nou.",
        "The sign-in was cancelled.": "Autentificarea a fost anulată.",
        "This person is not in your care.": "Această persoană nu este în grija dumneavoastră.",
        "Skip to main content": "Salt la conținutul principal",
        "Language": "Limba",
        "Active patient": "CNP activ",
        "Switch": "Schimbă",
        "Sign out": "Deconectare",
        "In an emergency call %(number)s.": "În caz de urgență sunați la %(number)s.",
        "Something went wrong": "A apărut o problemă",
        "Back to the home page": "Înapoi la pagina principală",
        "Home": "Acasă",
        "Welcome": "Bine ați venit",
        "Laboratory results": "Rezultate de laborator",
        "See your laboratory results and their PDF bulletins.": "Vedeți rezultatele de laborator și buletinele lor PDF.",
        "%(num)d report": ("%(num)d buletin", "%(num)d buletine", "%(num)d de buletine"),
        "ID": "ID",
        "Date": "Data",
        "Report": "Buletin",
        "PDF": "PDF",
        "Open the PDF of report %(id)s": "Deschideți PDF-ul buletinului %(id)s",
        "There are no laboratory results yet.": "Nu există încă rezultate de laborator.",
        "Patient portal": "Portal medical",
        "See your results, documents and appointments at %(hospital)s.": "Vedeți rezultatele, documentele și programările dumneavoastră la %(hospital)s.",
        "Sign in": "Autentificare",
    },
    "pl": {
        "The form expired. Please go back and try again.": "Formularz wygasł. Wróć i spróbuj ponownie.",
        "The hospital's records cannot be reached now. Please try again later.": "Dane szpitala są teraz niedostępne. Spróbuj ponownie później.",
        "This page does not exist.": "Ta strona nie istnieje.",
        "The sign-in could not be completed. Please sign in again.": "Nie udało się dokończyć logowania. Zaloguj się ponownie.",
        "The sign-in was cancelled.": "Logowanie zostało anulowane.",
        "This person is not in your care.": "Ta osoba nie jest pod Twoją opieką.",
        "Skip to main content": "Przejdź do treści głównej",
        "Language": "Język",
        "Active patient": "Aktywny pacjent",
        "Switch": "Przełącz",
        "Sign out": "Wyloguj",
        "In an emergency call %(number)s.": "W nagłym wypadku dzwoń pod numer %(number)s.",
        "Something went wrong": "Coś poszło nie tak",
        "Back to the home page": "Powrót do strony głównej",
        "Home": "Strona główna",
        "Welcome": "Witamy",
        "Laboratory results": "Wyniki badań laboratoryjnych",
        "See your laboratory results and their PDF bulletins.": "Zobacz wyniki badań laboratoryjnych i ich pliki PDF.",
        "%(num)d report": ("%(num)d wynik", "%(num)d wyniki", "%(num)d wyników"),
        "ID": "ID",
        "Date": "Data",
        "Report": "Badanie",
        "PDF": "PDF",
        "Open the PDF of report %(id)s": "Otwórz PDF wyniku %(id)s",
        "There are no laboratory results yet.": "Nie ma jeszcze wyników badań laboratoryjnych.",
        "Patient portal": "Portal Pacjenta",
        "See your results, documents and appointments at %(hospital)s.": "Zobacz swoje wyniki, dokumenty i wizyty w %(hospital)s.",
        "Sign in": "Zaloguj się",
    },
}


def build() -> None:
    with open(HERE / "messages.pot", "rb") as f:
        template = read_po(f)
    for lang, texts in TRANSLATIONS.items():
        catalog = Catalog(locale=lang, domain="messages", project="portal")
        catalog.update(template)
        for message in catalog:
            if not message.id:
                continue
            key = str(message.id[0] if isinstance(message.id, (tuple, list)) else message.id)
            message.string = texts[key]
            message.flags.discard("fuzzy")
        out = HERE / lang / "LC_MESSAGES"
        out.mkdir(parents=True, exist_ok=True)
        with open(out / "messages.po", "wb") as f:
            write_po(f, catalog, width=100)
        with open(out / "messages.mo", "wb") as f:
            write_mo(f, catalog)


if __name__ == "__main__":
    build()
