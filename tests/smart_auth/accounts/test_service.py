"""The account service against the real state DB, the test HIS and a real SMTP server."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from smart_auth.accounts import i18n
from smart_auth.accounts.codes import MAX_ATTEMPTS
from smart_auth.accounts.service import AccountService
from smart_auth.accounts.tables import account, one_time_code

from .conftest import Inbox

LINK = "http://gateway.test/account/verify/"
PASSWORD = "correct horse battery"


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime(2026, 11, 1, 9, 0)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


def service(make_app: Any, **extra: object) -> tuple[AccountService, Clock]:
    svc: AccountService = make_app(**extra).extensions["accounts"]
    clock = Clock()
    svc.clock = clock
    return svc, clock


def registered(svc: AccountService, inbox: Inbox, person: Any, email: str) -> int:
    name = f"{person.given} {person.family}"
    assert svc.register(name, email, person.national_id, PASSWORD, "ro", LINK) == ""
    assert svc.verify_email(inbox.link(email).removeprefix(LINK))
    row = svc.find(email)
    assert row is not None
    return int(row.id)


def test_register_matches_his_and_verifies_by_mailed_link(
    make_app: Any, inbox: Inbox, adults: list[Any]
) -> None:
    svc, _ = service(make_app)
    person = adults[0]
    name = f"{person.given} {person.family}"
    assert svc.register(name, "a@example.org", "1234567890123", PASSWORD, "en", LINK) == (
        "bad_national_id"
    )
    assert svc.register(
        "Someone Else", "a@example.org", person.national_id, PASSWORD, "en", LINK
    ) == ("no_match")
    assert svc.register(name, "a@example.org", person.national_id, "short", "en", LINK) == (
        "weak_password"
    )
    assert (
        svc.register(name.upper(), "a@example.org", person.national_id, PASSWORD, "ro", LINK) == ""
    )
    assert svc.register(name, "b@example.org", person.national_id, PASSWORD, "ro", LINK) == "taken"
    assert inbox.last_to("a@example.org")["Subject"] == i18n.text("mail_verify_subject", "ro")
    assert svc.login("a@example.org", PASSWORD, "1.1.1.1").status == "unverified"
    first = inbox.link("a@example.org")
    svc.resend_verification("a@example.org", LINK)
    second = inbox.link("a@example.org")
    assert first != second
    assert not svc.verify_email(first.removeprefix(LINK))  # superseded by the resend
    assert svc.verify_email(second.removeprefix(LINK))
    assert not svc.verify_email(second.removeprefix(LINK))  # single use
    assert svc.login("A@example.org", PASSWORD, "1.1.1.1").status == "ok"


def test_five_wrong_passwords_lock_until_admin_unlocks(
    make_app: Any, inbox: Inbox, adults: list[Any]
) -> None:
    svc, clock = service(make_app)
    registered(svc, inbox, adults[1], "lock@example.org")
    for attempt in range(5):
        clock.advance(hours=2)  # outside the throttle window: only the lockout counts
        outcome = svc.login("lock@example.org", "wrong password!", f"10.0.0.{attempt}")
        assert outcome.status == ("locked" if attempt == 4 else "bad")
    clock.advance(hours=2)
    assert svc.login("lock@example.org", PASSWORD, "10.0.1.1").status == "locked"
    # a second app over the same state database (another worker or host) agrees
    other, other_clock = service(make_app)
    other_clock.now = clock.now
    assert other.login("lock@example.org", PASSWORD, "10.0.1.2").status == "locked"
    assert other.unlock("lock@example.org")
    assert svc.login("lock@example.org", PASSWORD, "10.0.1.3").status == "ok"


def test_progressive_delay_per_address_and_per_account(
    make_app: Any, inbox: Inbox, adults: list[Any]
) -> None:
    svc, clock = service(make_app, accounts_max_failed_logins=50)
    registered(svc, inbox, adults[2], "slow@example.org")
    for _ in range(3):
        assert svc.login("nobody@example.org", "x" * 12, "9.9.9.9").status == "bad"
    first = svc.login("nobody@example.org", "x" * 12, "9.9.9.9")
    assert first.status == "bad"  # the fourth failure sets the first delay
    blocked = svc.login("slow@example.org", PASSWORD, "9.9.9.9")
    assert blocked.status == "throttled"
    assert blocked.retry_after > 0
    clock.advance(seconds=blocked.retry_after)
    assert svc.login("nobody@example.org", "x" * 12, "9.9.9.9").status == "bad"
    again = svc.login("nobody@example.org", "x" * 12, "9.9.9.9")
    assert again.status == "throttled"
    assert again.retry_after > blocked.retry_after
    # per account: failures from many addresses still slow that account down
    for n in range(4):
        svc.login("slow@example.org", "wrong password!", f"8.8.8.{n}")
    assert svc.login("slow@example.org", PASSWORD, "7.7.7.7").status == "throttled"


def test_email_code_is_single_use_short_lived_attempt_limited(
    make_app: Any, inbox: Inbox, adults: list[Any]
) -> None:
    svc, clock = service(make_app, accounts_second_factor="email")
    account_id = registered(svc, inbox, adults[3], "code@example.org")
    outcome = svc.login("code@example.org", PASSWORD, "1.2.3.4")
    assert outcome.status == "ok"
    assert outcome.factor == "email"
    svc.send_factor_code(account_id, "email")
    code = inbox.code("code@example.org")
    assert len(code) == 6
    with svc.state.connect() as conn:
        stored = conn.execute(sa.select(one_time_code.c.code_hash)).scalars().all()
    assert code not in stored
    assert svc.check_factor(account_id, "email", code)
    assert not svc.check_factor(account_id, "email", code)  # used
    svc.send_factor_code(account_id, "email")
    code = inbox.code("code@example.org")
    clock.advance(minutes=11)
    assert not svc.check_factor(account_id, "email", code)  # expired
    svc.send_factor_code(account_id, "email")
    code = inbox.code("code@example.org")
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(MAX_ATTEMPTS):
        assert not svc.check_factor(account_id, "email", wrong)
    assert not svc.check_factor(account_id, "email", code)  # exhausted


def test_sms_policy_sends_four_digits_through_outbox(
    make_app: Any, inbox: Inbox, adults: list[Any], tmp_path: Any
) -> None:
    import json

    person = next(p for p in adults if p.phone)
    svc, _ = service(make_app, accounts_second_factor="sms")
    account_id = registered(svc, inbox, person, "sms@example.org")
    outcome = svc.login("sms@example.org", PASSWORD, "1.2.3.4")
    assert outcome.factor == "sms"
    svc.send_factor_code(account_id, "sms")
    sent = sorted((tmp_path / "outbox" / "sms").glob("*.json"))
    doc = json.loads(sent[-1].read_text())
    assert doc["to"] == person.phone
    assert doc["language"] == "ro"
    code = doc["text"].rsplit(" ", 1)[-1]
    assert len(code) == 4
    assert code.isdigit()
    assert svc.check_factor(account_id, "sms", code)


def test_email_code_cannot_be_turned_off_and_totp_is_checked(
    make_app: Any, inbox: Inbox, adults: list[Any]
) -> None:
    import pyotp

    svc, clock = service(make_app)
    account_id = registered(svc, inbox, adults[4], "totp@example.org")
    assert svc.login("totp@example.org", PASSWORD, "1.1.1.1").factor == ""
    svc.turn_on_email_code(account_id)
    assert svc.login("totp@example.org", PASSWORD, "1.1.1.1").factor == "email"
    secret = pyotp.random_base32()
    with svc.state.begin() as conn:
        conn.execute(account.update().where(account.c.id == account_id).values(totp_secret=secret))
    assert svc.login("totp@example.org", PASSWORD, "1.1.1.1").factor == "totp"
    totp = pyotp.TOTP(secret)
    now = clock.now.replace(tzinfo=dt.UTC)
    assert not svc.check_factor(account_id, "totp", "12345")
    code = totp.at(now)
    assert svc.check_factor(account_id, "totp", code)
    assert not svc.check_factor(account_id, "totp", code)  # RFC 6238 §5.2: never twice
    clock.advance(seconds=totp.interval)
    assert not svc.check_factor(account_id, "totp", totp.at(now - dt.timedelta(seconds=30)))
    assert svc.check_factor(account_id, "totp", totp.at(clock.now.replace(tzinfo=dt.UTC)))


def test_every_text_in_every_language() -> None:
    for key in i18n.all_keys():
        texts = {lang: i18n.text(key, lang) for lang in i18n.LANGUAGES}
        assert all(texts.values()), key
    assert i18n.text("login_title", "ro") != i18n.text("login_title", "en")
    assert i18n.negotiate(None, "pl-PL,pl;q=0.9,en;q=0.8") == "pl"
    assert i18n.negotiate(None, "de, ro;q=0.5") == "ro"
    assert i18n.negotiate("en", "ro") == "en"
