"""HTTP details of the FHIR API: content negotiation, rendering, conditional reads, gzip.

http://hl7.org/fhir/R4/http.html: ``application/fhir+json`` (``_format`` overrides Accept,
http.html#mime-type), ETag ``W/"versionId"`` and Last-Modified (http.html#read, #concurrency),
``If-None-Match`` / ``If-Modified-Since`` conditional reads (http.html#cread), and
``Prefer: handling`` (search.html#errors).
"""

from __future__ import annotations

import gzip
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

import orjson
from flask import Request, Response

from .errors import NotAcceptable

FHIR_JSON = "application/fhir+json"
_JSON_FORMATS = frozenset({"json", "application/json", "application/fhir+json", "text/json"})
_XML_FORMATS = frozenset({"xml", "text/xml", "application/xml", "application/fhir+xml"})
_ACCEPTABLE = frozenset({FHIR_JSON, "application/json", "*/*", "application/*", "text/json"})


def wants_fhir_json(request: Request) -> bool:
    """Whether the client accepts FHIR JSON; raises 406 if it only accepts what we lack."""
    fmt = request.args.get("_format")
    if fmt:
        base = fmt.split(";", 1)[0].strip().lower()
        if base in _JSON_FORMATS:
            return True
        raise NotAcceptable(f"_format {fmt[:40]} is not supported; this server speaks JSON")
    accept = request.headers.get("Accept", "")
    if not accept.strip():
        return True
    types = {part.split(";", 1)[0].strip().lower() for part in accept.split(",")}
    if types & _ACCEPTABLE:
        return True
    if types & _XML_FORMATS:
        raise NotAcceptable("FHIR XML is not supported; ask for application/fhir+json")
    return True  # e.g. text/html from a browser: answer JSON rather than nothing


def render(
    body: Mapping[str, Any],
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    *,
    pretty: bool = False,
) -> Response:
    option = orjson.OPT_INDENT_2 if pretty else 0
    response = Response(orjson.dumps(body, option=option), status=status, headers=headers)
    response.headers["Content-Type"] = f"{FHIR_JSON}; charset=utf-8"
    return response


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def version_headers(resource: Mapping[str, Any]) -> dict[str, str]:
    meta = resource.get("meta", {})
    headers = {}
    if "versionId" in meta:
        headers["ETag"] = f'W/"{meta["versionId"]}"'
    if "lastUpdated" in meta:
        headers["Last-Modified"] = format_datetime(_instant(meta["lastUpdated"]), usegmt=True)
    return headers


def not_modified(request: Request, resource: Mapping[str, Any]) -> bool:
    """http.html#cread: If-None-Match wins over If-Modified-Since (RFC 9110 §13.2.2)."""
    meta = resource.get("meta", {})
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match is not None:
        tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
        return "*" in tags or f'"{meta.get("versionId")}"' in tags
    since = request.headers.get("If-Modified-Since")
    if since and "lastUpdated" in meta:
        try:
            limit = parsedate_to_datetime(since)
        except (TypeError, ValueError):
            return False
        if limit.tzinfo is None:
            limit = limit.replace(tzinfo=UTC)
        return _instant(meta["lastUpdated"]).replace(microsecond=0) <= limit
    return False


def strict_handling(request: Request) -> bool:
    prefer = request.headers.get("Prefer", "")
    return any(p.strip() == "handling=strict" for p in prefer.split(","))


def gzip_response(request: Request, response: Response, min_bytes: int) -> Response:
    """Compress JSON responses when the client accepts gzip (RFC 9110 §8.4.1)."""
    if (
        response.direct_passthrough
        or response.is_streamed  # never buffer a streamed body (DICOM, exports)
        or response.status_code < 200
        or response.status_code in (204, 304)
        or "Content-Encoding" in response.headers
        or "gzip" not in request.headers.get("Accept-Encoding", "").lower()
    ):
        return response
    data = response.get_data()
    if len(data) < min_bytes:
        return response
    response.set_data(gzip.compress(data, compresslevel=5))
    response.headers["Content-Encoding"] = "gzip"
    response.vary.add("Accept-Encoding")
    return response
