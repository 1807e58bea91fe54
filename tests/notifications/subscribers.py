"""What the FHIR Subscription tests share: a subscriber's endpoint (a real HTTP server that
keeps every notification it is sent, and can be told to fail or to redirect), the gateway
with its authorization server over the notification tests' HIS and state database, and the
Subscription resources an app sends."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from notifications.subscriptions import (
    FILTER_CRITERIA,
    HEARTBEAT_PERIOD,
    PAYLOAD_CONTENT,
    TIMEOUT,
)
from tests.conftest import BASE
from tests.smart_auth.test_oauth_fixtures import launch, make_app

#: What the subscription tests' gateway and worker share besides the HIS and the state.
ALLOW_LOCAL = {
    "subscription_allow_http": True,
    "subscription_allow_private": True,
    "subscription_heartbeat_min_s": 1,
    "subscription_tick_s": 0.3,
    "subscription_max_per_app": 30,
}


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def status(self) -> dict[str, Any]:
        """The SubscriptionStatus parameters, by name (the Bundle's first entry)."""
        resource = self.body["entry"][0]["resource"]
        assert resource["resourceType"] == "Parameters"
        return {p["name"]: p for p in resource["parameter"]}

    @property
    def kind(self) -> str:
        return str(self.status["type"]["valueCode"])


@dataclass
class Endpoint:
    """A subscriber's endpoint. ``fail``: paths answered 500; ``redirect``: paths answered
    302 to ``/redirected`` (which must never be reached)."""

    received: list[Received] = field(default_factory=list)
    fail: set[str] = field(default_factory=set)
    redirect: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def __call__(self, environ: Any, start_response: Any) -> Any:
        request = Request(environ)
        with self.lock:
            self.received.append(
                Received(request.path, dict(request.headers), json.loads(request.get_data()))
            )
            if request.path in self.fail:
                return Response("no", status=500)(environ, start_response)
            if request.path in self.redirect:
                answer = Response("", status=302, headers={"Location": f"{self.url}/redirected"})
                return answer(environ, start_response)
        return Response("", status=200)(environ, start_response)

    def at(self, path: str, kind: str | None = None) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.path == path and (kind is None or r.kind == kind)]


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    receiver = Endpoint()
    server = make_server("127.0.0.1", 0, receiver, threaded=True)
    receiver.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()


def gateway(his_url: str, tmp_path: Path, **extra: Any) -> Flask:
    """The gateway (authorization on) over the state database the worker uses."""
    return make_app(his_url, tmp_path, log_level="WARNING", **{**ALLOW_LOCAL, **extra})


def app_token(
    app: Flask, patients: tuple[tuple[int, str], ...], scope: str = "openid fhirUser user/*.rs"
) -> dict[str, Any]:
    """A person's app authorized through the real sign-in and consent pages."""
    done = launch(app, scope=scope, patients=patients)
    return {**done, "token": done["token"]["access_token"]}


def topic_url(kind: str) -> str:
    return f"{BASE}/Basic/topic-{kind}"


def subscription(
    kind: str,
    endpoint: str,
    *,
    payload: str = "id-only",
    heartbeat: int | None = None,
    patient: int | None = None,
    headers: tuple[str, ...] = (),
) -> dict[str, Any]:
    """A Subscription of the backport IG's R4 form, as an app sends it."""
    channel: dict[str, Any] = {
        "type": "rest-hook",
        "endpoint": endpoint,
        "payload": "application/fhir+json",
        "_payload": {"extension": [{"url": PAYLOAD_CONTENT, "valueCode": payload}]},
        "extension": [{"url": TIMEOUT, "valueUnsignedInt": 5}],
    }
    if heartbeat is not None:
        channel["extension"].append({"url": HEARTBEAT_PERIOD, "valueUnsignedInt": heartbeat})
    if headers:
        channel["header"] = list(headers)
    body: dict[str, Any] = {
        "resourceType": "Subscription",
        "status": "requested",
        "reason": "tests",
        "criteria": topic_url(kind),
        "channel": channel,
    }
    if patient is not None:
        body["_criteria"] = {
            "extension": [{"url": FILTER_CRITERIA, "valueString": f"patient=Patient/{patient}"}]
        }
    return body


def subscribe(app: Flask, token: str, body: dict[str, Any]) -> Any:
    return app.test_client().post(
        "/fhir/Subscription", json=body, headers={"Authorization": f"Bearer {token}"}
    )


def get(app: Flask, token: str, path: str) -> Any:
    return app.test_client().get(path, headers={"Authorization": f"Bearer {token}"})
