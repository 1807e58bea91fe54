"""The gateway's own words in its gettext catalogs: every marked word, extracted afresh from
the code, has its Romanian and Polish translation (every plural form) in the .po and in the
compiled .mo the gateway reads; plurals, dates and numbers follow each language."""

from __future__ import annotations

import datetime as dt

import pytest
from babel.messages.catalog import Message
from babel.messages.mofile import read_mo
from babel.messages.plurals import get_plural
from babel.messages.pofile import read_po

from notifications import events as ev
from notifications import messages, wording
from smart_auth import botcheck, translations
from smart_auth.accounts import i18n
from smart_auth.oauth import wording as consent_words
from smart_auth.results import wording as result_words
from smart_auth.sharing import wording as share_words
from smart_auth.translations.catalogs import extract, untranslated

Key = tuple[str | None, str | tuple[str, ...]]


def key(message: Message) -> Key:
    ids = message.id if isinstance(message.id, str) else tuple(message.id)
    return message.context, ids


def strings(message: Message) -> tuple[str, ...]:
    return tuple(message.string) if isinstance(message.string, (tuple, list)) else (message.string,)


@pytest.fixture(scope="module")
def wanted(tmp_path_factory: pytest.TempPathFactory) -> dict[Key, Message]:
    template = extract(tmp_path_factory.mktemp("pot") / "gateway.pot")
    found = {key(m): m for m in template if m.id}
    assert len(found) > 200
    return found


@pytest.mark.parametrize("lang", translations.TRANSLATED)
def test_every_word_is_translated_in_the_po_and_the_mo(
    lang: str, wanted: dict[Key, Message]
) -> None:
    folder = translations.HERE / lang / "LC_MESSAGES"
    with (folder / "gateway.po").open("rb") as f:
        po = read_po(f, locale=lang)
    assert not untranslated(po), untranslated(po)
    assert {key(m) for m in po if m.id} == set(wanted), (
        "run python -m smart_auth.translations.catalogs"
    )
    plural = get_plural(lang)
    assert po.num_plurals == plural.num_plurals == 3
    assert po.plural_expr == plural.plural_expr
    with (folder / "gateway.mo").open("rb") as f:
        mo = {key(m): strings(m) for m in read_mo(f) if m.id}
    for found, message in wanted.items():
        said = strings(po.get(message.id, message.context))
        assert all(said), (lang, found)
        assert len(said) == (3 if message.pluralizable else 1), (lang, found)
        assert mo[found] == said, (lang, found, "the .mo is older than the .po")
        assert not any(s.isascii() and s == message.id for s in said if len(s) > 12), found


def test_the_pages_mails_and_sms_say_their_words_in_each_language() -> None:
    tables = [i18n, consent_words, result_words, share_words, wording]
    for table in tables:
        keys = table.all_keys() if hasattr(table, "all_keys") else table.keys()
        for name in keys:
            said = {lang: table.text(name, lang) for lang in i18n.LANGUAGES}
            assert all(said.values()), name
    assert i18n.text("login_title", "ro") == "Autentificare"
    assert i18n.text("submit_login", "ro") == "Intră în cont"  # one English word, two contexts
    assert i18n.text("login_title", "en") == i18n.text("submit_login", "en") == "Sign in"
    assert wording.text("channel_email", "pl") == "E-mail"
    assert i18n.text("email", "pl") == "Email"
    assert messages.subject("pl") == "Nowości w portalu pacjenta"
    sms = messages.text(ev.DOCUMENT_NEW, "ro", "https://portal.example/x")
    assert (
        sms == "Un document nou este disponibil în portalul pacientului. https://portal.example/x"
    )
    assert "automat" in messages.mail_body(ev.DOCUMENT_NEW, "ro", "https://portal.example/x")
    assert botcheck.text("required", "pl").startswith("Poczekaj")
    assert i18n.text("site", "de") == i18n.text("site", "en") == "Patient portal"


@pytest.mark.parametrize(
    ("lang", "said"),
    [
        ("ro", ["1 an", "2 ani", "19 ani", "20 de ani", "101 ani", "120 de ani"]),
        ("pl", ["1 rok", "2 lata", "5 lat", "12 lat", "22 lata", "25 lat"]),
        ("en", ["1 year", "2 years", "5 years", "12 years", "22 years", "25 years"]),
    ],
)
def test_ages_follow_the_plural_forms_of_each_language(lang: str, said: list[str]) -> None:
    years = [int(text.split()[0]) for text in said]
    assert [i18n.age(n, lang) for n in years] == said


def test_counts_in_sentences_take_the_plural_and_the_number_format() -> None:
    assert (
        share_words.text("wrong_pin", "pl", left=1) == "PIN jest nieprawidłowy. Pozostała 1 próba."
    )
    assert share_words.text("wrong_pin", "pl", left=4).endswith("Pozostały 4 próby.")
    assert share_words.text("wrong_pin", "en", left=1) == "The PIN is not right. 1 attempt left."
    assert (
        share_words.text("try_later", "ro", seconds=20) == "Încercați din nou peste 20 de secunde."
    )
    assert i18n.text("throttled", "ro", seconds=1200).endswith("1.200 de secunde.")
    assert i18n.text("throttled", "pl", seconds=1200).endswith("1\xa0200 sekund.")
    assert i18n.text("throttled", "en", seconds=1200).endswith("1,200 seconds.")
    assert result_words.text("too_many", "pl", minutes=2).endswith("za 2 minuty.")


def test_dates_as_each_language_writes_them() -> None:
    assert translations.day(dt.date(2026, 4, 1), "ro") == "01.04.2026"
    assert translations.day(dt.datetime(2026, 4, 21, 23, 0), "pl") == "21.04.2026"
    assert translations.day("2026-04-21T10:00:00Z", "en") == "21/04/2026"
    assert translations.day("not a date", "ro") == "not a date"
    assert translations.day(None, "ro") == ""
    assert translations.moment(dt.datetime(2026, 4, 21, 9, 5), "pl") == "21.04.2026 09:05"
    assert translations.moment(dt.datetime(2026, 4, 21, 9, 5), "en") == "21/04/2026 09:05"


def test_a_word_not_yet_translated_fails_the_check() -> None:
    with (translations.HERE / "ro" / "LC_MESSAGES" / "gateway.po").open("rb") as f:
        po = read_po(f, locale="ro")
    po.get("Save").string = ""
    po.get("{n} year").string = ("{n} an", "{n} ani", "")
    po.get("Sign in", "button").flags.add("fuzzy")
    assert sorted(untranslated(po)) == ["Save", "Sign in", "{n} year"]
