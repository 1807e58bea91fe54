"""Cost of answering a questionnaire and of finding new assignments (F18).

Run: ``.venv/bin/python -m bench.bench_questionnaires`` (a fresh generated SQLite HIS and state
database in a temporary directory; development open access, in process through the Flask test
client, so HTTP and gunicorn are left out). Prints the median and p95 of ``PUT
QuestionnaireResponse`` saving answers (the read, the checks against the Questionnaire, the
conditional UPDATE and the read back), the same for submitting, and the rate at which the
worker's assignment source records new assignments (an event and a delivery each; sending is
``bench.bench_notify``'s), then a second poll that finds them all known.
"""

from __future__ import annotations

import datetime as dt
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from demo.generator import generate
from fhir_gateway.his import schema as t
from fhir_gateway.his.sql import SqlConnector, make_engine
from mappers import IdentifierSystems
from notifications.assignments import AssignmentSource
from notifications.events import QUESTIONNAIRE_ASSIGNED
from notifications.store import Preferences, Store
from smart_auth.state import create_state, make_state_engine

TODAY = dt.date(2026, 11, 1)
N_PUTS = 300
N_NEW = 500


def _assign(engine: sa.Engine, n: int, status: str, sent: dt.datetime) -> list[int]:
    qa = t.questionnaire_assignment
    with engine.begin() as conn:
        first = int(conn.execute(sa.select(sa.func.max(qa.c.id))).scalar_one() or 0) + 1
        questionnaire = conn.execute(
            sa.select(t.questionnaire.c.id).where(t.questionnaire.c.code.like("quality-%"))
        ).scalar()
        people = list(conn.execute(sa.select(t.patient.c.id).order_by(t.patient.c.id)).scalars())
        rows = [
            {
                "id": first + i,
                "questionnaire_id": questionnaire,
                "patient_id": people[i % len(people)],
                "sent_at": sent + dt.timedelta(seconds=i),
                "status": status,
                "updated_at": sent,
                "version": 1,
            }
            for i in range(n)
        ]
        conn.execute(qa.insert(), rows)
        conn.execute(sa.update(t.patient).values(email="bench@example.org"))
    return [r["id"] for r in rows]


def _quantiles(samples: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples)
    return f"median {statistics.median(ms):.2f} ms, p95 {ms[int(len(ms) * 0.95)]:.2f} ms"


def main() -> None:
    from gateway.app import create_app

    tmp = Path(tempfile.mkdtemp(prefix="bench-questionnaires-"))
    his_url = f"sqlite:///{tmp / 'his.sqlite'}"
    his_engine = make_engine(his_url)
    generate(his_engine, patients=200, seed=1, today=TODAY)
    ids = _assign(his_engine, N_PUTS, "sent", dt.datetime(2026, 10, 1))
    app = create_app(
        {
            "his_url": his_url,
            "state_url": f"sqlite:///{tmp / 'state.sqlite'}",
            "outbox_dir": str(tmp / "outbox"),
            "dev_open_access": True,
            "secret_key": "bench",
            "log_level": "WARNING",
        }
    )
    client = app.test_client()
    first = client.get(f"/fhir/QuestionnaireResponse/{ids[0]}").get_json()
    system = client.get(
        f"/fhir/Questionnaire?url={first['questionnaire'].split('|')[0]}"
    ).get_json()["entry"][0]["resource"]["item"][0]["answerOption"][0]["valueCoding"]["system"]

    def body(his_id: int, status: str) -> dict[str, Any]:
        items = [
            {"linkId": link, "answer": [{"valueCoding": {"system": system, "code": "some"}}]}
            for link in ("mobility", "self_care", "pain", "anxiety")
        ]
        items.append({"linkId": "health_today", "answer": [{"valueInteger": 70}]})
        items.append({"linkId": "comments", "answer": [{"valueString": "Better than last week."}]})
        return {
            "resourceType": "QuestionnaireResponse",
            "id": str(his_id),
            "status": status,
            "item": items,
        }

    for status in ("in-progress", "completed"):
        samples = []
        for his_id in ids:
            start = time.perf_counter()
            answer = client.put(f"/fhir/QuestionnaireResponse/{his_id}", json=body(his_id, status))
            samples.append(time.perf_counter() - start)
            assert answer.status_code == 200, answer.get_data(as_text=True)
        print(f"PUT QuestionnaireResponse, {status:11} ({N_PUTS}): {_quantiles(samples)}")

    _assign(his_engine, N_NEW, "sent", dt.datetime.now(dt.UTC).replace(tzinfo=None))
    state = make_state_engine(f"sqlite:///{tmp / 'poll-state.sqlite'}")
    create_state(state)
    his = SqlConnector.from_url(his_url, IdentifierSystems())
    store = Store(state, Preferences("en", frozenset({QUESTIONNAIRE_ASSIGNED}), frozenset()))
    source = AssignmentSource(
        store, his, lookback=dt.timedelta(minutes=10), max_age=dt.timedelta(days=30)
    )
    start = time.perf_counter()
    recorded = len(store.record(source.poll()))
    source.recorded()
    took = time.perf_counter() - start
    print(
        f"assignment poll: {recorded} new assignments recorded (event and mail delivery each) "
        f"in {took:.2f} s ({recorded / took:.0f}/s)"
    )
    start = time.perf_counter()
    events = source.poll()
    known = store.known([e.key for e in events])
    again = len(store.record([e for e in events if e.key not in known]))
    print(
        f"next poll over the same (look-back window): {again} recorded, "
        f"{time.perf_counter() - start:.3f} s"
    )
    his.engine.dispose()
    state.dispose()


if __name__ == "__main__":
    main()
