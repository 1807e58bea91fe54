"""Liveness and readiness for load balancers and orchestrators.

``/health/live`` answers as long as the process serves requests. ``/health/ready`` also asks the
HIS (a trivial query) and answers 503 while the HIS cannot be reached, so a balancer stops
sending traffic to a worker that could only answer 503s.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app

from fhir_gateway.his.connector import HisUnreachable
from fhir_gateway.http import render

health = Blueprint("health", __name__)


@health.get("/health/live")
def live() -> Response:
    return render({"status": "pass"})


@health.get("/health/ready")
def ready() -> Response:
    try:
        current_app.extensions["his"].ping()
    except HisUnreachable:
        return render(
            {"status": "fail", "checks": {"his": "unreachable"}}, 503, {"Retry-After": "5"}
        )
    return render({"status": "pass", "checks": {"his": "pass"}})
