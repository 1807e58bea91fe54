"""The machinery of the access contract: a row is one request (a surface, an interaction, a
target), a cell that row under one credential, and its expectation one of the outcomes the
rules allow. ``test_contract`` holds the table itself.

Outcomes:

* ``OK`` (200, or the row's success status): the body holds only data of the credential's
  patients (FHIR: every ``Patient/N`` it names; DICOM: no instance of anybody else);
* ``EMPTY``: 200 with nothing in it (a search narrowed to nothing); where the row names its
  missing twin, answered exactly like it (a search under a series no record has);
* ``MISSING``: 404, answered exactly like the same request for an id no record has;
* ``DENIED``: 401 with a ``Bearer`` challenge, ``error="invalid_token"`` when a token was sent;
* ``FORBIDDEN``: 403 with ``error="insufficient_scope"``;
* ``LOGIN``: a page of the signed-in person: a bearer token is no session, so the answer is a
  redirect to the sign-in page (or 401/400 for a form post), never the person's page;
* any other int: exactly that status (405 for an interaction the gateway does not serve, 400
  for a paging link of another grant or a bad request at the authorization server).
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from typing import Any

import pytest

from tests.access.world import Credential, World, owners

OK = "ok"
EMPTY = "empty"
MISSING_ = "missing"
DENIED = "denied"
FORBIDDEN = "forbidden"
LOGIN = "login"

#: The credential kinds, in the table's column order.
UNAUTHENTICATED = (
    "anonymous",
    "malformed",
    "expired",
    "revoked",
    "forged-result-code",
    "forged-viewer",
    "forged-share",
)
AUTHENTICATED = (
    "patient",
    "guardian",
    "guardian-user",
    "user",
    "filtered",
    "partner",
    "partner-none",
    "result-code",
    "viewer",
    "share",
)
COLUMNS = UNAUTHENTICATED + AUTHENTICATED

Path = Callable[[World], str]


@dataclass(frozen=True)
class Row:
    """One request of one surface, and what every credential gets from it."""

    name: str
    method: str
    path: Path
    #: credential -> expected outcome; ``cells`` fills the unauthenticated columns
    expect: Mapping[str, str | int]
    #: the same request for something no record has (MISSING cells compare with it)
    missing: Path | None = None
    form: Callable[[World], dict[str, str]] | None = None
    body: Callable[[World], Any] | None = None
    #: a request body of bytes (with its Content-Type in ``headers``)
    raw: Callable[[World], bytes] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    #: the credential goes in the query string (``?token=``) instead of Authorization
    in_query: bool = False
    #: run before the request: returns replacements for ``{placeholders}`` of the path
    setup: Callable[[World, str], dict[str, str]] | None = None
    #: extra checks of an OK answer: (world, credential, response)
    check: Callable[[World, Credential, Any], None] | None = None
    #: the WSGI environment of the request (a client address)
    environ: Callable[[], dict[str, str]] | None = None
    #: the success status of OK cells
    status: int = 200
    #: credential -> the known defect that makes the cell fail today
    xfail: Mapping[str, str] = field(default_factory=dict)


def cells(default: str | int | None = None, **given: str | int) -> dict[str, str | int]:
    """Expectations of a row: unauthenticated credentials are DENIED unless given; the rest
    ``default`` unless given (names with ``-`` are spelled with ``_``)."""
    out: dict[str, str | int] = {name: DENIED for name in UNAUTHENTICATED}
    if default is not None:
        out.update({name: default for name in AUTHENTICATED})
    out.update({k.replace("_", "-"): v for k, v in given.items()})
    missing = set(COLUMNS) - set(out)
    assert not missing, f"cells without an expectation: {missing}"
    return out


def every(outcome: str | int) -> dict[str, str | int]:
    """The same outcome for every credential, tokens or not (open surfaces)."""
    return {name: outcome for name in COLUMNS}


# --- making the request --------------------------------------------------------------------------


def send(world: World, row: Row, credential: Credential, path: str | None = None) -> Any:
    headers = dict(row.headers)
    url = path if path is not None else row.path(world)
    if row.in_query:
        token = credential.headers.get("Authorization", "").removeprefix("Bearer ")
        if token:
            url += ("&" if "?" in url else "?") + f"token={token}"
    else:
        headers.update(credential.headers)
    kwargs: dict[str, Any] = {"method": row.method, "headers": headers}
    if row.form is not None:
        kwargs["data"] = row.form(world)
    if row.body is not None:
        kwargs["json"] = row.body(world)
    if row.raw is not None:
        kwargs["data"] = row.raw(world)
    if row.environ is not None:
        kwargs["environ_base"] = row.environ()
    return world.http.open(url, **kwargs)


def text(response: Any) -> str:
    return response.get_data()[:400].decode("utf-8", "replace")


# --- what each outcome means ---------------------------------------------------------------------


def assert_denied(response: Any, credential: Credential) -> None:
    assert response.status_code == 401, (response.status_code, text(response))
    challenge = response.headers.get("WWW-Authenticate", "")
    assert challenge.startswith("Bearer"), challenge
    if credential.presented:
        assert 'error="invalid_token"' in challenge, challenge
    else:
        assert "error=" not in challenge, challenge


def assert_forbidden(response: Any) -> None:
    assert response.status_code == 403, (response.status_code, text(response))
    challenge = response.headers.get("WWW-Authenticate", "")
    assert challenge.startswith("Bearer"), challenge
    assert 'error="insufficient_scope"' in challenge, challenge


def assert_like_missing(
    world: World, row: Row, credential: Credential, response: Any, path: str, status: int = 404
) -> None:
    assert response.status_code == status, (response.status_code, text(response))
    assert row.missing is not None, f"{row.name}: a 404 row needs its missing twin"
    absent = send(world, row, credential, row.missing(world))
    assert absent.status_code == status, (absent.status_code, text(absent))
    assert response.mimetype == absent.mimetype
    head = {k: v for k, v in response.headers.items() if k not in _VOLATILE}
    assert head == {k: v for k, v in absent.headers.items() if k not in _VOLATILE}
    twin = row.missing(world)
    real, fake = _differing(path, twin)
    unlike = _unlike(response.get_data(), absent.get_data(), real, fake)
    assert not unlike, unlike


#: Headers that differ between any two answers (or with the length of an id in the body).
_VOLATILE = {"X-Request-ID", "Content-Length"}


def _differing(path: str, other: str) -> tuple[str, str]:
    """The path segments that differ between a request and its missing twin."""
    a, b = path.split("?")[0].split("/"), other.split("?")[0].split("/")
    diff = [(x, y) for x, y in zip(a, b, strict=False) if x != y]
    assert len(diff) == 1, (path, other)
    return diff[0]


#: A body cut for comparing: a percent-escape, a word (ids, UIDs, link ids are one each), or
#: any other single character.
_TOKENS = re.compile(rb"%[0-9A-Fa-f]{2}|[\w.~-]+|.", re.S)


def _unlike(body: bytes, twin: bytes, real: str, fake: str) -> list[tuple[bytes, bytes]]:
    """The places where a body and its missing twin's differ other than by the id asked there
    and the twin's id: the two are lined up word by word, and each stretch that differs must
    read the same once its own id is put as ``{id}``. Replacing the id throughout the whole body
    also rewrote it inside other words (Binary ``2`` inside a random share link id the page
    repeats), so whether the bodies matched depended on the link drawn."""
    mine, theirs = _TOKENS.findall(body), _TOKENS.findall(twin)
    found = []
    lined_up = SequenceMatcher(None, mine, theirs, autojunk=False)
    for tag, i1, i2, j1, j2 in lined_up.get_opcodes():
        if tag == "equal":
            continue
        here, there = b"".join(mine[i1:i2]), b"".join(theirs[j1:j2])
        same = here.replace(real.encode(), b"{id}") == there.replace(fake.encode(), b"{id}")
        if real.encode() not in here or not same:
            found.append((here[:120], there[:120]))
    return found


def assert_login(response: Any, method: str) -> None:
    """A page of the signed-in person asked with a bearer token only: the sign-in page for a
    GET; a form post is refused (its CSRF token is missing) or sent to sign in as well."""
    if response.status_code in (301, 302, 303):
        location = response.headers["Location"]
        assert "/account/login" in location, location
        return
    assert method != "GET", (response.status_code, text(response))
    assert response.status_code in (400, 401, 403), (response.status_code, text(response))
    if response.status_code == 401:  # RFC 9110 §15.5.2: a 401 names how to authenticate
        assert "WWW-Authenticate" in response.headers, text(response)


def forbidden_uids(world: World, credential: Credential) -> set[str]:
    """Study, series and instance UIDs the credential must never receive: those of every
    patient it does not act for (B's planted ones too), and for a viewer of every study but
    its own."""
    mine = set(credential.patients)
    out = {uid for pair in world.planted for uid in pair}
    for pid, uids in world.studies.items():
        for uid in uids:
            bound = credential.name in ("viewer", "share")  # to the one study they open
            if pid not in mine or (bound and uid != world.mixed_study):
                out |= {x for pair in world.instances[uid] for x in pair}
                if uid != world.mixed_study:
                    out.add(uid)
    return out


def assert_only_own(world: World, credential: Credential, response: Any) -> None:
    """Nothing in the answer belongs to anybody the credential does not act for."""
    mimetype = response.mimetype or ""
    data = response.get_data()
    if mimetype == "application/zip":
        archive = zipfile.ZipFile(io.BytesIO(data))
        try:
            data = b"".join(archive.read(name) for name in archive.namelist())
        except (RuntimeError, NotImplementedError):  # encrypted (a POST export): names only
            data = "\n".join(archive.namelist()).encode()
    if "fhir" in mimetype:
        body = json.loads(data)
        found = [e["resource"] for e in body.get("entry", [])] if "entry" in body else [body]
        for resource in found:
            if resource.get("resourceType") == "OperationOutcome":
                continue
            if resource.get("resourceType") == "AuditEvent":
                # in the compartment of every patient it is about (entities in the patient
                # role); the entities naming what was asked may name ids that do not exist
                about = concerned(resource)
                assert not about or about & set(credential.patients), (resource["id"], about)
                continue
            assert owners(resource) <= set(credential.patients), (
                resource.get("resourceType"),
                resource.get("id"),
                owners(resource),
            )
    for uid in forbidden_uids(world, credential):
        assert uid.encode() not in data, f"an instance of someone else: {uid}"


def concerned(event: dict[str, Any]) -> set[int]:
    """The patients an AuditEvent is about (its entities in the patient role, code 1)."""
    return {
        int(e["what"]["reference"].split("/")[1])
        for e in event.get("entity", [])
        if e.get("role", {}).get("code") == "1"
    }


def is_empty(response: Any) -> bool:
    if response.status_code == 204:
        return True
    if response.status_code != 200:
        return False
    body = json.loads(response.get_data() or b"[]")
    if isinstance(body, list):
        return body == []
    return [e for e in body.get("entry", []) if e["search"]["mode"] == "match"] == []


def judge(world: World, row: Row, name: str) -> None:
    """Make the request of one cell and hold the answer to the expectation."""
    credential = world.credentials[name]
    expected = row.expect[name]
    path = row.path(world)
    if row.setup is not None:
        path = path.format(**row.setup(world, name))
    response = send(world, row, credential, path)
    if expected == DENIED:
        assert_denied(response, credential)
    elif expected == FORBIDDEN:
        assert_forbidden(response)
    elif expected == MISSING_:
        assert_like_missing(world, row, credential, response, path)
    elif expected == LOGIN:
        assert_login(response, row.method)
    elif expected == EMPTY:
        assert is_empty(response), (response.status_code, text(response))
        if row.missing is not None:
            assert_like_missing(world, row, credential, response, path, response.status_code)
    elif expected == OK:
        assert response.status_code == row.status, (response.status_code, text(response))
        assert_only_own(world, credential, response)
        if row.check is not None:
            row.check(world, credential, response)
    else:
        assert response.status_code == expected, (response.status_code, text(response))
        if row.check is not None:
            row.check(world, credential, response)


def params(rows: list[Row]) -> list[Any]:
    """One pytest param per cell, the known defects marked xfail(strict)."""
    out = []
    for row in rows:
        for name in COLUMNS:
            marks = []
            if name in row.xfail:
                marks.append(pytest.mark.xfail(strict=True, reason=row.xfail[name]))
            out.append(pytest.param(row, name, id=f"{row.name}[{name}]", marks=marks))
    return out
