"""Bearer tokens (RFC 6750) of the SMART authorization server -> ``Grant``.

The token validator registered last with the access policy: SMART access tokens carry no prefix,
so every token no other validator claims is looked up here. One indexed lookup per request:
the SHA-256 digest of the token against the state database's ``oauth_token`` table, unless
``FHIR_GATEWAY_OAUTH_TOKEN_CACHE_S`` lets a worker reuse a lookup for a few seconds (see
``OAuthStore``). A revocation (RFC 7009, a revoked refresh family, a patient revoking an app, a
deactivated client) takes effect on the very next request of the worker that made it, and of
every other worker within that time (at once when it is 0).
The grant's patients come from the token's launch context (SMART App Launch 2.x,
"Scopes and Launch Context": ``patient``); without one, a ``user/`` grant covers every patient
the account acts for (its own record and those in its care); a backend service's grant covers
the patients who shared with that partner (F25), each only as far as their Consents in force at
this request cover (``Grant.shares``: period, resource types, listed resources).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from access.policy import SMART, Grant, Share
from access.scopes import Level, levels_for, parse_scopes
from smart_auth.accounts.tables import identity
from smart_auth.oauth.store import OAuthStore
from smart_auth.sharing.service import shares_in_force


class BearerValidator:
    """``access.policy.TokenValidator`` of SMART access tokens, over the state database."""

    in_query = False

    def __init__(self, store: OAuthStore) -> None:
        self.store = store

    def accepts(self, token: str) -> bool:
        return True  # no prefix: every token the specific validators left

    def validate(self, token: str) -> Grant | None:
        row = self.store.by_access_token(token)
        if row is None:
            return None
        return self.grant_for(row)

    def _account_patients(self, account_id: int) -> frozenset[int]:
        """The HIS patients an account acts for: its own and those in its care, verified."""
        with self.store.engine.connect() as conn:
            ids = conn.execute(
                select(identity.c.his_patient_id).where(identity.c.account_id == account_id)
            ).scalars()
            return frozenset(int(i) for i in ids)

    def grant_for(self, row: Any) -> Grant:
        scopes = parse_scopes(row.scope)
        kind: Level
        shares: tuple[Share, ...] | None = None
        if row.account_id is None:
            kind = "system"
            shares = shares_in_force(self.store.engine, row.client_id)
            patients: frozenset[int] | None = frozenset(s.patient for s in shares)
            levels = levels_for("system")
        else:
            kind = "user" if "user" in scopes.levels else "patient"
            if row.patient_id is not None:
                patients = frozenset({row.patient_id})
            elif kind == "user":  # user/ scopes: every patient the account acts for (F8)
                patients = self._account_patients(row.account_id)
            else:
                patients = frozenset()
            levels = levels_for(kind, patient_selected=row.patient_id is not None)
        return Grant(
            subject=f"{kind}:{row.account_id if row.account_id is not None else row.client_id}",
            client_id=row.client_id,
            patients=patients,
            scopes=scopes,
            levels=levels,
            reach=SMART,
            shares=shares,
        )
