"""State tables of accounts and the identities they act for (F1-F8).

``account``: one person who signs in. ``identity``: the HIS patients an account acts for: its
own (relation ``self``) and persons in its care (``guardian``, verified against the HIS
guardian link). The authorization server reads ``identity`` to offer the patient picker and to
put ``patient`` in a token's launch context.

``one_time_code``, ``login_throttle`` and ``remember_token`` hold what every worker and host must
agree on (ARCHITECTURE boundary 5): codes, failure counters and revocable "remember me" tokens.
Codes and tokens are stored only as keyed digests.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
)

from smart_auth.state import metadata

account = Table(
    "account",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("email", String(254), nullable=False, unique=True),
    Column("phone", String(32)),
    Column("full_name", String(200), nullable=False, default=""),
    Column("password_hash", String(200)),
    Column("email_verified_at", DateTime),
    Column("active", Boolean, nullable=False, default=True),
    Column("created_at", DateTime, nullable=False),
    #: consecutive wrong passwords since the last good one (OWASP ASVS V2.2.1)
    Column("failed_logins", Integer, nullable=False, default=0),
    Column("locked_at", DateTime),
    #: once true the email second factor stays on (F4)
    Column("email_code_on", Boolean, nullable=False, default=False),
    #: base32 RFC 6238 secret when the person turned TOTP on
    Column("totp_secret", String(64)),
    #: the last RFC 6238 time step accepted: a code is never accepted twice (§5.2)
    Column("totp_last_step", Integer),
    #: a hospital-created account must choose its own password at first login (F2)
    Column("must_change_password", Boolean, nullable=False, default=False),
    Column("clause_version", String(32)),
    Column("clause_accepted_at", DateTime),
    Column("language", String(8)),
)

identity = Table(
    "identity",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("account_id", ForeignKey("account.id", ondelete="CASCADE"), nullable=False),
    Column("his_patient_id", Integer, nullable=False),
    #: self | guardian
    Column("relation", String(16), nullable=False),
    Column("verified_at", DateTime, nullable=False),
    UniqueConstraint("account_id", "his_patient_id"),
)

#: One-time codes and links (email verification, second factor, password reset, email change):
#: single use (``used_at``), short-lived (``expires_at``), attempt-limited (``attempts``).
one_time_code = Table(
    "one_time_code",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("account_id", ForeignKey("account.id", ondelete="CASCADE"), nullable=False),
    Column("purpose", String(16), nullable=False),
    Column("code_hash", String(64), nullable=False),
    #: what the code confirms, e.g. the new email address
    Column("target", String(254)),
    Column("expires_at", DateTime, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("used_at", DateTime),
)
Index("ix_one_time_code_account", one_time_code.c.account_id, one_time_code.c.purpose)
Index("ix_one_time_code_hash", one_time_code.c.code_hash)

#: Failure counters per key (``acct:<id>`` or ``addr:<ip>``) with the time before which
#: another attempt is refused: the progressive delay of bot protection (F3).
login_throttle = Table(
    "login_throttle",
    metadata,
    Column("key", String(80), primary_key=True),
    Column("failures", Integer, nullable=False, default=0),
    Column("window_start", DateTime, nullable=False),
    Column("blocked_until", DateTime),
)

#: Self-registrations in flight (F1): the activation link went to the email address the HIS holds
#: for ``his_patient_id`` (``email``); opening it proves control of that address, and only then
#: is a password chosen and the account created. Single use, expiring, digest only.
registration = Table(
    "registration",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("his_patient_id", Integer, nullable=False),
    Column("email", String(254), nullable=False),
    Column("language", String(8)),
    Column("expires_at", DateTime, nullable=False),
    Column("used_at", DateTime),
)
Index("ix_registration_patient", registration.c.his_patient_id)

#: "Remember me" tokens: revocable (``revoked``), expiring, only the digest stored.
remember_token = Table(
    "remember_token",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("account_id", ForeignKey("account.id", ondelete="CASCADE"), nullable=False),
    Column("expires_at", DateTime, nullable=False),
    Column("revoked", Boolean, nullable=False, default=False),
)
