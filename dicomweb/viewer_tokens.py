"""Short-lived viewer tokens bound to one study (issue F15), free of any web framework.

A viewer link carries a token that lets an image viewer (OHIF) run the QIDO-RS and WADO-RS
requests of ONE study (PS3.18 §10.4, §10.6) without holding the caller's own credentials, the
same idea as the study-scoped tokens of Orthanc's authorization plugin. The token is signed
(HMAC-SHA256 with itsdangerous, RFC 2104), carries its issue time and is refused after
``ttl`` seconds; it names the Study Instance UID and the DICOM PatientID the study belongs to,
so a request under it is imposed both (``dicomweb.web.context.PacsScope``).

Tokens start with ``vt1.`` so they are told apart from OAuth bearer tokens (RFC 6750 §2.1)
without trying to verify every bearer token.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer

from access.policy import VIEWER, Grant

PREFIX = "vt1."
_SALT = "dicomweb-viewer-token"


class ViewerTokenError(Exception):
    """A token that cannot be used; ``status`` is the HTTP status it answers (RFC 6750 §3.1)."""

    status = 401

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ExpiredToken(ViewerTokenError):
    """The token was genuine but is older than its time to live."""


class InvalidToken(ViewerTokenError):
    """Not a token this gateway made (bad signature, malformed, wrong payload)."""


@dataclass(frozen=True, slots=True)
class ViewerClaim:
    """What a valid viewer token allows: one study of one DICOM patient.

    ``his_patient``: the HIS patient the study belongs to (None only where the minting grant
    covered every patient, in development); ``subject``: who minted the link, so the viewer's
    reads are audited as theirs.
    """

    study_uid: str
    patient_id: str
    his_patient: int | None = None
    subject: str = ""


def is_viewer_token(token: str | None) -> bool:
    """Whether ``token`` has the form of a viewer token (not whether it is valid)."""
    return bool(token) and str(token).startswith(PREFIX)


class ViewerTokens:
    """Mints and verifies viewer tokens with one secret and one time to live (seconds).

    ``secret`` may be a list (itsdangerous's key rotation): the last signs, every one
    verifies. ``clock`` (seconds since the epoch) is the time tokens are stamped and checked with.
    """

    def __init__(
        self, secret: bytes | list[bytes], ttl: int, clock: Callable[[], float] = time.time
    ) -> None:
        if ttl <= 0:
            raise ValueError("a viewer token needs a positive time to live")
        self.ttl = ttl

        class _Signer(TimestampSigner):
            def get_timestamp(self) -> int:
                return int(clock())

        self._serializer = URLSafeTimedSerializer(secret, salt=_SALT, signer=_Signer)

    def mint(self, claim: ViewerClaim) -> str:
        """A token for ``claim``, valid for ``ttl`` seconds from now."""
        body = self._serializer.dumps(
            {
                "s": claim.study_uid,
                "p": claim.patient_id,
                "h": claim.his_patient,
                "u": claim.subject,
            }
        )
        return PREFIX + str(body)

    def verify(self, token: str) -> ViewerClaim:
        """The claim of a genuine, unexpired token; ``ExpiredToken``/``InvalidToken`` otherwise."""
        if not is_viewer_token(token):
            raise InvalidToken("Not a viewer token")
        try:
            data = self._serializer.loads(token[len(PREFIX) :], max_age=self.ttl)
        except SignatureExpired:
            raise ExpiredToken("The viewer token has expired") from None
        except BadSignature:
            raise InvalidToken("The viewer token is not valid") from None
        if (
            not isinstance(data, dict)
            or not isinstance(data.get("s"), str)
            or not isinstance(data.get("p"), str)
            or not data["s"]
            or not (data.get("h") is None or isinstance(data.get("h"), int))
            or not isinstance(data.get("u", ""), str)
        ):
            raise InvalidToken("The viewer token is not valid")
        return ViewerClaim(data["s"], data["p"], data.get("h"), data.get("u", ""))


class ViewerTokenValidator:
    """``access.policy.TokenValidator`` of viewer tokens: a grant of the ``VIEWER`` kind, which
    searches and retrieves its one study and nothing else. The viewer sends the token in the
    query string of its own URL too, so it may come there."""

    in_query = True

    def __init__(self, tokens: ViewerTokens) -> None:
        self.tokens = tokens

    def accepts(self, token: str) -> bool:
        return is_viewer_token(token)

    def validate(self, token: str) -> Grant | None:
        try:
            claim = self.tokens.verify(token)
        except ViewerTokenError:
            return None
        return Grant(
            subject=claim.subject or "viewer-link",
            patients=frozenset({claim.his_patient}) if claim.his_patient is not None else None,
            studies=frozenset({claim.study_uid}),
            reach=VIEWER,
        )
