"""The account service: register, verify, log in, lock out, second factor (F1-F6), no Flask.

Routes call it with plain values and get plain results back; every rule that several workers
must agree on (codes, counters, locks, remember-me tokens) goes through the state database.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

import pyotp
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from stdnum.pl import pesel
from stdnum.ro import cnp

from fhir_gateway.his.connector import HisConnector, PatientMatch

from . import i18n
from .codes import CodeStore
from .limits import Limits, Refused, ThrottlePolicy, lock_key
from .mail import MailSender, Message
from .passwords import acceptable, hash_password, verify_password
from .sms import Sms, SmsSender
from .tables import account, identity, registration, remember_token

ACTIVATE_TTL = dt.timedelta(hours=24)
#: one activation mail per patient in this time, however often the form is sent (no mail bomb)
ACTIVATE_GAP = dt.timedelta(minutes=5)
CODE_TTL = dt.timedelta(minutes=10)
REMEMBER_TTL = dt.timedelta(days=30)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class AccountPolicy:
    """Deployment policy: which national ID, how many wrong passwords, which second factor."""

    national_id_kind: str = "CNP"
    max_failed_logins: int = 5
    #: none | email | sms (sms falls back to email for an account without a mobile number)
    second_factor: str = "none"
    #: empty: the hospital's registration desk, in the page's language (``i18n.contact``)
    support_contact: str = ""
    clause_version: str = "1"
    #: the least time a self-registration answer takes, whatever the HIS holds
    register_floor_s: float = 1.0


@dataclass(frozen=True)
class LoginOutcome:
    #: ok | bad | throttled | locked | unverified
    status: str
    account_id: int | None = None
    retry_after: int = 0
    #: the second factor still to pass: "" | email | sms | totp
    factor: str = ""


@dataclass(frozen=True)
class Activated:
    account_id: int = 0
    username: str = ""
    #: "" or the message key of the refusal (bad_link, weak_password, taken)
    error: str = ""


def patient_names(his: HisConnector, ids: list[int]) -> dict[int, str]:
    """The names the HIS holds for these patients ("given family"), read through the connector."""
    if not ids:
        return {}
    found = his.read_many("Patient", [("patient", i) for i in ids], None)
    return {int(r["id"]): f"{r['given']} {r['family']}" for _, r in found}


def valid_national_id(kind: str, value: str) -> bool:
    """Checksum and structure (python-stdnum: ro.cnp, pl.pesel)."""
    module = cnp if kind == "CNP" else pesel
    return bool(module.is_valid(value))


def _fold(name: str) -> str:
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    return " ".join(
        "".join(c for c in decomposed if not unicodedata.combining(c)).replace("-", " ").split()
    )


class AccountService:
    def __init__(
        self,
        state: Engine,
        his: HisConnector,
        policy: AccountPolicy,
        mail: MailSender,
        sms: SmsSender,
        secret: bytes,
        *,
        throttle: ThrottlePolicy | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self.state, self.his, self.policy = state, his, policy
        self.mail, self.sms, self.clock = mail, sms, clock
        self.codes = CodeStore(state, secret)
        self.limits = Limits(state, throttle or ThrottlePolicy(), policy.max_failed_logins)
        self.secret = secret

    # --- lookups ----------------------------------------------------------------------------

    def get(self, account_id: int) -> sa.Row | None:
        with self.state.connect() as conn:
            return conn.execute(sa.select(account).where(account.c.id == account_id)).first()

    def find(self, login: str) -> sa.Row | None:
        """By email (case-insensitive) or user name."""
        value = login.strip()
        with self.state.connect() as conn:
            return conn.execute(
                sa.select(account).where(
                    sa.or_(
                        sa.func.lower(account.c.email) == value.lower(),
                        account.c.username == value,
                    )
                )
            ).first()

    def his_patient(self, national_id: str) -> PatientMatch | None:
        """The HIS patient with this national ID of the deployment's kind (through the
        connector, whichever HIS the hospital plugged in)."""
        return self.his.find_patient(self.policy.national_id_kind, national_id)

    # --- F1 self-registration ---------------------------------------------------------------

    def register(self, full_name: str, national_id: str, language: str, link: str) -> str:
        """Start a self-registration. Returns "" or the key of a form error that depends on
        the input alone (``bad_national_id``), never on what the HIS holds.

        When the name and national ID match an active HIS patient who has no account yet and
        the hospital holds an email address for them, an activation link (``link`` + token)
        goes to *that* address; the password is chosen only once the link is opened
        (``activate``). Nothing is ever sent to an address the registrant typed. Whether the
        person exists, already has an account or does not match, the answer is the same and
        takes at least ``policy.register_floor_s`` (no existence oracle, ASVS V2.5.2 spirit)."""
        started = time.monotonic()
        try:
            national_id = national_id.strip()
            if not valid_national_id(self.policy.national_id_kind, national_id):
                return "bad_national_id"
            self._start_registration(full_name, national_id, language, link)
            return ""
        finally:
            rest = self.policy.register_floor_s - (time.monotonic() - started)
            if rest > 0:
                time.sleep(rest)

    def _start_registration(self, full_name: str, national_id: str, lang: str, link: str) -> None:
        found = self.his_patient(national_id)
        if found is None or not found.active or found.deceased:
            return
        if _fold(full_name) not in {
            _fold(f"{found.given} {found.family}"),
            _fold(f"{found.family} {found.given}"),
        }:
            return
        email = self.his.contacts(found.id).email
        if not email or self._has_account(found.id, email):
            return
        token = secrets.token_urlsafe(32)
        now = self.clock()
        r = registration.c
        with self.state.begin() as conn:
            recent = conn.execute(
                sa.select(r.id).where(
                    r.his_patient_id == found.id,
                    r.used_at.is_(None),
                    r.expires_at > now + ACTIVATE_TTL - ACTIVATE_GAP,
                )
            ).first()
            if recent is not None:
                return
            conn.execute(
                registration.update()
                .where(r.his_patient_id == found.id, r.used_at.is_(None))
                .values(used_at=now)
            )
            conn.execute(
                registration.insert().values(
                    token_hash=self.codes.digest(token),
                    his_patient_id=found.id,
                    email=email,
                    language=lang,
                    expires_at=now + ACTIVATE_TTL,
                )
            )
        self.mail.send(
            Message(
                to=email,
                subject=i18n.text("mail_activate_subject", lang),
                body=i18n.text("mail_activate_body", lang, name=found.name, link=link + token),
                language=lang,
            )
        )

    def _has_account(self, patient_id: int, email: str) -> bool:
        with self.state.connect() as conn:
            return (
                conn.execute(
                    sa.select(account.c.id)
                    .select_from(account.outerjoin(identity))
                    .where(
                        sa.or_(
                            sa.func.lower(account.c.email) == email.lower(),
                            sa.and_(
                                identity.c.his_patient_id == patient_id,
                                identity.c.relation == "self",
                            ),
                        )
                    )
                ).first()
                is not None
            )

    def _pending(self, conn: sa.Connection, token: str) -> sa.Row | None:
        r = registration.c
        row = conn.execute(
            sa.select(registration).where(r.token_hash == self.codes.digest(token))
        ).first()
        if row is None or row.used_at is not None or row.expires_at <= self.clock():
            return None
        return row

    def activation_pending(self, token: str) -> bool:
        """Whether an activation link is still good (the page asks for a password only then)."""
        with self.state.connect() as conn:
            return self._pending(conn, token) is not None

    def activate(self, token: str, password: str) -> Activated:
        """Finish a self-registration: the link proved control of the address the hospital
        holds; the account is created with that address, already verified, and ``password``.
        The link works once."""
        if not acceptable(password):
            return Activated(
                error="weak_password" if self.activation_pending(token) else "bad_link"
            )
        now = self.clock()
        with self.state.begin() as conn:
            row = self._pending(conn, token)
            if row is None:
                return Activated(error="bad_link")
            used = conn.execute(
                registration.update()
                .where(registration.c.id == row.id, registration.c.used_at.is_(None))
                .values(used_at=now)
            )
            if used.rowcount != 1:
                return Activated(error="bad_link")
        if self._has_account(row.his_patient_id, row.email):
            return Activated(error="taken")
        names = patient_names(self.his, [row.his_patient_id])
        phone = self.his.contacts(row.his_patient_id).mobile
        try:
            account_id = self._create_own(row, names, phone, password, now)
        except IntegrityError:  # another registration took the address or patient meanwhile
            return Activated(error="taken")
        return Activated(account_id=account_id, username=row.email.lower())

    def _create_own(
        self, row: sa.Row, names: dict[int, str], phone: str | None, password: str, now: dt.datetime
    ) -> int:
        with self.state.begin() as conn:
            inserted = conn.execute(
                account.insert().values(
                    username=row.email.lower(),
                    email=row.email,
                    phone=phone,
                    full_name=names.get(row.his_patient_id, ""),
                    password_hash=hash_password(password),
                    email_verified_at=now,
                    active=True,
                    created_at=now,
                    failed_logins=0,
                    language=row.language,
                )
            )
            account_id = int(inserted.inserted_primary_key[0])  # type: ignore[index]
            conn.execute(
                identity.insert().values(
                    account_id=account_id,
                    his_patient_id=row.his_patient_id,
                    relation="self",
                    verified_at=now,
                )
            )
        return account_id

    # --- F3 login, F6 lockout ---------------------------------------------------------------

    def login(self, login: str, password: str, address: str) -> LoginOutcome:
        """Check a password under the address and account throttles and the lockout."""
        now = self.clock()
        row = self.find(login)
        if row is not None and row.locked_at is not None:
            return LoginOutcome("locked", account_id=row.id)
        keys = [f"addr:{address}"] + ([f"acct:{row.id}"] if row is not None else [])
        counted = row.id if row is not None and row.active else None
        try:
            ticket = self.limits.admit(keys, counted, row.failed_logins if row else 0, now)
        except Refused as refused:
            if (
                counted is not None
                and refused.key == lock_key(counted)
                and self.limits.locked(counted)
            ):
                return LoginOutcome("locked", account_id=counted)
            return LoginOutcome("throttled", retry_after=refused.retry_after)
        try:
            ok = verify_password(row.password_hash if row is not None else None, password)
        except BaseException:
            self.limits.released(ticket)
            raise
        if row is None or not ok or not row.active:
            if self.limits.failed(ticket, counted, now) and row is not None:
                return LoginOutcome("locked", account_id=row.id)
            return LoginOutcome("bad")
        self.limits.passed(ticket, row.id)
        if row.email_verified_at is None:
            return LoginOutcome("unverified", account_id=row.id)
        return LoginOutcome("ok", account_id=row.id, factor=self.factor_for(row))

    def unlock(self, login: str) -> bool:
        row = self.find(login)
        if row is None:
            return False
        self.limits.unlock(row.id)
        return True

    # --- F4 second factor -------------------------------------------------------------------

    def factor_for(self, row: sa.Row) -> str:
        if row.totp_secret:
            return "totp"
        if self.policy.second_factor == "sms" and row.phone:
            return "sms"
        if self.policy.second_factor in {"sms", "email"} or row.email_code_on:
            return "email"
        return ""

    def send_factor_code(self, account_id: int, factor: str) -> None:
        row = self.get(account_id)
        if row is None or factor == "totp":
            return
        lang = row.language or "en"
        if factor == "sms":
            code = self.codes.issue(account_id, "factor", self.clock(), CODE_TTL, digits=4)
            self.sms.send(
                Sms(to=row.phone, text=i18n.text("sms_code", lang, code=code), language=lang)
            )
            return
        code = self.codes.issue(account_id, "factor", self.clock(), CODE_TTL, digits=6)
        self.mail.send(
            Message(
                to=row.email,
                subject=i18n.text("mail_code_subject", lang),
                body=i18n.text("mail_code_body", lang, code=code),
                language=lang,
            )
        )

    def check_factor(self, account_id: int, factor: str, code: str) -> bool:
        if factor == "totp":
            row = self.get(account_id)
            if row is None or not row.totp_secret:
                return False
            return self._totp_step(account_id, row.totp_secret, row.totp_last_step, code)
        return self.codes.check(account_id, "factor", code, self.clock()).ok

    def _totp_step(self, account_id: int, secret: str, last: int | None, code: str) -> bool:
        """RFC 6238 §5.2: one step of clock drift either way, and a code already accepted (its
        step or an earlier one) is refused; the conditional UPDATE makes that hold across
        workers."""
        totp = pyotp.TOTP(secret)
        now = self.clock().replace(tzinfo=dt.UTC)
        for drift in (0, -1, 1):
            at = now + dt.timedelta(seconds=drift * totp.interval)
            step = totp.timecode(at)
            if hmac.compare_digest(totp.at(at), code.strip()):
                if last is not None and step <= last:
                    return False
                t = account.c
                with self.state.begin() as conn:
                    done = conn.execute(
                        account.update()
                        .where(t.id == account_id)
                        .where(sa.or_(t.totp_last_step.is_(None), t.totp_last_step < step))
                        .values(totp_last_step=step)
                    )
                return done.rowcount == 1
        return False

    def enable_totp(self, account_id: int, secret: str, code: str) -> bool:
        """Turn TOTP on once the person proved their app has ``secret`` (RFC 6238 §5)."""
        if not pyotp.TOTP(secret).verify(code.strip(), valid_window=1):
            return False
        with self.state.begin() as conn:
            conn.execute(
                account.update().where(account.c.id == account_id).values(totp_secret=secret)
            )
        return True

    def turn_on_email_code(self, account_id: int) -> None:
        """F4: once on, there is no way to turn it off."""
        with self.state.begin() as conn:
            conn.execute(
                account.update().where(account.c.id == account_id).values(email_code_on=True)
            )

    # --- remember me (revocable) ------------------------------------------------------------

    def _digest(self, token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    def remember(self, account_id: int) -> str:
        token = secrets.token_urlsafe(32)
        with self.state.begin() as conn:
            conn.execute(
                remember_token.insert().values(
                    token_hash=self._digest(token),
                    account_id=account_id,
                    expires_at=self.clock() + REMEMBER_TTL,
                    revoked=False,
                )
            )
        return token

    def remembered(self, token: str) -> int | None:
        t = remember_token.c
        with self.state.connect() as conn:
            row = conn.execute(
                sa.select(remember_token).where(t.token_hash == self._digest(token))
            ).first()
        if row is None or row.revoked or row.expires_at <= self.clock():
            return None
        found = self.get(row.account_id)
        if found is None or found.locked_at is not None or not found.active:
            return None
        return int(row.account_id)

    def forget(self, token: str | None = None, *, account_id: int | None = None) -> None:
        """Revoke one remember-me token, or all of an account's (sign out everywhere)."""
        t = remember_token.c
        with self.state.begin() as conn:
            if token:
                conn.execute(
                    remember_token.update()
                    .where(t.token_hash == self._digest(token))
                    .values(revoked=True)
                )
            if account_id is not None:
                conn.execute(
                    remember_token.update().where(t.account_id == account_id).values(revoked=True)
                )
