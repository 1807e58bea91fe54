"""SMART App Launch 2.x scopes, parsed into frozen values (no web framework involved).

Implements the scope language of the HL7 SMART App Launch IG 2.2, page "Scopes and Launch
Context" (https://hl7.org/fhir/smart-app-launch/STU2.2/scopes-and-launch-context.html, cited
below as "IG §<section>"):

- IG §Scopes for requesting FHIR Resources: ``(patient|user|system)/(Type|*).[c][r][u][d][s]``,
  the permission letters a subset of ``cruds`` in that order; the v1 suffixes ``.read`` (= ``rs``),
  ``.write`` (= ``cud``) and ``.*`` (= ``cruds``) are read with their v2 meaning. Undefined or
  out-of-order letters are not a scope (``.dus``, ``.sr``).
- IG §Scope Equivalence: ``Observation.rs`` is the same grant as ``Observation.r Observation.s``;
  a ``ScopeSet`` keeps such scopes merged, in v2 form.
- IG §Finer-grained resource constraints using search parameters: ``?param=value&...`` after the
  permissions; the parameters of one scope are ANDed, several scopes are ORed.
- IG §Wildcard scopes: ``*`` stands for every resource type, now and later.
- IG §Scopes for requesting context data (``launch``, ``launch/patient``, ``launch/encounter``),
  §Scopes for requesting identity data (``openid``, ``fhirUser``; ``profile`` from OpenID Connect)
  and §Scopes for requesting a refresh token (``offline_access``, ``online_access``).
- IG §Extensibility and the server's freedom to grant a subset: any other scope is kept in
  ``ScopeSet.ignored``, not refused. Tokens that claim to be resource scopes but break the syntax
  are kept in ``ScopeSet.invalid`` with a short reason.

Deciding an interaction never stops at the first matching scope: every matching scope counts
(an unfiltered one makes access unfiltered; several filtered ones are alternatives).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal
from urllib.parse import quote, unquote

Level = Literal["patient", "user", "system"]
#: One parameter set of a query-filtered scope: (name, value) pairs, URL-decoded, ANDed.
Params = tuple[tuple[str, str], ...]

LEVELS: tuple[Level, ...] = ("patient", "user", "system")
#: The permission letters, in the only order the IG allows.
PERMISSIONS = "cruds"
WILDCARD = "*"

#: v1 suffixes and their v2 meaning (IG §Scopes for requesting FHIR Resources).
V1_PERMISSIONS = MappingProxyType({"read": "rs", "write": "cud", "*": "cruds"})

#: The permission each FHIR interaction needs (IG §Scopes for requesting FHIR Resources):
#: ``r`` covers read, vread and instance history; ``s`` covers type and system search and history.
INTERACTION_PERMISSION = MappingProxyType(
    {
        "read": "r",
        "vread": "r",
        "history-instance": "r",
        "search": "s",
        "search-type": "s",
        "search-system": "s",
        "search-compartment": "s",
        "history-type": "s",
        "history-system": "s",
        "create": "c",
        "update": "u",
        "patch": "u",
        "delete": "d",
    }
)

#: IG §Scopes for requesting context data.
CONTEXT_SCOPES = frozenset({"launch", "launch/patient", "launch/encounter"})
#: IG §Scopes for requesting identity data (``profile`` is OpenID Connect's, often sent along).
IDENTITY_SCOPES = frozenset({"openid", "fhirUser", "profile"})
#: IG §Scopes for requesting a refresh token.
REFRESH_SCOPES = frozenset({"offline_access", "online_access"})

_RESOURCE_TYPE = re.compile(r"[A-Z][A-Za-z]*")
#: Something shaped like ``word/Word.perms`` whose level is not one of LEVELS (``admin/X.rs``,
#: ``Patient/Observation.read``): a malformed resource scope rather than an extension scope.
_RESOURCE_SHAPED = re.compile(r"[A-Za-z_-]+/(?:[A-Za-z]+|\*)\.\S*")
#: Characters left as they are when a filter value is written back (the IG writes its example
#: ``category=http://...|laboratory`` literally); everything else is percent-encoded.
_SAFE = ":/|,+$@!*'()[];"


class InvalidScopeError(ValueError):
    """A token that claims to be a resource scope but breaks the IG's syntax."""

    def __init__(self, scope: str, reason: str) -> None:
        super().__init__(f"{scope!r}: {reason}")
        self.scope = scope
        self.reason = reason


@dataclass(frozen=True, slots=True)
class InvalidScope:
    """A malformed resource scope and why it was not understood."""

    scope: str
    reason: str


# --- one resource scope -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ResourceScope:
    """``level/Type.perms?params``: ``permissions`` a subset of ``cruds`` in order, ``params``
    sorted (name, value) pairs that a resource must all match (empty = unfiltered)."""

    level: Level
    resource_type: str
    permissions: str
    params: Params = ()

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise ValueError(f"unknown scope level {self.level!r}")
        if self.resource_type != WILDCARD and not _RESOURCE_TYPE.fullmatch(self.resource_type):
            raise ValueError(f"bad resource type {self.resource_type!r}")
        if not self.permissions or _ordered(self.permissions) != self.permissions:
            raise ValueError(f"permissions {self.permissions!r} are not a subset of 'cruds'")
        object.__setattr__(self, "params", tuple(sorted(set(self.params))))

    @property
    def filtered(self) -> bool:
        return bool(self.params)

    @property
    def key(self) -> tuple[str, str, Params]:
        """What two scopes must share for their permissions to merge (IG §Scope Equivalence)."""
        return (self.level, self.resource_type, self.params)

    def matches_type(self, resource_type: str) -> bool:
        """IG §Wildcard scopes: ``*`` matches every type."""
        return self.resource_type in (WILDCARD, resource_type)

    def allows(self, permission: str) -> bool:
        return permission in self.permissions

    def covers(self, other: ResourceScope) -> bool:
        """Whether this scope alone grants everything ``other`` grants."""
        return (
            self.level == other.level
            and (self.resource_type == WILDCARD or self.resource_type == other.resource_type)
            and set(other.permissions) <= set(self.permissions)
            and set(self.params) <= set(other.params)
        )

    def split(self) -> tuple[ResourceScope, ...]:
        """One scope per permission letter (IG §Scope Equivalence)."""
        return tuple(
            ResourceScope(self.level, self.resource_type, letter, self.params)
            for letter in self.permissions
        )

    def to_string(self) -> str:
        """The v2 form, filter values percent-encoded where needed."""
        text = f"{self.level}/{self.resource_type}.{self.permissions}"
        if not self.params:
            return text
        query = "&".join(f"{quote(n, safe=_SAFE)}={quote(v, safe=_SAFE)}" for n, v in self.params)
        return f"{text}?{query}"

    __str__ = to_string


def _ordered(letters: Iterable[str]) -> str:
    """The letters that belong to ``cruds``, in ``cruds`` order (duplicates and others dropped)."""
    present = set(letters)
    return "".join(p for p in PERMISSIONS if p in present)


def parse_resource_scope(text: str) -> ResourceScope:
    """Parse ``(patient|user|system)/(Type|*).(perms)[?params]``; raises ``InvalidScopeError``.

    IG §Scopes for requesting FHIR Resources and §Finer-grained resource constraints using
    search parameters.
    """
    head, question, query = text.partition("?")
    level, slash, rest = head.partition("/")
    if not slash or level not in LEVELS:
        raise InvalidScopeError(text, f"unknown level {level!r} (patient, user or system)")
    rtype, dot, suffix = rest.rpartition(".")
    if not dot:
        raise InvalidScopeError(text, "no '.' before the permissions")
    _check_type(text, rtype)
    permissions = _permissions(text, suffix)
    if question and suffix in V1_PERMISSIONS:
        raise InvalidScopeError(text, "search-parameter filters need v2 permissions")
    params = _params(text, query) if question else ()
    return ResourceScope(level, rtype, permissions, params)


def _check_type(text: str, rtype: str) -> None:
    if not rtype:
        raise InvalidScopeError(text, "empty resource type")
    if rtype != WILDCARD and not _RESOURCE_TYPE.fullmatch(rtype):
        raise InvalidScopeError(text, f"bad resource type {rtype!r}")


def _permissions(text: str, suffix: str) -> str:
    if suffix in V1_PERMISSIONS:
        return V1_PERMISSIONS[suffix]
    if not suffix:
        raise InvalidScopeError(text, "no permissions")
    if _ordered(suffix) != suffix:
        raise InvalidScopeError(text, "permissions must be a subset of 'cruds' in that order")
    return suffix


def _params(text: str, query: str) -> Params:
    """``name=value&...``, each side URL-decoded (``+`` stays a plus: scopes cannot hold spaces)."""
    if not query:
        raise InvalidScopeError(text, "empty search-parameter filter after '?'")
    pairs: list[tuple[str, str]] = []
    for item in query.split("&"):
        name, eq, value = item.partition("=")
        if not eq or not name or not value:
            raise InvalidScopeError(text, f"filter {item!r} is not name=value")
        pairs.append((unquote(name), unquote(value)))
    return tuple(pairs)


# --- levels and interactions --------------------------------------------------------------------


def levels_for(kind: Level, *, patient_selected: bool = False) -> frozenset[Level]:
    """The scope levels that apply to a caller (IG §Scopes for requesting FHIR Resources).

    A patient-context grant uses ``patient/`` scopes; a user uses ``user/`` scopes, and
    ``patient/`` scopes too once a patient is selected; a backend service uses ``system/``.
    """
    if kind == "patient":
        return frozenset({"patient"})
    if kind == "user":
        return frozenset({"user", "patient"}) if patient_selected else frozenset({"user"})
    if kind == "system":
        if patient_selected:
            raise ValueError("a backend service has no patient in context")
        return frozenset({"system"})
    raise ValueError(f"unknown scope level {kind!r}")


def permission_for(interaction: str) -> str:
    """The permission letter an interaction needs; unknown interactions are a programming error."""
    try:
        return INTERACTION_PERMISSION[interaction]
    except KeyError:
        raise ValueError(f"unknown interaction {interaction!r}") from None


def _check_levels(levels: Iterable[str]) -> frozenset[str]:
    if isinstance(levels, str):
        raise TypeError("levels is a collection of level names, not one string")
    checked = frozenset(levels)
    unknown = checked.difference(LEVELS)
    if unknown:
        raise ValueError(f"unknown scope levels {sorted(unknown)}")
    return checked


# --- a set of scopes ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScopeSet:
    """Everything one scope string says, canonical: resource scopes with the same level, type
    and filter are merged (IG §Scope Equivalence) and sorted by their v2 text."""

    resources: tuple[ResourceScope, ...] = ()
    #: ``launch``, ``launch/patient``, ``launch/encounter``.
    context: frozenset[str] = frozenset()
    #: ``openid``, ``fhirUser``, ``profile``.
    identity: frozenset[str] = frozenset()
    #: ``offline_access``, ``online_access``.
    refresh: frozenset[str] = frozenset()
    #: Well-formed scopes this server does not define (extensions, other launch contexts).
    ignored: tuple[str, ...] = ()
    #: Tokens shaped like resource scopes that break the syntax, with the reason.
    invalid: tuple[InvalidScope, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "resources", _merge(self.resources))

    # -- what the scopes allow -------------------------------------------------------------------

    def permits(
        self, levels: Iterable[str], resource_type: str, interaction: str
    ) -> list[ResourceScope]:
        """Every scope allowing ``interaction`` on ``resource_type`` at one of ``levels``.

        All of them, never only the first: ``filters`` combines them. ``levels`` are the scope
        levels of the caller's context (``levels_for``); wildcard scopes match every type.
        """
        permission = permission_for(interaction)
        return [
            scope
            for scope in self._scopes_at(levels)
            if scope.allows(permission) and scope.matches_type(resource_type)
        ]

    def filters(
        self, levels: Iterable[str], resource_type: str, interaction: str
    ) -> tuple[Params, ...] | None:
        """The search-parameter constraints on an interaction (IG §Finer-grained resource
        constraints using search parameters).

        None: unfiltered (at least one matching scope has no filter, and it wins). Otherwise a
        resource must match at least one of the returned parameter sets (the parameters of one
        set are ANDed). ``()`` means no scope permits the interaction at all: refuse it.
        A parameter the caller cannot apply to ``resource_type`` must make its alternative
        match nothing; dropping it would widen the grant.
        """
        matching = self.permits(levels, resource_type, interaction)
        if any(not scope.filtered for scope in matching):
            return None
        return _minimal_alternatives(scope.params for scope in matching)

    def readable_types(self, levels: Iterable[str]) -> frozenset[str] | None:
        """Types with any read-side access (``r`` or ``s``, filtered or not) at ``levels``;
        None = every type, through a wildcard (IG §Wildcard scopes). Decide each interaction
        with ``permits``/``filters``: a type here may be searchable but not readable."""
        types: set[str] = set()
        for scope in self._scopes_at(levels):
            if not (scope.allows("r") or scope.allows("s")):
                continue
            if scope.resource_type == WILDCARD:
                return None
            types.add(scope.resource_type)
        return frozenset(types)

    def covers(self, other: ScopeSet) -> bool:
        """Whether this set grants at least everything ``other`` grants.

        Checked per permission letter, so ``X.r X.s`` covers ``X.rs``. A filtered scope is
        covered by a scope whose filter is a subset of its own (its parameters are compared as
        text, not by meaning: ``code:in=...`` is not known to cover ``code=...``); several
        filtered scopes never add up to an unfiltered one.
        """
        resources_ok = all(
            any(mine.covers(part) for mine in self.resources)
            for theirs in other.resources
            for part in theirs.split()
        )
        return (
            resources_ok
            and other.context <= self.context
            and other.identity <= self.identity
            and other.refresh <= self.refresh
        )

    # -- facts about the request -----------------------------------------------------------------

    @property
    def levels(self) -> frozenset[str]:
        """The levels the resource scopes use."""
        return frozenset(scope.level for scope in self.resources)

    @property
    def needs_patient_context(self) -> bool:
        """A granted ``patient/`` scope obliges the server to establish a patient in context
        (IG §Scopes for requesting context data)."""
        return "patient" in self.levels

    @property
    def openid(self) -> bool:
        return "openid" in self.identity

    @property
    def fhir_user(self) -> bool:
        """``fhirUser`` counts only together with ``openid`` (IG §Scopes for requesting identity
        data)."""
        return self.openid and "fhirUser" in self.identity

    @property
    def wants_refresh_token(self) -> bool:
        """IG §Scopes for requesting a refresh token."""
        return bool(self.refresh)

    def to_string(self) -> str:
        """Canonical scope string: the understood scopes, v2 form, sorted, space-separated.
        Ignored and invalid tokens are left out (they are never granted)."""
        tokens = [scope.to_string() for scope in self.resources]
        tokens += [*self.context, *self.identity, *self.refresh]
        return " ".join(sorted(tokens))

    def __str__(self) -> str:
        return self.to_string()

    def _scopes_at(self, levels: Iterable[str]) -> list[ResourceScope]:
        wanted = _check_levels(levels)
        return [scope for scope in self.resources if scope.level in wanted]


def _merge(scopes: Iterable[ResourceScope]) -> tuple[ResourceScope, ...]:
    """Merge the permissions of scopes sharing level, type and filter (IG §Scope Equivalence)."""
    merged: dict[tuple[str, str, Params], ResourceScope] = {}
    for scope in scopes:
        seen = merged.get(scope.key)
        merged[scope.key] = scope if seen is None else _with_permissions(seen, scope.permissions)
    return tuple(sorted(merged.values(), key=ResourceScope.to_string))


def _with_permissions(scope: ResourceScope, more: str) -> ResourceScope:
    permissions = _ordered(scope.permissions + more)
    return ResourceScope(scope.level, scope.resource_type, permissions, scope.params)


def _minimal_alternatives(alternatives: Iterable[Params]) -> tuple[Params, ...]:
    """Distinct parameter sets, without those that only add conditions to another one (in an
    OR of ANDs, ``a`` OR ``a AND b`` is ``a``)."""
    distinct = set(alternatives)
    return tuple(
        sorted(p for p in distinct if not any(set(q) < set(p) for q in distinct if q != p))
    )


# --- parsing a scope string ---------------------------------------------------------------------

_SPECIAL = MappingProxyType(
    {
        **dict.fromkeys(CONTEXT_SCOPES, "context"),
        **dict.fromkeys(IDENTITY_SCOPES, "identity"),
        **dict.fromkeys(REFRESH_SCOPES, "refresh"),
    }
)


@functools.lru_cache(maxsize=4096)
def parse_scopes(scope_string: str) -> ScopeSet:
    """Parse a space-separated OAuth ``scope`` value into a canonical ``ScopeSet``.

    Remembered per scope string (a ``ScopeSet`` is immutable): every API request parses its
    token's scopes, and the strings of one deployment are few.

    Never raises for content: malformed resource scopes go to ``invalid``, unknown scopes to
    ``ignored`` (a server may grant a subset of what was asked, IG §Scopes for requesting FHIR
    Resources, §Extensibility).
    """
    resources: list[ResourceScope] = []
    invalid: list[InvalidScope] = []
    ignored: list[str] = []
    special: dict[str, set[str]] = {"context": set(), "identity": set(), "refresh": set()}
    for token in dict.fromkeys(scope_string.split()):
        if token in _SPECIAL:
            special[_SPECIAL[token]].add(token)
        elif not _looks_like_resource_scope(token):
            ignored.append(token)
        else:
            try:
                resources.append(parse_resource_scope(token))
            except InvalidScopeError as error:
                invalid.append(InvalidScope(token, error.reason))
    return ScopeSet(
        resources=tuple(resources),
        context=frozenset(special["context"]),
        identity=frozenset(special["identity"]),
        refresh=frozenset(special["refresh"]),
        ignored=tuple(ignored),
        invalid=tuple(invalid),
    )


def _looks_like_resource_scope(token: str) -> bool:
    """Level-prefixed tokens, and ``word/Type.perms`` shapes that are not extensions (``__x``,
    URIs) or launch contexts."""
    if token.startswith(tuple(f"{level}/" for level in LEVELS)):
        return True
    if token.startswith(("__", "launch/")):
        return False
    return _RESOURCE_SHAPED.fullmatch(token) is not None


# --- narrowing ----------------------------------------------------------------------------------


def narrow(requested: ScopeSet, allowed: ScopeSet) -> ScopeSet:
    """What a server may grant: exactly the access both sets allow, never more than either.

    For an authorization request ``allowed`` is the client's registration (or the user's
    consent); for a refresh with a ``scope`` parameter it is the original grant, which the new
    token must not exceed. Resource scopes intersect pairwise: same level, the more specific
    type (``*`` meets ``Observation`` as ``Observation``), the common permissions, and the filters
    of both (ANDed). Scopes covered by another result scope are dropped. Ignored and invalid
    tokens are never granted.
    """
    pairs = (
        _intersect(mine, theirs) for mine in requested.resources for theirs in allowed.resources
    )
    merged = _merge(scope for scope in pairs if scope is not None)
    kept = tuple(s for s in merged if not any(t != s and t.covers(s) for t in merged))
    return ScopeSet(
        resources=kept,
        context=requested.context & allowed.context,
        identity=requested.identity & allowed.identity,
        refresh=requested.refresh & allowed.refresh,
    )


def _intersect(a: ResourceScope, b: ResourceScope) -> ResourceScope | None:
    """The access two scopes both grant, as one scope, or None."""
    if a.level != b.level:
        return None
    if a.resource_type == WILDCARD:
        resource_type = b.resource_type
    elif b.resource_type in (WILDCARD, a.resource_type):
        resource_type = a.resource_type
    else:
        return None
    permissions = _ordered(set(a.permissions) & set(b.permissions))
    if not permissions:
        return None
    return ResourceScope(a.level, resource_type, permissions, a.params + b.params)
