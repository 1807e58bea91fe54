"""Viewer tokens (F15): signed, expiring, bound to one study, against the real Orthanc."""

from __future__ import annotations

import time

import pytest

from access.errors import ApiError
from dicomweb.viewer_tokens import (
    ExpiredToken,
    InvalidToken,
    ViewerClaim,
    ViewerTokens,
    is_viewer_token,
)
from dicomweb.web.context import DicomwebError, PacsScope

CLAIM = ViewerClaim("1.2.826.0.1.3680043.8.498.1", "MRN-1")


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_a_token_carries_its_study_and_patient():
    tokens = ViewerTokens(b"k" * 32, 60)
    token = tokens.mint(CLAIM)
    assert is_viewer_token(token)
    assert tokens.verify(token) == CLAIM


def test_a_token_expires_after_its_time_to_live():
    clock = Clock()
    tokens = ViewerTokens(b"k" * 32, 60, clock=clock)
    token = tokens.mint(CLAIM)
    clock.now += 60
    assert tokens.verify(token) == CLAIM
    clock.now += 2
    with pytest.raises(ExpiredToken):
        tokens.verify(token)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # signature
        lambda t: "vt1." + "x" + t[4:],  # payload
        lambda t: t.replace("vt1.", "vt1.."),
        lambda t: "vt1.",
    ],
)
def test_a_forged_token_is_invalid(mangle):
    tokens = ViewerTokens(b"k" * 32, 60)
    with pytest.raises(InvalidToken):
        tokens.verify(mangle(tokens.mint(CLAIM)))


def test_a_token_of_another_key_is_invalid():
    token = ViewerTokens(b"a" * 32, 60).mint(CLAIM)
    with pytest.raises(InvalidToken):
        ViewerTokens(b"b" * 32, 60).verify(token)


def test_bearer_tokens_of_oauth_are_not_viewer_tokens():
    assert not is_viewer_token("eyJhbGciOiJSUzM4NCJ9.e30.sig")
    assert not is_viewer_token("")
    assert not is_viewer_token(None)


# --- the scope a token yields, checked by real C-FINDs --------------------------------------


def _two_studies(his_pacs):
    by_patient: dict[int, list[str]] = {}
    for uid, (pid, _) in his_pacs.studies.items():
        by_patient.setdefault(pid, []).append(uid)
    (pid_a, a), (pid_b, b) = list(by_patient.items())[:2]
    return pid_a, a[0], pid_b, b[0]


def _scope(app, **request):
    ctx = app.extensions["dicomweb"]
    with app.test_request_context("/dicomweb/studies", **request):
        _grant, scope = ctx.request_scope("search")
        return ctx, scope


def test_a_viewer_token_yields_a_scope_of_its_one_study(his_pacs, client_for):
    pid_a, study_a, _, study_b = _two_studies(his_pacs)
    app = client_for({pid_a}).application
    ctx = app.extensions["dicomweb"]
    mrn = his_pacs.studies[study_a][1]
    token = ctx.extras["viewer_tokens"].mint(ViewerClaim(study_a, mrn, pid_a))
    for request in (
        {"headers": {"Authorization": f"Bearer {token}"}},
        {"query_string": {"token": token}},
    ):
        ctx, scope = _scope(app, **request)
        assert scope == PacsScope(frozenset({mrn}), frozenset({study_a}))
        assert str(ctx.study(scope, study_a).StudyInstanceUID) == study_a
        with pytest.raises(DicomwebError) as refused:
            ctx.study(scope, study_b)
        assert refused.value.status == 404


def test_a_token_naming_another_patient_finds_nothing(his_pacs, client_for):
    pid_a, study_a, _, study_b = _two_studies(his_pacs)
    app = client_for({pid_a}).application
    ctx = app.extensions["dicomweb"]
    # A token bound to study B but to A's PatientID (as a forged mix would be): B is not found.
    token = ctx.extras["viewer_tokens"].mint(
        ViewerClaim(study_b, his_pacs.studies[study_a][1], pid_a)
    )
    ctx, scope = _scope(app, headers={"Authorization": f"Bearer {token}"})
    with pytest.raises(DicomwebError) as refused:
        ctx.study(scope, study_b)
    assert refused.value.status == 404


def test_an_expired_or_forged_token_is_401(his_pacs, client_for):
    pid_a, study_a, _, _ = _two_studies(his_pacs)
    app = client_for({pid_a}).application
    ctx = app.extensions["dicomweb"]
    key = app.secret_key + b"/viewer"
    ttl = ctx.extras["viewer_tokens"].ttl
    # Minted with the app's own key longer ago than the app's time to live: expired.
    past = ViewerTokens(key, ttl, clock=lambda: time.time() - ttl - 2)
    token = past.mint(ViewerClaim(study_a, his_pacs.studies[study_a][1], pid_a))
    fresh = ctx.extras["viewer_tokens"].mint(ViewerClaim(study_a, "x", pid_a))
    for bad in (token, fresh[:-3] + "abc"):
        with pytest.raises(ApiError) as refused:
            _scope(app, headers={"Authorization": f"Bearer {bad}"})
        assert refused.value.status == 401
        assert 'error="invalid_token"' in refused.value.headers["WWW-Authenticate"]


def test_a_viewer_token_does_not_store(his_pacs, client_for):
    pid_a, study_a, _, _ = _two_studies(his_pacs)
    app = client_for({pid_a}).application
    ctx = app.extensions["dicomweb"]
    token = ctx.extras["viewer_tokens"].mint(
        ViewerClaim(study_a, his_pacs.studies[study_a][1], pid_a)
    )
    with (
        app.test_request_context("/dicomweb/studies", query_string={"token": token}),
        pytest.raises(ApiError) as refused,
    ):
        ctx.request_scope("create")
    assert refused.value.status == 403
