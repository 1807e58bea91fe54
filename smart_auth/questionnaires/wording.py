# ruff: noqa: E501 (sentences stay whole, one per line)
"""The assignment mail in Romanian, Polish and English.

It says only that the hospital asks for a questionnaire and where to open it: no title, no
question, no department (a questionnaire's name can tell a condition), no name of the patient.
"""

from __future__ import annotations

from smart_auth.accounts.i18n import pick

SUBJECT = (
    "Spitalul vă roagă să completați un chestionar",
    "Szpital prosi o wypełnienie ankiety",
    "The hospital asks you to fill in a questionnaire",
)
BODY = (
    "Bună ziua,\n\nSpitalul v-a trimis un chestionar de completat înaintea vizitei sau a tratamentului. Îl găsiți, după autentificare, la adresa:\n\n{link}\n\nPuteți salva răspunsurile și reveni mai târziu; după trimitere chestionarul nu mai poate fi modificat.\n\nAcest mesaj a fost trimis automat; nu răspundeți la el.",
    "Dzień dobry,\n\nSzpital przesłał ankietę do wypełnienia przed wizytą lub leczeniem. Po zalogowaniu znajdzie ją Pan(i) pod adresem:\n\n{link}\n\nOdpowiedzi można zapisać i wrócić do nich później; po wysłaniu ankiety nie można już zmienić.\n\nWiadomość wysłana automatycznie; prosimy na nią nie odpowiadać.",
    "Hello,\n\nThe hospital has sent you a questionnaire to fill in before your visit or treatment. After signing in, you will find it at:\n\n{link}\n\nYou can save your answers and come back later; once submitted, the questionnaire can no longer be changed.\n\nThis message was sent automatically; please do not reply to it.",
)


def subject(language: str) -> str:
    return pick(SUBJECT, language)


def body(language: str, link: str) -> str:
    return pick(BODY, language, link=link)
