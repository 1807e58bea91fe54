"""Signed keyset cursors for paging links (http://hl7.org/fhir/R4/http.html#paging).

A cursor names a position in a result ordering (sort value, record-kind rank, HIS id) and a
direction. It is short (a few dozen bytes, so links stay far below 2 KB), survives changes to the
HIS (it is a position, not an offset) and is signed over the query it belongs to and the grant
that made it: a link cannot be replayed with other search parameters or by another caller.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import orjson

from ..errors import BadRequest

_MAC_BYTES = 12


@dataclass(frozen=True, slots=True)
class Cursor:
    key: tuple[Any, int, int]
    forward: bool
    #: For multi-type walks ($everything): which resource type the key belongs to.
    part: int = 0


def _tag(value: Any) -> tuple[str, Any]:
    if isinstance(value, datetime):
        return "t", value.isoformat()
    if isinstance(value, date):
        return "d", value.isoformat()
    if isinstance(value, int | float | str):
        return "v", value
    raise TypeError(f"cannot page on a {type(value).__name__} sort value")


def _untag(tag: str, raw: Any) -> Any:
    if tag == "t":
        return datetime.fromisoformat(raw)
    if tag == "d":
        return date.fromisoformat(raw)
    return raw


class CursorCodec:
    """Encodes and verifies cursors with a server secret; ``previous`` secrets (a key being
    rotated out) still verify the links they signed, and sign nothing."""

    def __init__(self, secret: bytes, previous: tuple[bytes, ...] = ()) -> None:
        self._secret = secret
        self._previous = previous

    def _mac(self, payload: bytes, scope: str, secret: bytes | None = None) -> bytes:
        message = payload + b"\x00" + scope.encode()
        digest = hmac.new(self._secret if secret is None else secret, message, hashlib.sha256)
        return digest.digest()[:_MAC_BYTES]

    def _genuine(self, payload: bytes, scope: str, mac: bytes) -> bool:
        return any(
            hmac.compare_digest(mac, self._mac(payload, scope, secret))
            for secret in (self._secret, *self._previous)
        )

    def encode(self, cursor: Cursor, scope: str) -> str:
        tag, value = _tag(cursor.key[0])
        payload = orjson.dumps(
            [tag, value, cursor.key[1], cursor.key[2], int(cursor.forward), cursor.part]
        )
        token = payload + self._mac(payload, scope)
        return base64.urlsafe_b64encode(token).rstrip(b"=").decode()

    def decode(self, token: str, scope: str) -> Cursor:
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            payload, mac = raw[:-_MAC_BYTES], raw[-_MAC_BYTES:]
            if not self._genuine(payload, scope, mac):
                raise ValueError("signature")
            tag, value, rank, his_id, forward, part = orjson.loads(payload)
            return Cursor((_untag(tag, value), int(rank), int(his_id)), bool(forward), int(part))
        except (ValueError, TypeError, orjson.JSONDecodeError):
            raise BadRequest(
                "This paging link is not valid for this search or this caller; "
                "repeat the search to get fresh links"
            ) from None
