"""Helpers for API tests: walking searches through their pages."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from tests.conftest import BASE


def local(url: str) -> str:
    """A link of the gateway (absolute, with the public base) as a test-client path."""
    assert url.startswith(BASE), url
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def search(client: Any, path: str) -> dict[str, Any]:
    """GET a search; a path without a leading slash is relative to the FHIR base."""
    if not path.startswith("/"):
        path = f"/fhir/{path}"
    r = client.get(path)
    assert r.status_code == 200, (path, r.status_code, r.get_data(as_text=True)[:500])
    return r.get_json(force=True)


def walk(client: Any, path: str, *, limit_pages: int = 500) -> list[dict[str, Any]]:
    """Every match of a search, following next links."""
    out: list[dict[str, Any]] = []
    bundle = search(client, path)
    for _ in range(limit_pages):
        out += [e["resource"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]
        nxt = link(bundle, "next")
        if nxt is None:
            return out
        bundle = search(client, local(nxt))
    raise AssertionError("too many pages")


def link(bundle: dict[str, Any], relation: str) -> str | None:
    return next((x["url"] for x in bundle.get("link", []) if x["relation"] == relation), None)


def ids(resources: list[dict[str, Any]]) -> list[str]:
    return [r["id"] for r in resources]
