"""The benchmark's floor: a bare Flask app running the gateway's HIS queries, nothing else.

No mapping, no validation, no access checks, no Bundle: the HIS query and minimal JSON with
orjson. The gateway's figures are reported as a ratio of this app's on the same gunicorn
settings, in the same run.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

import orjson
from flask import Flask, Response, request
from sqlalchemy import or_, select

from fhir_gateway.his import schema as t
from fhir_gateway.his.sql import make_engine

app = Flask(__name__)
engine = make_engine(os.environ["FHIR_GATEWAY_HIS_URL"])
_patient = select(t.patient)
_lr = t.lab_result


def _json(body: Any) -> Response:
    return Response(
        orjson.dumps(body, default=str, option=orjson.OPT_NON_STR_KEYS), mimetype="application/json"
    )


@app.get("/floor/Patient/<int:pid>")
def patient(pid: int) -> Response:
    with engine.connect() as conn:
        row = conn.execute(_patient.where(t.patient.c.id == pid)).first()
    return _json(row._asdict() if row else {})


@app.get("/floor/Observation")
def observations() -> Response:
    """A patient's lab results, newest first, keyset after (observed_at, id) when given."""
    pid = int(request.args["patient"])
    count = int(request.args.get("_count", 100))
    stmt = select(_lr).where(_lr.c.patient_id == pid)
    if "before" in request.args:
        when, rid = request.args["before"].split("|")
        at = datetime.fromisoformat(when)
        stmt = stmt.where(_lr.c.observed_at <= at, or_(_lr.c.observed_at < at, _lr.c.id < int(rid)))
    stmt = stmt.order_by(_lr.c.observed_at.desc(), _lr.c.id.desc()).limit(count + 1)
    with engine.connect() as conn:
        rows = [r._asdict() for r in conn.execute(stmt)]
    return _json(rows[:count])
