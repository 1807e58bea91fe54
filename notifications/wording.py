# ruff: noqa: E501 (sentences stay whole, one per line)
"""The words of the notification preferences page, in Romanian, Polish and English; the frame's
(site name, skip link, language switch) are the account pages' (``i18n.text_over``)."""

from __future__ import annotations

from smart_auth.accounts import i18n

from . import events as ev

_T: dict[str, tuple[str, str, str]] = {
    "notifications_title": ("Notificări", "Powiadomienia", "Notifications"),
    "notifications_intro": (
        "Vă anunțăm prin email sau SMS când apare ceva nou pentru dumneavoastră în portalul pacientului. Mesajele nu conțin niciodată rezultate sau alte date medicale, doar un link către portal.",
        "Powiadamiamy e-mailem lub SMS-em, gdy w portalu pacjenta pojawi się coś nowego. Wiadomości nigdy nie zawierają wyników ani innych danych medycznych, tylko link do portalu.",
        "We tell you by email or SMS when something new is there for you in the patient portal. Messages never carry results or other health data, only a link to the portal.",
    ),
    "notifications_contacts": (
        "Mesajele merg la adresa de email și la numărul de mobil pe care le are spitalul.",
        "Wiadomości trafiają na adres e-mail i numer telefonu komórkowego, które ma szpital.",
        "Messages go to the email address and mobile number the hospital holds.",
    ),
    "notifications_language": ("Limba mesajelor", "Język wiadomości", "Language of the messages"),
    "notifications_table": (
        "Ce vreți să aflați și pe ce cale",
        "O czym i jaką drogą chcesz być powiadamiany",
        "What to be told of, and how",
    ),
    "notifications_event": ("Ce s-a întâmplat", "Zdarzenie", "What happened"),
    "channel_email": ("Email", "E-mail", "Email"),
    "channel_sms": ("SMS", "SMS", "SMS"),
    "notifications_saved": (
        "Preferințele pentru {name} au fost salvate.",
        "Preferencje dla: {name} zostały zapisane.",
        "The preferences for {name} were saved.",
    ),
    "notifications_not_in_care": (
        "Această persoană nu este în grija dumneavoastră.",
        "Ta osoba nie jest pod Twoją opieką.",
        "This person is not in your care.",
    ),
    "notifications_bad_choice": (
        "Alegerea nu a putut fi salvată; încercați din nou.",
        "Nie udało się zapisać wyboru; spróbuj ponownie.",
        "The choice could not be saved; please try again.",
    ),
    "notifications_save": ("Salvează", "Zapisz", "Save"),
    "kind_" + ev.LAB_VALIDATED: (
        "Un buletin de laborator validat",
        "Zatwierdzony wynik laboratoryjny",
        "A laboratory result validated",
    ),
    "kind_" + ev.PARACLINICAL_VALIDATED: (
        "O investigație paraclinică validată",
        "Zatwierdzone badanie dodatkowe",
        "A paraclinical test validated",
    ),
    "kind_" + ev.RADIOLOGY_SIGNED: (
        "Un raport de radiologie semnat",
        "Podpisany opis badania radiologicznego",
        "A radiology report signed",
    ),
    "kind_" + ev.IMAGES_AVAILABLE: (
        "Imagini noi disponibile",
        "Nowe obrazy dostępne",
        "New images available",
    ),
    "kind_" + ev.DOCUMENT_NEW: ("Un document nou", "Nowy dokument", "A new document"),
    "kind_" + ev.QUESTIONNAIRE_ASSIGNED: (
        "Un chestionar de completat",
        "Ankieta do wypełnienia",
        "A questionnaire to fill in",
    ),
    "kind_" + ev.APPOINTMENT_BOOKED: (
        "O programare înregistrată",
        "Zarezerwowana wizyta",
        "An appointment booked",
    ),
    "kind_" + ev.APPOINTMENT_CHANGED: (
        "O programare modificată",
        "Zmieniona wizyta",
        "An appointment changed",
    ),
    "kind_" + ev.APPOINTMENT_CANCELLED: (
        "O programare anulată",
        "Odwołana wizyta",
        "An appointment cancelled",
    ),
    "kind_" + ev.APPOINTMENT_DUE: (
        "O programare în curând (memento)",
        "Zbliżająca się wizyta (przypomnienie)",
        "An appointment soon (reminder)",
    ),
}

#: The account home page's link to the preferences page.
TITLE = _T["notifications_title"]


def text(key: str, language: str, **values: object) -> str:
    return i18n.text_over(_T, key, language, **values)


def keys() -> list[str]:
    return list(_T)
