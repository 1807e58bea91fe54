"""Server-side sessions: the browser's cookie holds a random id; the store keeps its digest and
the session's data (tokens included), so nothing of the tokens ever reaches the browser."""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from typing import Any

import sqlalchemy as sa
from flask import Flask, Request, Response
from flask.sessions import SessionInterface, SessionMixin
from werkzeug.datastructures import CallbackDict

metadata = sa.MetaData()
portal_session = sa.Table(
    "portal_session",
    metadata,
    sa.Column("id_hash", sa.String(64), primary_key=True),
    sa.Column("data", sa.Text, nullable=False),
    sa.Column("expires", sa.Float, nullable=False, index=True),
)


def _digest(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


class ServerSession(CallbackDict[str, Any], SessionMixin):
    def __init__(self, initial: dict[str, Any] | None = None, sid: str = "") -> None:
        def changed(_: Any) -> None:
            self.modified = True

        super().__init__(initial or {}, changed)
        self.sid = sid
        self.modified = False
        self.rotate = False


class StoreSessions(SessionInterface):
    """Sessions kept in a SQL table, cookie ``__Host-portal`` (Secure) over https."""

    def __init__(self, engine: sa.Engine, lifetime_s: float, secure: bool) -> None:
        self.engine = engine
        self.lifetime_s = lifetime_s
        self.secure = secure
        self.cookie = "__Host-portal" if secure else "portal"
        metadata.create_all(engine)

    def open_session(self, app: Flask, request: Request) -> ServerSession:
        sid = request.cookies.get(self.cookie, "")
        if sid:
            with self.engine.connect() as conn:
                row = conn.execute(
                    sa.select(portal_session.c.data).where(
                        portal_session.c.id_hash == _digest(sid),
                        portal_session.c.expires > time.time(),
                    )
                ).first()
            if row is not None:
                return ServerSession(json.loads(row.data), sid)
        return ServerSession()

    def save_session(  # type: ignore[override]
        self, app: Flask, session: ServerSession, response: Response
    ) -> None:
        old = session.sid
        if session.rotate or (not old and session.modified and dict(session)):
            session.sid = secrets.token_urlsafe(32)
        if old and (not dict(session) or session.sid != old):
            with self.engine.begin() as conn:
                conn.execute(
                    portal_session.delete().where(portal_session.c.id_hash == _digest(old))
                )
        if not dict(session):
            if old:
                response.delete_cookie(
                    self.cookie, path="/", secure=self.secure, httponly=True, samesite="Strict"
                )
            return
        expires = time.time() + self.lifetime_s
        with self.engine.begin() as conn:
            digest = _digest(session.sid)
            data = json.dumps(dict(session))
            done = conn.execute(
                portal_session.update()
                .where(portal_session.c.id_hash == digest)
                .values(data=data, expires=expires)
            ).rowcount
            if not done:
                conn.execute(
                    portal_session.insert().values(id_hash=digest, data=data, expires=expires)
                )
            conn.execute(portal_session.delete().where(portal_session.c.expires < time.time()))
        response.set_cookie(
            self.cookie,
            session.sid,
            path="/",
            secure=self.secure,
            httponly=True,
            samesite="Strict",
        )
        response.vary.add("Cookie")
