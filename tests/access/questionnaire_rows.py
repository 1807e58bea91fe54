"""Rows of the access contract for answering questionnaires (F18): ``PUT QuestionnaireResponse``.

Only those acting for the patient write, and only under a scope that carries the update
(``patient/QuestionnaireResponse.u``: the patient token has it); a partner, a result code or a
viewer never writes, nor do the read-only ``user/*.rs`` tokens. Another patient's response is
404 exactly like a missing one; a completed response is closed for good (409).

The responses are assignments the rows add to the HIS once (A's sent one, A's submitted one,
B's sent one); the body saves them in progress with no answer, which every questionnaire takes.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from fhir_gateway.his import schema as t
from tests.access.contract import DENIED, FORBIDDEN, MISSING_, Row, cells
from tests.access.world import MISSING, World

#: Who writes: the patient token (patient/QuestionnaireResponse.u, A in context); the guardian's
#: token carries the scope too, but for W, so A's response is missing to it.
WRITERS = {"patient": "ok", "guardian": MISSING_}


def _assignment(world: World, key: str, patient: int, status: str) -> str:
    """The id of an assignment of the HIS made once for the rows (``world.cache``)."""
    if key in world.cache:
        return str(world.cache[key])
    qa = t.questionnaire_assignment
    engine = sa.create_engine(world.his_url)
    sent = dt.datetime(2026, 10, 20, 9, 30)
    with engine.begin() as conn:
        his_id = int(conn.execute(sa.select(sa.func.max(qa.c.id))).scalar_one() or 0) + 1
        questionnaire = conn.execute(sa.select(sa.func.min(t.questionnaire.c.id))).scalar_one()
        conn.execute(
            qa.insert().values(
                id=his_id,
                questionnaire_id=questionnaire,
                patient_id=patient,
                sent_at=sent,
                status=status,
                submitted_at=sent if status == "submitted" else None,
                answers={} if status == "submitted" else None,
                updated_at=sent,
                version=1,
            )
        )
    engine.dispose()
    world.cache[key] = his_id
    return str(his_id)


def _own(world: World, name: str) -> dict[str, str]:
    return {"qr": _assignment(world, "qr-a", world.a, "sent")}


def _of_b(world: World, name: str) -> dict[str, str]:
    return {"qr": _assignment(world, "qr-b", world.b, "sent")}


def _closed(world: World, name: str) -> dict[str, str]:
    return {"qr": _assignment(world, "qr-a-closed", world.a, "submitted")}


def _body(key: str) -> Any:
    def body(world: World) -> dict[str, Any]:
        return {
            "resourceType": "QuestionnaireResponse",
            "id": str(world.cache[key]),
            "status": "in-progress",
        }

    return body


def _saved(world: World, credential: Any, response: Any) -> None:
    resource = response.get_json()
    assert resource["status"] == "in-progress", resource
    assert resource["subject"] == {"reference": f"Patient/{world.a}"}
    assert response.headers["ETag"] == f'W/"{resource["meta"]["versionId"]}"'


PATH = "/fhir/QuestionnaireResponse/{qr}"
ANOTHER = f"/fhir/QuestionnaireResponse/{MISSING}"

QUESTIONNAIRE_ROWS = [
    Row(
        "questionnaire-response-save-own",
        "PUT",
        lambda w: PATH,
        cells(FORBIDDEN, **WRITERS),
        missing=lambda w: ANOTHER,
        body=_body("qr-a"),
        setup=_own,
        check=_saved,
    ),
    Row(
        "questionnaire-response-save-of-b",
        "PUT",
        lambda w: PATH,
        cells(FORBIDDEN, patient=MISSING_, guardian=MISSING_),
        missing=lambda w: ANOTHER,
        body=_body("qr-b"),
        setup=_of_b,
    ),
    Row(
        "questionnaire-response-change-completed",
        "PUT",
        lambda w: PATH,
        cells(FORBIDDEN, patient=409, guardian=MISSING_),
        missing=lambda w: ANOTHER,
        body=_body("qr-a-closed"),
        setup=_closed,
    ),
]

assert all(row.expect["anonymous"] == DENIED for row in QUESTIONNAIRE_ROWS)
