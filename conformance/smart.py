"""SMART discovery documents, generated from what the authorization server really enables.

- ``smart_configuration``: ``[base]/.well-known/smart-configuration`` (SMART App Launch 2.x,
  "Conformance": required and recommended fields).
- ``openid_configuration``: ``[issuer]/.well-known/openid-configuration`` (OpenID Connect
  Discovery 1.0), since ``sso-openid-connect`` is among the capabilities.
- ``security``: the CapabilityStatement's ``rest.security`` with the ``oauth-uris`` extension
  (http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris), which Python
  fhirclient reads, and the SMART-on-FHIR service coding.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
SERVICE_SYSTEM = "http://terminology.hl7.org/CodeSystem/restful-security-service"


@dataclass(frozen=True)
class SmartEndpoints:
    """What the authorization server serves and supports."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    revocation_endpoint: str
    introspection_endpoint: str
    management_endpoint: str
    registration_endpoint: str | None
    grant_types: tuple[str, ...]
    token_auth_methods: tuple[str, ...]
    assertion_algorithms: tuple[str, ...]
    code_challenge_methods: tuple[str, ...]
    scopes: tuple[str, ...]
    capabilities: tuple[str, ...]
    #: JWS algorithms of the id_token (OpenID Connect Core §2).
    id_token_algorithms: tuple[str, ...] = ("RS256",)
    #: Claims an id_token may carry (OpenID Connect Core §2, SMART ``fhirUser``).
    claims: tuple[str, ...] = ("iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "fhirUser")


def smart_configuration(ep: SmartEndpoints) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "issuer": ep.issuer,
        "jwks_uri": ep.jwks_uri,
        "authorization_endpoint": ep.authorization_endpoint,
        "grant_types_supported": list(ep.grant_types),
        "token_endpoint": ep.token_endpoint,
        "token_endpoint_auth_methods_supported": list(ep.token_auth_methods),
        "token_endpoint_auth_signing_alg_values_supported": list(ep.assertion_algorithms),
        "scopes_supported": list(ep.scopes),
        "response_types_supported": ["code"],
        "id_token_signing_alg_values_supported": list(ep.id_token_algorithms),
        "management_endpoint": ep.management_endpoint,
        "introspection_endpoint": ep.introspection_endpoint,
        "revocation_endpoint": ep.revocation_endpoint,
        "capabilities": list(ep.capabilities),
        "code_challenge_methods_supported": list(ep.code_challenge_methods),
    }
    if ep.registration_endpoint:
        doc["registration_endpoint"] = ep.registration_endpoint
    return doc


def openid_configuration(ep: SmartEndpoints) -> dict[str, Any]:
    """OpenID Connect Discovery 1.0 §3 provider metadata, served at the issuer's URL plus
    ``/.well-known/openid-configuration`` (§4): the same issuer, endpoints and keys as the
    smart-configuration, and what the id_token really is (signed with ``id_token_algorithms``
    by the keys at ``jwks_uri``, ``sub`` the account id: ``public`` subjects). No UserInfo
    endpoint is served; the id_token carries the claims."""
    doc: dict[str, Any] = {
        "issuer": ep.issuer,
        "authorization_endpoint": ep.authorization_endpoint,
        "token_endpoint": ep.token_endpoint,
        "jwks_uri": ep.jwks_uri,
        "scopes_supported": list(ep.scopes),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": list(ep.grant_types),
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": list(ep.id_token_algorithms),
        "token_endpoint_auth_methods_supported": list(ep.token_auth_methods),
        "token_endpoint_auth_signing_alg_values_supported": list(ep.assertion_algorithms),
        "claims_supported": list(ep.claims),
        "claims_parameter_supported": False,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "code_challenge_methods_supported": list(ep.code_challenge_methods),
        "revocation_endpoint": ep.revocation_endpoint,
        "introspection_endpoint": ep.introspection_endpoint,
    }
    if ep.registration_endpoint:
        doc["registration_endpoint"] = ep.registration_endpoint
    return doc


def security(ep: SmartEndpoints) -> Mapping[str, Any]:
    uris = [
        {"url": "authorize", "valueUri": ep.authorization_endpoint},
        {"url": "token", "valueUri": ep.token_endpoint},
        {"url": "revoke", "valueUri": ep.revocation_endpoint},
        {"url": "introspect", "valueUri": ep.introspection_endpoint},
        {"url": "manage", "valueUri": ep.management_endpoint},
    ]
    if ep.registration_endpoint:
        uris.append({"url": "register", "valueUri": ep.registration_endpoint})
    return {
        "cors": True,
        "service": [
            {
                "coding": [{"system": SERVICE_SYSTEM, "code": "SMART-on-FHIR"}],
                "text": "OAuth2 using SMART-on-FHIR profile (see http://docs.smarthealthit.org)",
            }
        ],
        "extension": [{"url": OAUTH_URIS, "extension": uris}],
    }
