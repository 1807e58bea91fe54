"""What every screen of the portal uses: the gateway client of this app, the signed-in guard,
FHIR reads that fail loudly (a refused or failed read is a ``GatewayError``, never an empty
list), independent reads made concurrently, writes, the error page, and the day typed in a date
input."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import IO, Any, TypeVar

import requests
from flask import current_app, redirect, render_template, session, url_for

from portal.client import Gateway, GatewayError, Params

F = TypeVar("F", bound=Callable[..., Any])

#: at most this many FHIR requests of one page run at once
PAGE_FANOUT = 4


def gateway() -> Gateway:
    found: Gateway = current_app.extensions["portal_gateway"]
    return found


def signed_in(view: F) -> F:
    """The view runs only for a signed-in session; otherwise the start page."""

    @functools.wraps(view)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        if not session.get("tokens"):
            return redirect(url_for("start"))
        return view(*args, **kwargs)

    return guarded  # type: ignore[return-value]


def active() -> str:
    """The id of the patient the session is acting for (the identity switcher's choice)."""
    return str(session.get("active", ""))


def problem(status: int, message: str) -> tuple[str, int]:
    return render_template("error.html", message=message, error_page=True), status


def matches(bundle: dict[str, Any], resource_type: str | None = None) -> list[dict[str, Any]]:
    """The resources a searchset Bundle found (``search.mode`` match), of ``resource_type``."""
    found = []
    for entry in bundle.get("entry", []):
        resource = entry.get("resource") or {}
        if (entry.get("search") or {}).get("mode", "match") != "match":
            continue
        if resource_type and resource.get("resourceType") != resource_type:
            continue
        found.append(resource)
    return found


def included(bundle: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The resources a Bundle carries, matched or included, by ``Type/id``."""
    return {
        f"{r['resourceType']}/{r['id']}": r
        for r in (e.get("resource") or {} for e in bundle.get("entry", []))
        if r.get("resourceType") and r.get("id")
    }


def _bundle(answer: requests.Response, what: str) -> dict[str, Any]:
    if answer.status_code != 200:
        raise GatewayError(answer.status_code, what)
    found: dict[str, Any] = answer.json()
    return found


def search(resource_type: str, params: Params) -> dict[str, Any]:
    """A FHIR search as the session; the Bundle, or ``GatewayError``."""
    return _bundle(gateway().fhir(session, resource_type, params), f"{resource_type} search")


def read(path: str) -> dict[str, Any] | None:
    """A FHIR read as the session; ``None`` when the gateway says it is not there for this
    session (404, 403, 410, or a malformed id: 400)."""
    answer = gateway().fhir(session, path)
    if answer.status_code in (400, 403, 404, 410):
        return None
    found: dict[str, Any] = _bundle(answer, "read")
    return found


def searches(*queries: tuple[str, Params]) -> list[dict[str, Any]]:
    """Several independent searches of one page, made concurrently (at most ``PAGE_FANOUT`` at a
    time) with the session's token, refreshed once beforehand; the Bundles in order."""
    client = gateway()
    tokens = client.fresh(session)

    def one(query: tuple[str, Params]) -> dict[str, Any]:
        resource_type, params = query
        answer = client.fhir_with(tokens, resource_type, params)
        return _bundle(answer, f"{resource_type} search")

    if len(queries) == 1:
        return [one(queries[0])]
    with ThreadPoolExecutor(max_workers=min(PAGE_FANOUT, len(queries))) as pool:
        return list(pool.map(one, queries))


def send(
    method: str,
    path: str,
    *,
    json: Any = None,
    data: bytes | IO[bytes] | None = None,
    content_type: str | None = None,
    headers: dict[str, str] | None = None,
    params: Params | None = None,
) -> requests.Response:
    """A write (or an operation) to the FHIR API as the session; the caller reads the status
    (writes have answers the screen must explain: 409, 412, 422)."""
    return gateway().send(
        session,
        method,
        path,
        json=json,
        data=data,
        content_type=content_type,
        headers=headers,
        params=params,
    )


def first(values: Sequence[Any] | None) -> Any:
    return values[0] if values else None


def typed_day(form: Any, name: str) -> str:
    """The day typed in NHS.UK frontend's date input ``name`` (``<name>[day]``, ``[month]``,
    ``[year]``) in ISO form, "" when all three are empty; what is no real day comes back as
    typed (``2023-2-31``), which ``date.fromisoformat`` refuses."""
    parts = [str(form.get(f"{name}[{part}]", "")).strip() for part in ("year", "month", "day")]
    if not any(parts):
        return ""
    try:
        return dt.date(*(int(part) for part in parts)).isoformat()
    except (ValueError, OverflowError):  # not numbers, no such day, or past any year
        return "-".join(parts)
