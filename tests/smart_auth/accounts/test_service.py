"""The account service against the real state DB, the test HIS and a real SMTP server."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import sqlalchemy as sa

from smart_auth.accounts import i18n
from smart_auth.accounts.codes import MAX_ATTEMPTS
from smart_auth.accounts.service import AccountService
from smart_auth.accounts.tables import account, one_time_code

from .conftest import Inbox

LINK = "http://gateway.test/account/activate/"
PASSWORD = "correct horse battery"


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime(2026, 11, 1, 9, 0)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


def service(make_app: Any, **extra: object) -> tuple[AccountService, Clock]:
    """The app's account service on a test clock; registration answers without its floor of
    equal time (``test_registration`` checks that floor)."""
    svc: AccountService = make_app(**extra).extensions["accounts"]
    clock = Clock()
    svc.clock = clock
    svc.policy = dataclasses.replace(svc.policy, register_floor_s=0.0)
    return svc, clock


def registered(svc: AccountService, inbox: Inbox, person: Any) -> int:
    """Self-register ``person``: the link goes to the email the HIS holds for them."""
    name = f"{person.given} {person.family}"
    assert svc.register(name, person.national_id, "ro", LINK) == ""
    done = svc.activate(inbox.link(person.email).removeprefix(LINK), PASSWORD)
    assert done.error == ""
    assert done.username == person.email.lower()
    return done.account_id


def test_register_mails_the_his_address_and_the_link_sets_the_password(
    make_app: Any, inbox: Inbox, adults: list[Any]
) -> None:
    svc, clock = service(make_app)
    person = adults[0]
    name = f"{person.given} {person.family}"
    assert svc.register(name, "1234567890123", "en", LINK) == "bad_national_id"
    assert svc.register("Someone Else", person.national_id, "en", LINK) == ""
    assert not inbox.messages  # no match: nothing sent anywhere
    assert svc.register(name.upper(), person.national_id, "ro", LINK) == ""
    mail = inbox.last_to(person.email)
    assert mail["Subject"] == i18n.text("mail_activate_subject", "ro")
    first = inbox.link(person.email)
    assert svc.find(person.email) is None  # no account before the link is opened
    assert svc.register(name, person.national_id, "ro", LINK) == ""
    assert inbox.link(person.email) == first  # one mail per patient in five minutes
    clock.advance(minutes=5, seconds=1)
    assert svc.register(name, person.national_id, "ro", LINK) == ""
    second = inbox.link(person.email)
    assert first != second
    assert svc.activate(first.removeprefix(LINK), PASSWORD).error == "bad_link"  # superseded
    assert svc.activate(second.removeprefix(LINK), "short").error == "weak_password"
    done = svc.activate(second.removeprefix(LINK), PASSWORD)
    assert done.error == ""
    assert svc.activate(second.removeprefix(LINK), PASSWORD).error == "bad_link"  # single use
    assert svc.login(person.email.upper(), PASSWORD, "1.1.1.1").status == "ok"
    row = svc.get(done.account_id)
    assert row is not None
    assert row.email == person.email
    assert row.full_name == name
    assert row.email_verified_at is not None
    sent = len(inbox.messages)
    assert svc.register(name, person.national_id, "ro", LINK) == ""  # has an account now
    assert len(inbox.messages) == sent
    other = adults[1]
    assert svc.register(f"{other.family} {other.given}", other.national_id, "en", LINK) == ""
    late = inbox.link(other.email)
    clock.advance(hours=24, seconds=1)
    assert svc.activate(late.removeprefix(LINK), PASSWORD).error == "bad_link"  # expired
    assert svc.find(other.email) is None


def test_five_wrong_passwords_lock_until_admin_unlocks(
    make_app: Any, inbox: Inbox, adults: list[Any]
) -> None:
    svc, clock = service(make_app)
    registered(svc, inbox, adults[1])
    mine = adults[1].email
    for attempt in range(5):
        clock.advance(hours=2)  # outside the throttle window: only the lockout counts
        outcome = svc.login(mine, "wrong password!", f"10.0.0.{attempt}")
        assert outcome.status == ("locked" if attempt == 4 else "bad")
    clock.advance(hours=2)
    assert svc.login(mine, PASSWORD, "10.0.1.1").status == "locked"
    # a second app over the same state database (another worker or host) agrees
    other, other_clock = service(make_app)
    other_clock.now = clock.now
    assert other.login(mine, PASSWORD, "10.0.1.2").status == "locked"
    assert other.unlock(mine)
    assert svc.login(mine, PASSWORD, "10.0.1.3").status == "ok"


def test_progressive_delay_per_address_and_per_account(
    make_app: Any, inbox: Inbox, adults: list[Any]
) -> None:
    svc, clock = service(make_app, accounts_max_failed_logins=50)
    registered(svc, inbox, adults[2])
    mine = adults[2].email
    for _ in range(3):
        assert svc.login("nobody@example.org", "x" * 12, "9.9.9.9").status == "bad"
    first = svc.login("nobody@example.org", "x" * 12, "9.9.9.9")
    assert first.status == "bad"  # the fourth failure sets the first delay
    blocked = svc.login(mine, PASSWORD, "9.9.9.9")
    assert blocked.status == "throttled"
    assert blocked.retry_after > 0
    clock.advance(seconds=blocked.retry_after)
    assert svc.login("nobody@example.org", "x" * 12, "9.9.9.9").status == "bad"
    again = svc.login("nobody@example.org", "x" * 12, "9.9.9.9")
    assert again.status == "throttled"
    assert again.retry_after > blocked.retry_after
    # per account: failures from many addresses still slow that account down
    for n in range(4):
        svc.login(mine, "wrong password!", f"8.8.8.{n}")
    assert svc.login(mine, PASSWORD, "7.7.7.7").status == "throttled"


def test_email_code_is_single_use_short_lived_attempt_limited(
    make_app: Any, inbox: Inbox, adults: list[Any]
) -> None:
    svc, clock = service(make_app, accounts_second_factor="email")
    account_id = registered(svc, inbox, adults[3])
    mine = adults[3].email
    outcome = svc.login(mine, PASSWORD, "1.2.3.4")
    assert outcome.status == "ok"
    assert outcome.factor == "email"
    svc.send_factor_code(account_id, "email")
    code = inbox.code(mine)
    assert len(code) == 6
    with svc.state.connect() as conn:
        stored = conn.execute(sa.select(one_time_code.c.code_hash)).scalars().all()
    assert code not in stored
    assert svc.check_factor(account_id, "email", code)
    assert not svc.check_factor(account_id, "email", code)  # used
    svc.send_factor_code(account_id, "email")
    code = inbox.code(mine)
    clock.advance(minutes=11)
    assert not svc.check_factor(account_id, "email", code)  # expired
    svc.send_factor_code(account_id, "email")
    code = inbox.code(mine)
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
    account_id = registered(svc, inbox, person)
    outcome = svc.login(person.email, PASSWORD, "1.2.3.4")
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
    account_id = registered(svc, inbox, adults[4])
    mine = adults[4].email
    assert svc.login(mine, PASSWORD, "1.1.1.1").factor == ""
    svc.turn_on_email_code(account_id)
    assert svc.login(mine, PASSWORD, "1.1.1.1").factor == "email"
    secret = pyotp.random_base32()
    with svc.state.begin() as conn:
        conn.execute(account.update().where(account.c.id == account_id).values(totp_secret=secret))
    assert svc.login(mine, PASSWORD, "1.1.1.1").factor == "totp"
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
