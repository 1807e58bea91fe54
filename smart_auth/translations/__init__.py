"""The gateway's own words (account pages, consent page, result and share pages, their mails
and SMS, the notification mails and SMS) in Romanian and Polish: gettext catalogs of the
domain ``gateway`` (``<lang>/LC_MESSAGES/gateway.po`` and the compiled ``.mo``, both
committed), English being the message ids.

The code marks its words where it writes them, without translating them yet: ``N_("Save")``,
``P_("button", "Sign in")`` (a context, where one English word needs two translations) and
``NP_("{n} year", "{n} years", "n")`` (a plural, chosen by the value named ``n`` with the
Plural-Forms of each language: Romanian 3 forms, Polish 3). ``translate`` then says a marked
word in a language, through Babel's ``support.Translations``, loaded once per language.
``python -m smart_auth.translations.catalogs`` extracts the marked words afresh and brings the
catalogs up to date; a test fails on any word without its RO or PL translation.

Dates and numbers are written as each language writes them (Babel's CLDR data): 21.04.2026 in
Romanian and Polish, 21/04/2026 in English (en_GB, as the portal writes them)."""

from __future__ import annotations

import datetime as dt
from functools import cache
from gettext import NullTranslations
from pathlib import Path
from typing import NamedTuple

from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal
from babel.support import Translations

DOMAIN = "gateway"
HERE = Path(__file__).resolve().parent
#: the languages of the gateway's pages, mails and SMS (English: the message ids themselves)
LANGUAGES = ("ro", "pl", "en")
TRANSLATED = ("ro", "pl")
#: the CLDR locale and the date pattern of each language, as the portal writes dates
LOCALES = {"ro": "ro_RO", "pl": "pl_PL", "en": "en_GB"}
DAY = {"ro": "dd.MM.yyyy", "pl": "dd.MM.yyyy", "en": "dd/MM/yyyy"}


class Context(NamedTuple):
    """A word with a context: the same English word translated apart (``pgettext``)."""

    context: str
    message: str


class Plural(NamedTuple):
    """A word in the plural forms of each language, chosen by the value named ``by``."""

    singular: str
    plural: str
    by: str


Message = str | Context | Plural


def N_(message: str) -> str:
    """Marks ``message`` for the catalogs (it is translated where it is written out)."""
    return message


def P_(context: str, message: str) -> Context:
    return Context(context, message)


def NP_(singular: str, plural: str, by: str) -> Plural:
    return Plural(singular, plural, by)


@cache
def catalog(language: str) -> NullTranslations:
    """The compiled catalog of ``language``, loaded once (English: the ids unchanged)."""
    if language not in TRANSLATED:
        return NullTranslations()
    return Translations.load(str(HERE), [language], DOMAIN)


def translate(message: Message, language: str, **values: object) -> str:
    """``message`` in ``language`` (English for a language not offered), with ``values``
    filled in; a plural's count is written as the language writes numbers. Without the count,
    the plural's general form is given unfilled."""
    words = catalog(language)
    if isinstance(message, Context):
        chosen = words.pgettext(message.context, message.message)
    elif isinstance(message, Plural):
        count = values.get(message.by)
        if not isinstance(count, int):
            return words.ngettext(message.singular, message.plural, 5)
        chosen = words.ngettext(message.singular, message.plural, count)
        values = {**values, message.by: number(count, language)}
    else:
        chosen = words.gettext(message)
    return chosen.format(**values) if values else chosen


def number(value: float, language: str) -> str:
    """A number as ``language`` writes it (1.234,5 in Romanian, 1 234,5 in Polish)."""
    return format_decimal(value, locale=LOCALES.get(language, "en_GB"))


def day(value: dt.date | dt.datetime | str | None, language: str) -> str:
    """A date (a ``date``, or text starting ``YYYY-MM-DD``) as ``language`` writes it; text
    that is no date comes back unchanged."""
    if isinstance(value, str) or value is None:
        text = value or ""
        try:
            value = dt.date.fromisoformat(text[:10])
        except ValueError:
            return text
    if isinstance(value, dt.datetime):
        value = value.date()
    return format_date(value, DAY.get(language, DAY["en"]), locale=LOCALES.get(language, "en_GB"))


def moment(value: dt.datetime, language: str) -> str:
    """A date and time to the minute as ``language`` writes them (21.04.2026 10:00)."""
    pattern = DAY.get(language, DAY["en"]) + " HH:mm"
    return format_datetime(value, pattern, tzinfo=dt.UTC, locale=LOCALES.get(language, "en_GB"))
