# ruff: noqa: E501 (sentences of the catalog stay whole, one per line)
"""The words of a share with a person outside (F21) in Romanian, Polish and English: the
recipient's page and the mails and SMS of a share.

Mails carry no health data: not the patient's name, not what was shared, not the comment (the
recipient reads it on the page, after the PIN). The page's frame (site name, language switch)
uses the account pages' own texts.
"""

from __future__ import annotations

from smart_auth.accounts import i18n

LANGUAGES = i18n.LANGUAGES
NAMES = i18n.NAMES

_T: dict[str, tuple[str, str, str]] = {
    # key: (ro, pl, en)
    "title": ("Date medicale partajate", "Udostępnione dane medyczne", "Shared health records"),
    "pin_intro": (
        "Un pacient a partajat cu dumneavoastră date medicale. Introduceți PIN-ul de 6 cifre primit separat.",
        "Pacjent udostępnił Ci dane medyczne. Wpisz 6-cyfrowy PIN otrzymany w osobnej wiadomości.",
        "A patient shared health records with you. Enter the 6-digit PIN you received separately.",
    ),
    "pin": ("PIN", "PIN", "PIN"),
    "pin_hint": ("6 cifre", "6 cyfr", "6 digits"),
    "problem": ("Există o problemă", "Wystąpił problem", "There is a problem"),
    "what": ("Ce", "Co", "What"),
    "date": ("Data", "Data", "Date"),
    "files": ("Fișiere", "Pliki", "Files"),
    "open": ("Deschide", "Otwórz", "Open"),
    "wrong_pin": (
        "PIN-ul nu este corect. Mai aveți {left} încercări.",
        "PIN jest nieprawidłowy. Pozostało prób: {left}.",
        "The PIN is not right. {left} attempts left.",
    ),
    "try_later": (
        "Încercați din nou peste {seconds} secunde.",
        "Spróbuj ponownie za {seconds} sekund.",
        "Try again in {seconds} seconds.",
    ),
    "locked_title": ("Partajare blocată", "Udostępnienie zablokowane", "Share locked"),
    "locked": (
        "Această partajare a fost blocată după prea multe PIN-uri greșite. Pacientul a fost anunțat; cereți-i o partajare nouă.",
        "To udostępnienie zostało zablokowane po zbyt wielu błędnych PIN-ach. Pacjent został powiadomiony; poproś go o nowe udostępnienie.",
        "This share was locked after too many wrong PINs. The patient has been told; ask them for a new share.",
    ),
    "closed_title": ("Link nevalabil", "Link nieważny", "Link not valid"),
    "closed": (
        "Acest link nu mai este valabil: a expirat sau pacientul a retras partajarea.",
        "Ten link jest już nieważny: wygasł lub pacjent wycofał udostępnienie.",
        "This link is no longer valid: it has expired or the patient withdrew the share.",
    ),
    "until": (
        "Disponibil până la {end} (UTC).",
        "Dostępne do {end} (UTC).",
        "Available until {end} (UTC).",
    ),
    "comment": ("Mesajul pacientului", "Wiadomość od pacjenta", "The patient's message"),
    "documents": ("Documente și rezultate", "Dokumenty i wyniki", "Documents and reports"),
    "studies": ("Investigații imagistice", "Badania obrazowe", "Imaging studies"),
    "none": ("Nimic de afișat.", "Brak danych do wyświetlenia.", "Nothing to show."),
    "download": ("Descarcă", "Pobierz", "Download"),
    "view": ("Vezi în vizualizator", "Otwórz w przeglądarce obrazów", "Open in the viewer"),
    "export": ("Descarcă investigația (ZIP)", "Pobierz badanie (ZIP)", "Download the study (ZIP)"),
    "document": ("Document", "Dokument", "Document"),
    "study": ("Investigație", "Badanie", "Study"),
    "unavailable": (
        "Sistemul spitalului nu răspunde acum; încercați din nou puțin mai târziu.",
        "System szpitala teraz nie odpowiada; spróbuj ponownie za chwilę.",
        "The hospital system is not answering; try again shortly.",
    ),
    # the recipient's mails and SMS: no health data
    "mail_link_subject": (
        "Date medicale partajate cu dumneavoastră",
        "Udostępniono Ci dane medyczne",
        "Health records shared with you",
    ),
    "mail_link_body": (
        "Bună ziua,\n\nUn pacient al spitalului a partajat cu dumneavoastră date medicale. Deschideți acest link:\n{link}\n\nVeți avea nevoie de PIN-ul de 6 cifre, trimis într-un mesaj separat. Linkul este valabil până la {end} (UTC).\n\nDacă nu așteptați acest mesaj, ignorați-l.",
        "Dzień dobry,\n\nPacjent szpitala udostępnił Ci dane medyczne. Otwórz ten link:\n{link}\n\nBędzie potrzebny 6-cyfrowy PIN, wysłany w osobnej wiadomości. Link jest ważny do {end} (UTC).\n\nJeśli nie spodziewasz się tej wiadomości, zignoruj ją.",
        "Hello,\n\nA patient of the hospital shared health records with you. Open this link:\n{link}\n\nYou will need the 6-digit PIN, sent in a separate message. The link is valid until {end} (UTC).\n\nIf you were not expecting this message, ignore it.",
    ),
    "mail_pin_subject": (
        "PIN-ul pentru datele partajate",
        "PIN do udostępnionych danych",
        "PIN for the shared records",
    ),
    "mail_pin_body": (
        "PIN-ul pentru datele medicale partajate cu dumneavoastră este {pin}. Linkul l-ați primit într-un mesaj separat.",
        "PIN do udostępnionych Ci danych medycznych to {pin}. Link otrzymałeś w osobnej wiadomości.",
        "The PIN for the health records shared with you is {pin}. The link came in a separate message.",
    ),
    "sms_pin": (
        "PIN pentru datele partajate: {pin}",
        "PIN do udostępnionych danych: {pin}",
        "PIN for the shared records: {pin}",
    ),
    # the patient's mail when a share locks
    "mail_locked_subject": (
        "O partajare a fost blocată",
        "Udostępnienie zostało zablokowane",
        "A share was locked",
    ),
    "mail_locked_body": (
        "Bună ziua,\n\nPartajarea dumneavoastră {share} către {email} a fost blocată după prea multe PIN-uri greșite. Nimeni nu o mai poate deschide. Dacă a fost destinatarul, faceți o partajare nouă; dacă nu, nu trebuie să faceți nimic.",
        "Dzień dobry,\n\nTwoje udostępnienie {share} dla {email} zostało zablokowane po zbyt wielu błędnych PIN-ach. Nikt już go nie otworzy. Jeśli był to odbiorca, utwórz nowe udostępnienie; jeśli nie, nic nie musisz robić.",
        "Hello,\n\nYour share {share} with {email} was locked after too many wrong PINs. Nobody can open it any more. If it was the recipient, make a new share; if not, there is nothing to do.",
    ),
}


def text(key: str, language: str, **values: object) -> str:
    """The text ``key`` in ``language`` (English when the language is not offered); the
    account pages' frame keeps its own words."""
    return i18n.text_over(_T, key, language, **values)


def day(value: str, language: str) -> str:
    """A date (``YYYY-MM-DD...``) as each language writes it: 21.04.2026 in Romanian and
    Polish, 21/04/2026 in English, as the portal writes them."""
    text_value = str(value or "")
    if len(text_value) < 10 or text_value[4] != "-" or text_value[7] != "-":
        return text_value
    year, month, date = text_value[:4], text_value[5:7], text_value[8:10]
    sep = "/" if language not in ("ro", "pl") else "."
    return f"{date}{sep}{month}{sep}{year}"


def all_keys() -> list[str]:
    return list(_T)
