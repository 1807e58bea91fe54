"""RFC 7591 dynamic client registration for patient apps (off by default).

Only public patient apps register themselves: ``token_endpoint_auth_method`` ``none``, HTTPS
(or loopback) redirect URIs, ``patient/`` and identity scopes. Partners and confidential apps
are registered by an administrator (``fhir-gateway oauth register-app|register-partner``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from access.scopes import parse_scopes

from .store import OAuthStore

DEFAULT_SCOPE = "launch/patient openid fhirUser offline_access online_access patient/*.rs"


def _error(description: str) -> tuple[int, dict[str, Any]]:
    """RFC 7591 §3.2.2 error response."""
    return 400, {"error": "invalid_client_metadata", "error_description": description}


def _redirect_ok(uri: Any) -> bool:
    if not isinstance(uri, str):
        return False
    parts = urlsplit(uri)
    if parts.fragment or not parts.netloc:
        return (
            parts.scheme not in {"", "http", "https", "javascript", "data"} and not parts.fragment
        )
    return parts.scheme == "https" or parts.hostname in {"127.0.0.1", "localhost", "::1"}


def register_dynamic(store: OAuthStore, body: Any) -> tuple[int, dict[str, Any]]:
    """RFC 7591 §3.1 request -> §3.2.1 response (status, JSON body)."""
    if not isinstance(body, dict):
        return _error("The request body must be a JSON object")
    uris = body.get("redirect_uris")
    if not isinstance(uris, list) or not uris or not all(_redirect_ok(u) for u in uris):
        return _error("redirect_uris must list HTTPS, loopback or app-specific URIs")
    method = body.get("token_endpoint_auth_method", "none")
    if method != "none":
        return _error("Only public apps (token_endpoint_auth_method none) register themselves")
    scopes = parse_scopes(str(body.get("scope") or DEFAULT_SCOPE))
    if scopes.levels - {"patient"}:
        return _error("Self-registered apps may ask for patient/ scopes only")
    name = str(body.get("client_name") or "Unnamed app")[:200]
    client_id, _ = store.register_client(
        name=name,
        kind="app",
        auth_method="none",
        scope=scopes.to_string(),
        redirect_uris=tuple(uris),
    )
    return 201, {
        "client_id": client_id,
        "client_name": name,
        "redirect_uris": uris,
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "scope": scopes.to_string(),
    }
