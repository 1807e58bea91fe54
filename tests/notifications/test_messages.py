"""The texts of the notifications: one for every event kind in every language, each naming
nothing but that something is there, and a link."""

from __future__ import annotations

import pytest

from notifications import events as ev
from notifications import messages
from smart_auth.accounts.i18n import LANGUAGES

LINK = "https://portal.hospital.test/account/"


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_kind_has_a_text_in_every_language(language: str) -> None:
    seen = set()
    for kind in ev.KINDS:
        text = messages.text(kind, language, LINK)
        assert text.endswith(" " + LINK)
        body = messages.mail_body(kind, language, LINK)
        assert body.startswith(text)
        seen.add(text)
        # SMS-sized: one segment's worth of text plus the link
        assert len(text) - len(LINK) < 120
    # results share one sentence; every other kind has its own
    assert len(seen) == len(ev.KINDS) - 2
    assert messages.subject(language)


def test_the_languages_differ_and_an_unknown_one_falls_back_to_english() -> None:
    texts = {messages.text(ev.DOCUMENT_NEW, lang, LINK) for lang in LANGUAGES}
    assert len(texts) == len(LANGUAGES)
    assert messages.text(ev.DOCUMENT_NEW, "de", LINK) == messages.text(ev.DOCUMENT_NEW, "en", LINK)


def test_settings_refuse_what_the_worker_cannot_use() -> None:
    from gateway.settings import Settings, SettingsError

    for bad, name in (
        ({"queue_url": "amqp://broker"}, "QUEUE_URL"),
        ({"notify_language": "de"}, "NOTIFY_LANGUAGE"),
        ({"queue_lease_s": 1}, "QUEUE_LEASE_S"),
        ({"notify_min_backoff_s": 10, "notify_max_backoff_s": 5}, "NOTIFY_MIN_BACKOFF_S"),
    ):
        with pytest.raises(SettingsError, match=name):
            Settings.from_mapping(bad, environ=False)
    assert Settings.from_mapping({"queue_url": "redis://127.0.0.1:6379/1"}, environ=False)
