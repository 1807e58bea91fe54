"""The token validator of result-code tokens (F9), registered with the one access policy.

Tokens carry the ``rc.`` prefix, so the policy hands them here without trying the SMART lookup;
the grant they make is of the ``RESULT_CODE`` kind: it reads one DiagnosticReport and the
Binary of its PDF and nothing else, whatever surface it is shown to.
"""

from __future__ import annotations

from access.policy import Grant

from .service import TOKEN_PREFIX, ResultAccess


class ResultCodeValidator:
    in_query = False

    def __init__(self, results: ResultAccess) -> None:
        self.results = results

    def accepts(self, token: str) -> bool:
        return token.startswith(TOKEN_PREFIX)

    def validate(self, token: str) -> Grant | None:
        return self.results.grant_for(token)
