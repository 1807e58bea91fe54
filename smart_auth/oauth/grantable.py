"""What a client may be granted, and how the granted scope is written back.

RFC 6749 §3.3: the server may grant less than a client asks for and then says what it granted
in the token response's ``scope``. Here the grant is always the intersection
(``access.scopes.narrow``) of three sets:

- what the client asked for (the authorization request, a refresh's ``scope`` or the original
  grant, a backend service's token request);
- what the client is registered for (``oauth_client.scope``), for every grant type;
- what this server can honour (``HONOURED``): the FHIR API reads and searches every type, and
  writes only ``Consent`` (create and update: a patient's shares, never a partner's),
  ``ImagingStudy`` create (DICOMweb STOW), a patient's uploads (F17): ``Binary`` create and
  ``DocumentReference`` create, update and delete (never a partner's), and
  ``QuestionnaireResponse`` update (a patient's answers to an assigned questionnaire, F18:
  responses exist because the HIS assigned them, so there is no create). A token never claims
  a permission no endpoint would accept.

SMART App Launch 2.x "Scopes for requesting FHIR Resources" keeps the v1 suffixes (``.read``,
``.write``, ``.*``); a client that asked in v1 form reads its grant back in v1 form (``written``)
where one exists, while granting always uses the v2 meaning (``patient/*.read`` is
``patient/*.rs``). A permission set with no v1 suffix (``Consent.cu``) stays in v2 form.
"""

from __future__ import annotations

from access.scopes import (
    CONTEXT_SCOPES,
    IDENTITY_SCOPES,
    REFRESH_SCOPES,
    V1_PERMISSIONS,
    ResourceScope,
    ScopeSet,
    narrow,
    parse_scopes,
)

#: Everything the server can honour, per scope level (see the module docstring).
HONOURED: ScopeSet = parse_scopes(
    " ".join(
        [
            "patient/*.rs",
            "patient/Binary.c",
            "patient/Consent.cu",
            "patient/DocumentReference.cud",
            "patient/ImagingStudy.c",
            "patient/QuestionnaireResponse.u",
            "user/*.rs",
            "user/Binary.c",
            "user/Consent.cu",
            "user/DocumentReference.cud",
            "user/ImagingStudy.c",
            "user/QuestionnaireResponse.u",
            "system/*.rs",
            "system/ImagingStudy.c",
            *sorted(CONTEXT_SCOPES | IDENTITY_SCOPES | REFRESH_SCOPES),
        ]
    )
)

#: v2 permission letters that have a v1 suffix.
_V1_SUFFIX = {letters: suffix for suffix, letters in V1_PERMISSIONS.items()}


def grantable(requested: str, registered: str) -> ScopeSet:
    """What of ``requested`` a client registered for ``registered`` may be granted."""
    return narrow(narrow(parse_scopes(requested), parse_scopes(registered)), HONOURED)


def is_empty(scopes: ScopeSet) -> bool:
    """Nothing at all is granted (RFC 6749 §5.2 ``invalid_scope`` when that is all asked for)."""
    return not (scopes.resources or scopes.context or scopes.identity or scopes.refresh)


def asks_in_v1(scope: str) -> bool:
    """Whether a scope string names a resource scope with a v1 suffix (``patient/*.read``)."""
    for token in scope.split():
        head, _, suffix = token.partition("?")[0].rpartition(".")
        if head and "/" in head and suffix in V1_PERMISSIONS:
            return True
    return False


def written(granted: ScopeSet, asked: str) -> str:
    """The granted scope as the token response and introspection say it: sorted, in v1 form
    where ``asked`` used v1 and the permissions have a v1 suffix, else in v2 form."""
    if not asks_in_v1(asked):
        return granted.to_string()
    tokens = [_v1(scope) for scope in granted.resources]
    tokens += [*granted.context, *granted.identity, *granted.refresh]
    return " ".join(sorted(tokens))


def _v1(scope: ResourceScope) -> str:
    suffix = _V1_SUFFIX.get(scope.permissions)
    if suffix is None or scope.filtered:
        return scope.to_string()
    return f"{scope.level}/{scope.resource_type}.{suffix}"
