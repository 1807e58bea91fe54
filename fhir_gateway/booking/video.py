"""Video consultations: the room of a video appointment and the link that joins it.

A ``VideoService`` makes one room per video appointment (its address is stored in the HIS with
the booking, ``appointment.video_url``) and, for a reader entitled to attend, the join link.
The built-in service is Jitsi Meet with JWT room authentication (the prosody ``token`` auth of
jitsi-meet; https://github.com/jitsi/lib-jitsi-meet/blob/master/doc/tokens.md): an HS256 token
whose claims are ``aud`` (the audience the Jitsi deployment accepts), ``iss`` (its app id),
``sub`` (the Jitsi domain), ``room`` (the one room it opens), ``nbf`` and ``exp`` (from a few
minutes before the appointment to its end) and ``context.user`` (who joins: the patient's
reference, never a name). The room name is 128 random bits: unguessable, and one per
appointment.
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any, Protocol
from urllib.parse import urlsplit

from joserfc import jwt
from joserfc.jwk import OctKey

#: Where the channel type of the built-in service is coded (R5 virtual-service-type has no
#: code for Jitsi Meet: the gateway's own).
CHANNEL_SYSTEM = "https://fhir-gateway.example/CodeSystem/virtual-service-type"


class VideoService(Protocol):
    """What the booking needs from a video service."""

    #: The Coding of ``virtualService.channelType``.
    channel: dict[str, str]

    def new_room(self) -> str:
        """The address of a new room, for one new video appointment."""
        ...

    def join_url(self, room_url: str, *, patient: int, start: dt.datetime, end: dt.datetime) -> str:
        """The link that lets the person acting for ``patient`` into the room, usable from a
        little before ``start`` until ``end`` (naive UTC)."""
        ...


class JitsiMeet:
    """Jitsi Meet rooms with JWT room authentication."""

    def __init__(
        self,
        base_url: str,
        *,
        app_id: str,
        secret: str,
        audience: str = "jitsi",
        lead: dt.timedelta = dt.timedelta(minutes=15),
    ) -> None:
        self.channel = {"system": CHANNEL_SYSTEM, "code": "jitsi-meet", "display": "Jitsi Meet"}
        self.base_url = base_url.rstrip("/")
        self.domain = urlsplit(self.base_url).hostname or ""
        self.app_id = app_id
        self.audience = audience
        self.lead = lead
        self._key = OctKey.import_key(secret.encode()) if secret else None

    def new_room(self) -> str:
        return f"{self.base_url}/{secrets.token_hex(16)}"

    def claims(
        self, room_url: str, *, patient: int, start: dt.datetime, end: dt.datetime
    ) -> dict[str, Any]:
        """The token's claims for one room and one patient."""
        room = room_url.rstrip("/").rsplit("/", 1)[-1]
        return {
            "aud": self.audience,
            "iss": self.app_id,
            "sub": self.domain,
            "room": room,
            "nbf": _epoch(start - self.lead),
            "exp": _epoch(end),
            "context": {"user": {"id": f"Patient/{patient}", "moderator": False}},
        }

    def join_url(self, room_url: str, *, patient: int, start: dt.datetime, end: dt.datetime) -> str:
        if self._key is None:  # no shared secret configured: the room address alone
            return room_url
        claims = self.claims(room_url, patient=patient, start=start, end=end)
        token = jwt.encode({"alg": "HS256", "typ": "JWT"}, claims, self._key, algorithms=["HS256"])
        return f"{room_url}?jwt={token}"


def _epoch(value: dt.datetime) -> int:
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return int(value.timestamp())
