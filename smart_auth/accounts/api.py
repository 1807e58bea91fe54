"""The registration desk's admin API (F2): create the account of a HIS patient.

``POST /account/api/accounts`` with ``Authorization: Bearer <FHIR_GATEWAY_ACCOUNTS_ADMIN_TOKEN>``
(RFC 6750 §2.1) and a JSON body ``{"national_id", "email", "phone"?, "language"?}``. Answers
``201 {"account_id", "username"}``; ``400``/``404``/``409`` with ``{"error": <code>}``; ``401``
without the token. No cookie is read, so no CSRF token applies; the temporary password goes
only to the patient's mailbox, never into the answer.
"""

from __future__ import annotations

import hmac

from flask import Blueprint, Flask, Response, jsonify, request, url_for

from .hospital import create_for_patient
from .service import AccountService

_STATUS = {"bad_email": 400, "bad_national_id": 400, "no_match": 404, "taken": 409}


def register(app: Flask, service: AccountService, token: str) -> None:
    bp = Blueprint("accounts_api", __name__, url_prefix="/account/api")

    @bp.post("/accounts")
    def create() -> tuple[Response, int]:
        sent = request.headers.get("Authorization", "")
        if not token or not hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
            # RFC 6750 §3.1: a token was presented but is not the desk's: invalid_token.
            answer = jsonify(error="invalid_token" if sent else "unauthorized")
            answer.headers["WWW-Authenticate"] = 'Bearer realm="accounts"' + (
                ', error="invalid_token"' if sent else ""
            )
            return answer, 401
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return jsonify(error="invalid_body"), 400
        created = create_for_patient(
            service,
            str(body.get("national_id", "")),
            str(body.get("email", "")),
            str(body.get("phone", "") or ""),
            str(body.get("language", "en")),
            url_for("accounts.login", _external=True),
        )
        if created.error:
            return jsonify(error=created.error), _STATUS.get(created.error, 400)
        return jsonify(account_id=created.account_id, username=created.username), 201

    app.register_blueprint(bp)
