"""Results without an account (F9): result code + national ID -> a one-report grant.

When the HIS validates a lab bulletin it issues a 6-digit code (``lab_bulletin.access_code``)
that reaches the patient by SMS or e-mail. The code together with the patient's national ID
proves possession of that one result: ``redeem`` checks both against the HIS (digests compared
in constant time, so a near miss takes as long as a far one) and mints a bearer token limited
to ``DiagnosticReport/lab-N`` and the ``Binary`` of its PDF, read only, for
``results_token_ttl_s``. Attempts count per national ID and per address in the state database
(``smart_auth.limiter``): each is admitted atomically before it is judged, so attempts arriving
together never pass the limit; once ``max_attempts`` failed, every attempt, right or wrong,
answers ``TooManyAttempts`` until the block ends (OWASP ASVS V2.2.1, anti-automation).
Framework-free.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import delete, insert, select
from sqlalchemy.engine import Engine

from access.policy import RESULT_CODE, Grant
from fhir_gateway.his.connector import HisConnector
from smart_auth.limiter import AttemptLimiter, Refused, Rule

from .tables import result_grant

#: Bearer tokens of result grants carry this prefix, so other tokens skip the lookup.
TOKEN_PREFIX = "rc."  # noqa: S105 (a prefix, not a secret)
_CODE = re.compile(r"[0-9]{6}")
_NATIONAL_ID = re.compile(r"[0-9]{6,20}")


class ResultAccessError(Exception):
    """The code and national ID did not open a result (never says which one was wrong)."""


@dataclass(frozen=True)
class TooManyAttempts(Exception):
    retry_after: int


@dataclass(frozen=True, slots=True)
class ResultGrant:
    token: str
    expires_in: int
    report: str
    binary: str | None


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class ResultAccess:
    def __init__(
        self,
        state: Engine,
        his: HisConnector,
        *,
        ttl_s: int = 900,
        max_attempts: int = 5,
        block_s: int = 900,
    ) -> None:
        self.state = state
        self.his = his
        self.ttl_s = ttl_s
        self.max_attempts = max_attempts
        self.block_s = block_s
        self.limiter = AttemptLimiter(state)
        #: ``max_attempts`` judged (failures and attempts in flight), then blocked ``block_s``
        self.rule = Rule(
            limit=max_attempts,
            window_s=block_s,
            block_s=lambda failures: block_s if failures >= max_attempts else 0,
        )

    # --- redeeming a code ---------------------------------------------------------------------

    def redeem(self, code: str, national_id: str, address: str) -> ResultGrant:
        code, national_id = code.strip(), national_id.strip()
        keys = [f"result:nid:{_digest(national_id)}", f"result:addr:{address[:64]}"]
        try:
            ticket = self.limiter.reserve([(key, self.rule) for key in keys], _now())
        except Refused as refused:
            raise TooManyAttempts(refused.retry_after) from None
        found = None
        try:
            if _CODE.fullmatch(code) and _NATIONAL_ID.fullmatch(national_id):
                found = self._match(code, national_id)
        except BaseException:  # not judged (the HIS did not answer): the attempt is not counted
            self.limiter.passed(ticket)
            raise
        if found is None:
            self.limiter.failed(ticket, _now())
            raise ResultAccessError("The code or the national ID is not right")
        self.limiter.passed(ticket)
        bulletin_id, patient_id, document_id = found
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self.state.begin() as conn:
            conn.execute(
                insert(result_grant).values(
                    token_hash=_digest(token),
                    his_patient_id=patient_id,
                    bulletin_id=bulletin_id,
                    document_id=document_id,
                    expires_at=_now() + dt.timedelta(seconds=self.ttl_s),
                )
            )
            conn.execute(delete(result_grant).where(result_grant.c.expires_at < _now()))
        return ResultGrant(
            token,
            self.ttl_s,
            f"DiagnosticReport/lab-{bulletin_id}",
            f"Binary/{document_id}" if document_id is not None else None,
        )

    def _match(self, code: str, national_id: str) -> tuple[int, int, int | None] | None:
        """The validated bulletin of that national ID whose code matches, compared as digests
        in constant time over every candidate."""
        wanted = _digest(code).encode()
        found = None
        for bulletin in self.his.coded_bulletins(national_id):
            if hmac.compare_digest(_digest(bulletin.access_code).encode(), wanted):
                found = (bulletin.id, bulletin.patient_id, bulletin.document_id)
        return found

    # --- the grant behind a token -------------------------------------------------------------

    def grant_for(self, token: str) -> Grant | None:
        with self.state.connect() as conn:
            row = conn.execute(
                select(result_grant).where(
                    result_grant.c.token_hash == _digest(token),
                    result_grant.c.expires_at > _now(),
                )
            ).first()
        if row is None:
            return None
        resources = {f"DiagnosticReport/lab-{row.bulletin_id}"}
        if row.document_id is not None:
            resources.add(f"Binary/{row.document_id}")
        return Grant(
            subject=f"result-code:{row.bulletin_id}",
            patients=frozenset({int(row.his_patient_id)}),
            types=frozenset({"DiagnosticReport", "Binary"}),
            resources=frozenset(resources),
            reach=RESULT_CODE,
        )
