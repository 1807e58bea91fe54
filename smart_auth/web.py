"""``init_app(app, settings)``: the SMART authorization server and its bearer authenticator.

Builds the server over the state database (``app.extensions["state_engine"]``, shared with
the accounts part), registers its blueprint, the discovery documents (``SECURITY`` for the
CapabilityStatement, the smart-configuration) and CORS for registered apps' origins, and
returns the ``Authenticator`` the FHIR API uses.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, request

from conformance.smart import SmartEndpoints, openid_configuration, security, smart_configuration
from smart_auth.bearer import BearerValidator
from smart_auth.state import shared_engine

from .oauth.assertion import ALGORITHMS
from .oauth.endpoints import SmartIntrospectionEndpoint, SmartRevocationEndpoint
from .oauth.keys import ALGORITHM, SigningKeys
from .oauth.revocations import RedisRevocations
from .oauth.routes import bp
from .oauth.server import OAuthConfig, SmartAuthorizationServer
from .oauth.store import OAuthStore

SCOPES_SUPPORTED = (
    "openid",
    "fhirUser",
    "launch",
    "launch/patient",
    "offline_access",
    "online_access",
    "patient/*.rs",
    "patient/*.read",
    "user/*.rs",
    "patient/QuestionnaireResponse.u",
    "user/QuestionnaireResponse.u",
    "system/*.rs",
    "system/*.read",
)
CAPABILITIES = (
    "launch-ehr",
    "launch-standalone",
    "client-public",
    "client-confidential-symmetric",
    "client-confidential-asymmetric",
    "context-ehr-patient",
    "context-standalone-patient",
    "context-banner",
    "permission-offline",
    "permission-online",
    "permission-patient",
    "permission-user",
    "permission-v1",
    "permission-v2",
    "sso-openid-connect",
    "authorize-post",
)


def endpoints(settings: Any) -> SmartEndpoints:
    base = settings.base_url
    root = base.removesuffix("/fhir")
    return SmartEndpoints(
        issuer=root,
        authorization_endpoint=f"{root}/oauth/authorize",
        token_endpoint=f"{root}/oauth/token",
        jwks_uri=f"{root}/oauth/jwks",
        revocation_endpoint=f"{root}/oauth/revoke",
        introspection_endpoint=f"{root}/oauth/introspect",
        management_endpoint=f"{root}/oauth/apps",
        registration_endpoint=f"{root}/oauth/register"
        if settings.oauth_dynamic_registration
        else None,
        grant_types=("authorization_code", "refresh_token", "client_credentials"),
        token_auth_methods=("none", "client_secret_basic", "private_key_jwt"),
        assertion_algorithms=tuple(ALGORITHMS),
        code_challenge_methods=("S256",),
        scopes=SCOPES_SUPPORTED,
        capabilities=CAPABILITIES,
        id_token_algorithms=(ALGORITHM,),
    )


def token_memory(settings: Any) -> dict[str, Any]:
    """How a store may remember access tokens: only with the shared revocation counter
    (Redis), so that no worker honours a token another worker or host has revoked."""
    if not settings.redis_url:
        return {"token_cache_s": 0.0}
    return {
        "token_cache_s": settings.oauth_token_cache_s,
        "feed": RedisRevocations(settings.redis_url),
    }


def init_app(app: Flask, settings: Any) -> BearerValidator:
    engine = shared_engine(app.extensions, settings.state_url)
    ep = endpoints(settings)
    config = OAuthConfig(
        base_url=settings.base_url,
        issuer=ep.issuer,
        token_url=ep.token_endpoint,
        code_lifetime_s=min(settings.oauth_code_lifetime_s, 60),
        access_token_lifetime_s=settings.oauth_access_token_lifetime_s,
        refresh_token_lifetime_s=settings.oauth_refresh_token_lifetime_s,
        online_refresh_lifetime_s=settings.oauth_online_refresh_lifetime_s,
        backend_token_lifetime_s=min(settings.oauth_backend_token_lifetime_s, 300),
    )
    store = OAuthStore(engine, **token_memory(settings))
    server = SmartAuthorizationServer(store, SigningKeys(engine), config)
    server.register_endpoint(SmartRevocationEndpoint(server, store))
    server.register_endpoint(
        SmartIntrospectionEndpoint(server, store, ep.issuer, settings.base_url)
    )
    app.extensions["smart_oauth"] = server
    app.extensions["smart_configuration"] = smart_configuration(ep)
    app.extensions["openid_configuration"] = openid_configuration(ep)
    app.extensions["smart_dynamic_registration"] = settings.oauth_dynamic_registration
    app.config["SECURITY"] = security(ep)
    app.register_blueprint(bp)
    _cors(app, store)
    return BearerValidator(store)


_CORS_PATHS = ("/oauth/token", "/oauth/revoke", "/oauth/introspect", "/fhir/")


def _cors(app: Flask, store: OAuthStore) -> None:
    """The token endpoint and the API answer browsers of registered apps' origins (their
    ``origins`` metadata); discovery and /metadata are open to any origin (``app._cors``)."""

    @app.after_request
    def _registered_origins(response: Response) -> Response:
        origin = request.headers.get("Origin")
        if (
            not origin
            or "Access-Control-Allow-Origin" in response.headers
            or not request.path.startswith(_CORS_PATHS)
        ):
            return response
        # The answer depends on the Origin whether or not it is allowed, and keeps what it
        # already varies on (Accept-Encoding of a compressed body): RFC 9110 §12.5.5.
        response.vary.add("Origin")
        if origin not in store.registered_origins():
            return response
        headers: dict[str, Any] = {
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Expose-Headers": "ETag, Location, Content-Location, X-Request-ID",
        }
        if request.method == "OPTIONS":
            headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
            headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type, Prefer"
            headers["Access-Control-Max-Age"] = "600"
        response.headers.update(headers)
        return response
