"""State of the shared attempt limiter (``smart_auth.limiter``).

``attempt_counter``: per key (``<purpose>:<subject>``, never a secret in clear) the attempts
being judged right now (``pending``), the failures counted in the window that began at
``window_start``, the time before which every attempt is refused (``blocked_until``) and the
time of the last admission (``touched_at``).
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Integer, String, Table

from smart_auth.state import metadata

attempt_counter = Table(
    "attempt_counter",
    metadata,
    Column("key", String(120), primary_key=True),
    Column("pending", Integer, nullable=False, default=0),
    Column("failures", Integer, nullable=False, default=0),
    Column("window_start", DateTime, nullable=False),
    Column("blocked_until", DateTime),
    #: the last admission: attempts still pending long after it belong to a worker that died
    Column("touched_at", DateTime),
)
