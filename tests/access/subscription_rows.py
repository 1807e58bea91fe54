"""Rows of the access contract for FHIR Subscriptions and their topics.

Only an app's authorization subscribes (a person's app or a partner's backend service): a
result code, a viewer link or a share never does (403). What an app subscribes to must be
readable under its grant: the query-filtered token (Observation only) may not subscribe to
reports, and nobody may filter on a patient outside their grant (B). A subscription is its
maker's: to every other app it is missing, exactly like one that never existed; a search
answers the caller's own only. Topics are public, like the CapabilityStatement listing them.
"""

from __future__ import annotations

from typing import Any

from tests.access.contract import DENIED, FORBIDDEN, MISSING_, OK, Row, cells, every
from tests.access.world import Credential, World

#: The endpoint of the rows' subscriptions (the contract's gateway allows the loopback
#: network; nothing is sent there: no worker runs in the contract's world).
HOOK = "https://127.0.0.1:9/hook"
TOPIC = "http://gateway.test/fhir/Basic/topic-lab-validated"
NO_SUBSCRIPTION = "0" * 32

#: Who subscribes: every app authorization whose grant reads DiagnosticReport.
SUBSCRIBERS = dict(
    patient=OK,
    guardian=OK,
    guardian_user=OK,
    user=OK,
    filtered=FORBIDDEN,
    partner=OK,
    partner_none=OK,
    result_code=FORBIDDEN,
    viewer=FORBIDDEN,
    share=FORBIDDEN,
)
#: A subscription made by A's patient app, as the others see it.
OWNED = dict(
    patient=OK,
    guardian=MISSING_,
    guardian_user=MISSING_,
    user=MISSING_,
    filtered=MISSING_,
    partner=MISSING_,
    partner_none=MISSING_,
    result_code=FORBIDDEN,
    viewer=FORBIDDEN,
    share=FORBIDDEN,
)


def body(name: str, patient: int | None = None) -> dict[str, Any]:
    made: dict[str, Any] = {
        "resourceType": "Subscription",
        "status": "requested",
        "reason": "contract",
        "criteria": TOPIC,
        "channel": {
            "type": "rest-hook",
            "endpoint": f"{HOOK}/{name}",
            "payload": "application/fhir+json",
        },
    }
    if patient is not None:
        made["_criteria"] = {
            "extension": [
                {
                    "url": "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/"
                    "backport-filter-criteria",
                    "valueString": f"patient=Patient/{patient}",
                }
            ]
        }
    return made


def _made_by_patient(world: World) -> str:
    """A new subscription of A's patient app."""
    answer = world.http.post(
        "/fhir/Subscription",
        json=body("patient"),
        headers={"Authorization": f"Bearer {world.tokens['patient']}"},
    )
    assert answer.status_code == 201, answer.get_data(as_text=True)
    return str(answer.get_json()["id"])


def _own(world: World, name: str) -> dict[str, str]:
    if "subscription" not in world.cache:
        world.cache["subscription"] = _made_by_patient(world)
    return {"sub": world.cache["subscription"]}


def _to_delete(world: World, name: str) -> dict[str, str]:
    """A fresh one for the patient's cell (which deletes it); one kept for the others."""
    if name == "patient":
        return {"sub": _made_by_patient(world)}
    if "subscription-kept" not in world.cache:
        world.cache["subscription-kept"] = _made_by_patient(world)
    return {"sub": world.cache["subscription-kept"]}


def _creating(world: World, name: str) -> dict[str, str]:
    """The credential of the cell: its subscription's endpoint names it."""
    world.cache["creating"] = name
    return {}


def _created(world: World, credential: Credential, response: Any) -> None:
    made = response.get_json()
    assert made["resourceType"] == "Subscription"
    assert made["status"] == "requested"
    assert made["channel"]["endpoint"] == f"{HOOK}/{credential.name}"
    assert response.headers["Location"].endswith(f"/Subscription/{made['id']}")


def _only_own(world: World, credential: Credential, response: Any) -> None:
    found = response.get_json()
    endpoints = {e["resource"]["channel"]["endpoint"] for e in found.get("entry", [])}
    assert endpoints <= {f"{HOOK}/{credential.name}"}, endpoints
    if credential.name == "patient":
        assert endpoints == {f"{HOOK}/patient"}


def _read(world: World, credential: Credential, response: Any) -> None:
    assert response.get_json()["id"] == world.cache["subscription"]


def _status(world: World, credential: Credential, response: Any) -> None:
    (entry,) = response.get_json()["entry"]
    parameters = {p["name"]: p for p in entry["resource"]["parameter"]}
    assert parameters["type"]["valueCode"] == "query-status"
    assert parameters["subscription"]["valueReference"]["reference"].endswith(
        world.cache["subscription"]
    )


SUBSCRIPTION_ROWS = [
    Row(
        "subscription-create",
        "POST",
        lambda w: "/fhir/Subscription",
        cells(**SUBSCRIBERS),
        body=lambda w: body(w.cache["creating"]),
        setup=_creating,
        status=201,
        check=_created,
    ),
    Row(
        "subscription-create-filtered-on-b",
        "POST",
        lambda w: "/fhir/Subscription",
        cells(FORBIDDEN),
        body=lambda w: body("nobody", w.b),
    ),
    Row(
        "subscription-search",
        "GET",
        lambda w: "/fhir/Subscription",
        cells(**{**SUBSCRIBERS, "filtered": OK}),
        setup=_own,
        check=_only_own,
    ),
    Row(
        "subscription-read",
        "GET",
        lambda w: "/fhir/Subscription/{sub}",
        cells(**OWNED),
        missing=lambda w: f"/fhir/Subscription/{NO_SUBSCRIPTION}",
        setup=_own,
        check=_read,
    ),
    Row(
        "subscription-status",
        "GET",
        lambda w: "/fhir/Subscription/{sub}/$status",
        cells(**OWNED),
        missing=lambda w: f"/fhir/Subscription/{NO_SUBSCRIPTION}/$status",
        setup=_own,
        check=_status,
    ),
    Row(
        "subscription-delete",
        "DELETE",
        lambda w: "/fhir/Subscription/{sub}",
        cells(**OWNED),
        missing=lambda w: f"/fhir/Subscription/{NO_SUBSCRIPTION}",
        setup=_to_delete,
        status=204,
    ),
    Row("subscription-topic", "GET", lambda w: "/fhir/Basic/topic-lab-validated", every(200)),
]

assert all(
    row.expect["anonymous"] in (DENIED, 200) and row.expect["forged-share"] in (DENIED, 200)
    for row in SUBSCRIPTION_ROWS
)
