"""Accept negotiation and the multipart/related writer of WADO-RS (PS3.18 §8.7, RFC 2387).

Accept headers (RFC 9110 §12.5.1, PS3.18 §8.7.1) are comma-separated media ranges with
parameters and q-values; ``type`` may be quoted or not (OHIF sends it unquoted), and commas inside
quoted strings do not split. The ``accept`` query parameter (PS3.18 §8.3.3.1) takes precedence
over the header. ``transfer-syntax`` absent means Explicit VR Little Endian for DICOM instances
and uncompressed frames (PS3.18 §8.7.3.5.2); ``*`` means the syntax the origin stores.

This module does no I/O and knows nothing of the web framework: it parses strings and produces
bytes.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

EXPLICIT_VR_LE = "1.2.840.10008.1.2.1"


class NotAcceptable(ValueError):
    """No media range of the request can be served (HTTP 406, PS3.18 §8.7.1)."""


@dataclass(frozen=True)
class MediaRange:
    """One media range of an Accept header: ``type/subtype`` with its parameters and q."""

    type: str
    subtype: str
    params: dict[str, str] = field(default_factory=dict)
    q: float = 1.0

    @property
    def media_type(self) -> str:
        return f"{self.type}/{self.subtype}"

    def matches(self, media_type: str) -> bool:
        """Whether this range admits ``media_type`` (``*/*`` and ``type/*`` wildcards)."""
        kind, _, sub = media_type.partition("/")
        return self.type in ("*", kind) and self.subtype in ("*", sub)


def _split(text: str, sep: str) -> list[str]:
    """Split on ``sep`` outside double-quoted strings (RFC 9110 §5.6.4 quoted-string)."""
    parts, buf, quoted, escaped = [], [], False, False
    for ch in text:
        if escaped:
            buf.append(ch)
            escaped = False
        elif ch == "\\" and quoted:
            buf.append(ch)
            escaped = True
        elif ch == '"':
            quoted = not quoted
            buf.append(ch)
        elif ch == sep and not quoted:
            parts.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
    parts.append("".join(buf))
    return [p.strip() for p in parts if p.strip()]


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return value


def parse_accept(header: str | Iterable[str]) -> list[MediaRange]:
    """Media ranges of one or more Accept values, highest q first (stable for equal q).

    Ranges with ``q=0`` are dropped (RFC 9110 §12.4.2: not acceptable). An empty header is
    ``*/*``.
    """
    text = header if isinstance(header, str) else ",".join(header)
    ranges: list[MediaRange] = []
    for item in _split(text, ","):
        pieces = _split(item, ";")
        kind, slash, sub = pieces[0].lower().partition("/")
        if not slash or not kind or not sub:
            continue
        params: dict[str, str] = {}
        q = 1.0
        for piece in pieces[1:]:
            name, eq, value = piece.partition("=")
            if not eq:
                continue
            name = name.strip().lower()
            if name == "q":
                try:
                    q = max(0.0, min(1.0, float(value)))
                except ValueError:
                    q = 0.0
                continue
            params[name] = _unquote(value)
        if q > 0:
            ranges.append(MediaRange(kind.strip(), sub.strip(), params, q))
    if not text.strip():
        ranges.append(MediaRange("*", "*"))
    return sorted(ranges, key=lambda r: -r.q)


@dataclass(frozen=True)
class Choice:
    """What a multipart response will carry: part media type and transfer syntax (``*``)."""

    part_type: str
    transfer_syntax: str


def choose(
    ranges: list[MediaRange], part_type: str, *, syntaxes: Iterable[str] | None = None
) -> Choice:
    """Pick the multipart/related representation of ``part_type`` parts (PS3.18 §8.7.3).

    ``multipart/related`` with a ``type`` admitting ``part_type`` (or none), ``*/*`` or a
    bare ``part_type`` range are acceptable; the first acceptable range wins. ``syntaxes``:
    the transfer syntaxes the caller can produce besides ``*`` (None: any). Raises
    :class:`NotAcceptable`.
    """
    offered = None if syntaxes is None else set(syntaxes)
    for r in ranges:
        if r.media_type == "multipart/related":
            inner = parse_accept(r.params.get("type", part_type))
            if not inner or not inner[0].matches(part_type):
                continue
        elif not (r.matches(part_type) or r.matches("multipart/related")):
            continue
        syntax = r.params.get("transfer-syntax", EXPLICIT_VR_LE)
        if syntax != "*" and offered is not None and syntax not in offered:
            continue
        return Choice(part_type, syntax)
    raise NotAcceptable(f"cannot answer as multipart/related; type={part_type} in that syntax")


def boundary() -> str:
    """A fresh random boundary (RFC 2046 §5.1.1: at most 70 characters, not in the body)."""
    return "dw" + secrets.token_hex(16)


def content_type(bound: str, part_type: str, transfer_syntax: str | None = None) -> str:
    """The response's Content-Type header (PS3.18 §8.7.3.2)."""
    value = f'multipart/related; type="{part_type}"; boundary={bound}'
    if transfer_syntax:
        value += f"; transfer-syntax={transfer_syntax}"
    return value


def part_head(bound: str, media_type: str, location: str | None = None) -> bytes:
    """The delimiter and headers before one part's body (RFC 2046 §5.1.1)."""
    head = f"\r\n--{bound}\r\nContent-Type: {media_type}\r\n"
    if location:
        head += f"Content-Location: {location}\r\n"
    return (head + "\r\n").encode("ascii")


def closing(bound: str) -> bytes:
    return f"\r\n--{bound}--\r\n".encode("ascii")


def write(bound: str, parts: Iterable[tuple[str, str | None, bytes]]) -> Iterator[bytes]:
    """Stream ``(media type, Content-Location, body)`` parts as one multipart body.

    Yields each part's head and body separately, so nothing is copied into a larger buffer.
    """
    for media_type, location, body in parts:
        yield part_head(bound, media_type, location)
        yield body
    yield closing(bound)


def read(body: bytes, content_type_value: str) -> list[tuple[dict[str, str], bytes]]:
    """Split a multipart/related body into (headers, body) parts (for tests and clients).

    The boundary may be quoted (RFC 2046 §5.1.1).
    """
    params = dict(
        (k.strip().lower(), _unquote(v))
        for k, _, v in (p.partition("=") for p in _split(content_type_value, ";")[1:])
    )
    bound = params["boundary"].encode("ascii")
    out: list[tuple[dict[str, str], bytes]] = []
    chunks = body.split(b"--" + bound)
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            break
        chunk = chunk.removeprefix(b"\r\n")
        head, _, data = chunk.partition(b"\r\n\r\n")
        headers = {}
        for line in head.decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            if name:
                headers[name.strip().lower()] = value.strip()
        out.append((headers, data.removesuffix(b"\r\n")))
    return out
