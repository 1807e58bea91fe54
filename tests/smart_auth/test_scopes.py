"""SMART App Launch 2.x scopes: syntax, equivalences, the multi-scope rule, levels, narrowing.

Cases follow the IG 2.2 page "Scopes and Launch Context"
(https://hl7.org/fhir/smart-app-launch/STU2.2/scopes-and-launch-context.html) and the scope bugs
public FHIR servers shipped (only the first of several matching scopes applied).
"""

from __future__ import annotations

import dataclasses
import itertools
import random

import pytest

from access.scopes import (
    INTERACTION_PERMISSION,
    LEVELS,
    InvalidScopeError,
    ResourceScope,
    ScopeSet,
    levels_for,
    narrow,
    parse_resource_scope,
    parse_scopes,
    permission_for,
)

try:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    HAVE_HYPOTHESIS = True
except ImportError:  # the seeded random checks below still run
    HAVE_HYPOTHESIS = False

LAB_SYSTEM = "http://terminology.hl7.org/CodeSystem/observation-category"
LAB = f"{LAB_SYSTEM}|laboratory"
VITALS = f"{LAB_SYSTEM}|vital-signs"
PATIENT = levels_for("patient")
USER = levels_for("user")
USER_WITH_PATIENT = levels_for("user", patient_selected=True)
SYSTEM = levels_for("system")


def strings(scopes):
    return [s.to_string() for s in scopes]


# --- one resource scope -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "level", "rtype", "permissions", "params"),
    [
        # v2: every letter alone, ordered subsets, the full set
        ("patient/Observation.c", "patient", "Observation", "c", ()),
        ("patient/Observation.r", "patient", "Observation", "r", ()),
        ("patient/Observation.u", "patient", "Observation", "u", ()),
        ("patient/Observation.d", "patient", "Observation", "d", ()),
        ("patient/Observation.s", "patient", "Observation", "s", ()),
        ("patient/Observation.rs", "patient", "Observation", "rs", ()),
        ("patient/Observation.cu", "patient", "Observation", "cu", ()),
        ("user/Appointment.cruds", "user", "Appointment", "cruds", ()),
        ("system/Encounter.cud", "system", "Encounter", "cud", ()),
        ("system/Patient.crs", "system", "Patient", "crs", ()),
        ("user/Patient.ds", "user", "Patient", "ds", ()),
        # wildcards
        ("patient/*.rs", "patient", "*", "rs", ()),
        ("user/*.cruds", "user", "*", "cruds", ()),
        ("system/*.s", "system", "*", "s", ()),
        # v1 suffixes read with their v2 meaning
        ("patient/Observation.read", "patient", "Observation", "rs", ()),
        ("patient/Observation.write", "patient", "Observation", "cud", ()),
        ("patient/Observation.*", "patient", "Observation", "cruds", ()),
        ("user/*.read", "user", "*", "rs", ()),
        ("system/*.*", "system", "*", "cruds", ()),
        ("system/*.write", "system", "*", "cud", ()),
        # query-filtered v2 scopes
        (
            "patient/Observation.rs?category=" + LAB,
            "patient",
            "Observation",
            "rs",
            (("category", LAB),),
        ),
        (
            "patient/Observation.rs?category=http%3A%2F%2Fterminology.hl7.org%2FCodeSystem"
            "%2Fobservation-category%7Claboratory",
            "patient",
            "Observation",
            "rs",
            (("category", LAB),),
        ),
        (
            "patient/Observation.rs?category=" + LAB_SYSTEM + "%7Cvital-signs",
            "patient",
            "Observation",
            "rs",
            (("category", VITALS),),
        ),
        (
            "user/Observation.s?status=final&category=" + LAB,
            "user",
            "Observation",
            "s",
            (("category", LAB), ("status", "final")),
        ),
        (
            "patient/Observation.r?code=http://loinc.org|2339-0&code=http://loinc.org|4548-4",
            "patient",
            "Observation",
            "r",
            (("code", "http://loinc.org|2339-0"), ("code", "http://loinc.org|4548-4")),
        ),
        (
            "patient/Condition.rs?category=a%26b&note=x%3Dy",
            "patient",
            "Condition",
            "rs",
            (("category", "a&b"), ("note", "x=y")),
        ),
        ("patient/Observation.rs?note=a%20b", "patient", "Observation", "rs", (("note", "a b"),)),
        ("patient/Observation.rs?note=a+b", "patient", "Observation", "rs", (("note", "a+b"),)),
        ("patient/Observation.rs?x=a=b", "patient", "Observation", "rs", (("x", "a=b"),)),
        (
            "patient/Observation.rs?code:in=http://valueset.example.org/ValueSet/diabetes",
            "patient",
            "Observation",
            "rs",
            (("code:in", "http://valueset.example.org/ValueSet/diabetes"),),
        ),
        ("patient/Observation.rs?a=1&a=1", "patient", "Observation", "rs", (("a", "1"),)),
        ("system/*.rs?_security=R", "system", "*", "rs", (("_security", "R"),)),
    ],
)
def test_resource_scopes_are_parsed(text, level, rtype, permissions, params):
    scope = parse_resource_scope(text)
    assert scope == ResourceScope(level, rtype, permissions, params)
    assert (scope.level, scope.resource_type, scope.permissions) == (level, rtype, permissions)
    assert scope.params == params
    assert scope.filtered is bool(params)
    assert parse_scopes(text).resources == (scope,)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        # permission letters out of order, repeated, undefined, missing
        ("patient/Observation.sr", "in that order"),
        ("patient/Observation.dus", "in that order"),
        ("patient/Observation.rr", "in that order"),
        ("patient/Observation.scrud", "in that order"),
        ("patient/Observation.x", "in that order"),
        ("patient/Observation.rw", "in that order"),
        ("patient/Observation.READ", "in that order"),
        ("patient/Observation.Read", "in that order"),
        ("patient/Observation.reads", "in that order"),
        ("patient/Observation.", "no permissions"),
        ("patient/Observation.rs#", "in that order"),
        # the type
        ("patient/.rs", "empty resource type"),
        ("patient/observation.rs", "bad resource type"),
        ("patient/Obs-1.rs", "bad resource type"),
        ("patient/Obs.erv.rs", "bad resource type"),
        ("patient/**.rs", "bad resource type"),
        ("patient/Observation", "no '.'"),
        ("patient/", "no '.'"),
        ("system/*", "no '.'"),
        # the level
        ("Patient/Observation.rs", "unknown level"),
        ("admin/Patient.rs", "unknown level"),
        ("practitioner/*.read", "unknown level"),
        ("users/Observation.rs", "unknown level"),
        # the filter
        ("patient/Observation.rs?", "empty search-parameter filter"),
        ("patient/Observation.rs?category", "not name=value"),
        ("patient/Observation.rs?=laboratory", "not name=value"),
        ("patient/Observation.rs?category=", "not name=value"),
        ("patient/Observation.rs?category=lab&", "not name=value"),
        ("patient/Observation.rs?a=1&&b=2", "not name=value"),
        ("patient/Observation.read?category=lab", "need v2 permissions"),
        ("patient/Observation.*?category=lab", "need v2 permissions"),
    ],
)
def test_malformed_resource_scopes_are_invalid_with_a_reason(text, reason):
    with pytest.raises(InvalidScopeError, match=reason):
        parse_resource_scope(text)
    parsed = parse_scopes(f"launch/patient {text} patient/Patient.r")
    assert [(i.scope, reason in i.reason) for i in parsed.invalid] == [(text, True)]
    assert strings(parsed.resources) == ["patient/Patient.r"], "other scopes still count"
    assert text not in parsed.to_string().split()
    assert parsed.ignored == ()


@pytest.mark.parametrize(
    ("level", "rtype", "permissions"),
    [
        ("admin", "Patient", "r"),
        ("patient", "patient", "r"),
        ("patient", "Patient", ""),
        ("patient", "Patient", "sr"),
        ("patient", "Patient", "rr"),
        ("patient", "Patient", "read"),
    ],
)
def test_resource_scope_values_check_themselves(level, rtype, permissions):
    with pytest.raises(ValueError, match=r"level|type|permissions"):
        ResourceScope(level, rtype, permissions)


# --- equivalences and the canonical form --------------------------------------------------------


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("patient/Observation.read", "patient/Observation.rs"),
        ("patient/Observation.write", "patient/Observation.cud"),
        ("patient/Observation.*", "patient/Observation.cruds"),
        ("patient/*.*", "patient/*.cruds"),
        ("patient/Observation.read patient/Observation.write", "patient/Observation.cruds"),
        ("patient/Observation.r patient/Observation.s", "patient/Observation.rs"),
        ("patient/Observation.s patient/Observation.r", "patient/Observation.rs"),
        (
            "patient/Observation.c patient/Observation.rs patient/Observation.ud",
            "patient/Observation.cruds",
        ),
        ("patient/Observation.rs patient/Observation.rs", "patient/Observation.rs"),
        ("patient/Observation.rs   openid\tfhirUser", "fhirUser openid patient/Observation.rs"),
        ("patient/Observation.rs?a=1&b=2", "patient/Observation.rs?b=2&a=1"),
        ("patient/Observation.r?a=1 patient/Observation.s?a=1", "patient/Observation.rs?a=1"),
        (
            "patient/Observation.rs?category=" + LAB,
            "patient/Observation.rs?category=" + LAB_SYSTEM + "%7Claboratory",
        ),
        ("offline_access launch launch/patient", "launch/patient offline_access launch"),
        ("", "   "),
    ],
)
def test_equivalent_scope_strings_parse_to_the_same_set(one, other):
    assert parse_scopes(one) == parse_scopes(other)
    assert parse_scopes(one).to_string() == parse_scopes(other).to_string()


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("patient/Observation.rs", "patient/Observation.rs?category=" + LAB),
        ("patient/Observation.rs", "user/Observation.rs"),
        ("patient/Observation.rs", "system/Observation.rs"),
        ("patient/Observation.rs", "patient/Observation.r"),
        ("patient/Observation.rs", "patient/*.rs"),
        ("patient/Observation.rs?category=a", "patient/Observation.rs?category=b"),
        ("patient/Observation.r?a=1 patient/Observation.s?b=1", "patient/Observation.rs?a=1&b=1"),
    ],
)
def test_different_grants_stay_different(one, other):
    assert parse_scopes(one) != parse_scopes(other)


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("patient/Observation.read", "patient/Observation.rs"),
        ("user/*.* openid fhirUser launch", "fhirUser launch openid user/*.cruds"),
        (
            "patient/Patient.read patient/Observation.read launch/patient offline_access",
            "launch/patient offline_access patient/Observation.rs patient/Patient.rs",
        ),
        (
            "patient/Observation.rs?category=" + LAB_SYSTEM + "%7Claboratory",
            "patient/Observation.rs?category=" + LAB,
        ),
        (
            "patient/Observation.rs?status=final&category=x",
            "patient/Observation.rs?category=x&status=final",
        ),
        ("patient/Observation.rs?note=a%20b", "patient/Observation.rs?note=a%20b"),
        ("patient/Condition.rs?category=a%26b", "patient/Condition.rs?category=a%26b"),
        ("patient/Observation.rs?x=a=b", "patient/Observation.rs?x=a%3Db"),
        ("patient/Observation.rs?q=50%25", "patient/Observation.rs?q=50%25"),
        ("launch foo __x http://example.com/s patient/Observation.sr", "launch"),
        ("", ""),
    ],
)
def test_to_string_is_canonical_v2_and_round_trips(text, canonical):
    parsed = parse_scopes(text)
    assert parsed.to_string() == canonical
    assert str(parsed) == canonical
    again = parse_scopes(canonical)
    assert again.to_string() == canonical
    assert again.resources == parsed.resources


def test_scope_values_are_frozen_and_hashable():
    parsed = parse_scopes("patient/Observation.rs?category=lab openid")
    with pytest.raises(dataclasses.FrozenInstanceError):
        parsed.resources = ()  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        parsed.resources[0].permissions = "cruds"  # type: ignore[misc]
    assert {parsed, parse_scopes("openid patient/Observation.rs?category=lab")} == {parsed}
    assert isinstance(parsed.context, frozenset)
    assert isinstance(parsed.resources, tuple)


# --- context, identity and unknown scopes -------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "context", "identity", "refresh"),
    [
        ("launch", {"launch"}, set(), set()),
        ("launch/patient", {"launch/patient"}, set(), set()),
        ("launch/encounter", {"launch/encounter"}, set(), set()),
        (
            "launch launch/patient launch/encounter",
            {"launch", "launch/patient", "launch/encounter"},
            set(),
            set(),
        ),
        ("openid fhirUser", set(), {"openid", "fhirUser"}, set()),
        ("openid profile", set(), {"openid", "profile"}, set()),
        ("offline_access", set(), set(), {"offline_access"}),
        ("online_access", set(), set(), {"online_access"}),
        (
            "launch/patient openid fhirUser offline_access patient/*.rs",
            {"launch/patient"},
            {"openid", "fhirUser"},
            {"offline_access"},
        ),
    ],
)
def test_context_identity_and_refresh_scopes(text, context, identity, refresh):
    parsed = parse_scopes(text)
    assert parsed.context == context
    assert parsed.identity == identity
    assert parsed.refresh == refresh
    assert parsed.ignored == ()
    assert parsed.invalid == ()


@pytest.mark.parametrize(
    ("text", "openid", "fhir_user", "refresh", "patient_context"),
    [
        ("openid fhirUser", True, True, False, False),
        ("fhirUser", False, False, False, False),
        ("openid", True, False, False, False),
        ("offline_access", False, False, True, False),
        ("online_access user/*.rs", False, False, True, False),
        ("patient/Observation.rs", False, False, False, True),
        ("user/Patient.rs launch/patient", False, False, False, False),
        ("system/*.rs", False, False, False, False),
    ],
)
def test_facts_about_a_request(text, openid, fhir_user, refresh, patient_context):
    parsed = parse_scopes(text)
    assert parsed.openid is openid
    assert parsed.fhir_user is fhir_user
    assert parsed.wants_refresh_token is refresh
    assert parsed.needs_patient_context is patient_context


@pytest.mark.parametrize(
    "token",
    [
        "foo",
        "__custom",
        "__custom/Observation.rs",
        "http://example.com/scope-name",
        "https://example.org/Patient.rs",
        "urn:example:scope",
        "launch/diagnosticreport",
        "launch/Patient",
        "launch/imagingstudy",
        "OPENID",
        "fhiruser",
        "Launch",
        "offline",
        "email",
        "patient",
        "user",
        "read",
        "Observation.rs",
        "*.read",
    ],
)
def test_unknown_scopes_are_ignored_not_refused(token):
    parsed = parse_scopes(f"openid {token} patient/Patient.r")
    assert parsed.ignored == (token,)
    assert parsed.invalid == ()
    assert parsed.to_string() == "openid patient/Patient.r"


def test_ignored_and_invalid_keep_their_order_once_each():
    parsed = parse_scopes("b a b patient/X.sr a patient/Y.sr patient/X.sr")
    assert parsed.ignored == ("b", "a")
    assert [i.scope for i in parsed.invalid] == ["patient/X.sr", "patient/Y.sr"]


# --- levels and interactions --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "patient_selected", "levels"),
    [
        ("patient", False, {"patient"}),
        ("patient", True, {"patient"}),
        ("user", False, {"user"}),
        ("user", True, {"user", "patient"}),
        ("system", False, {"system"}),
    ],
)
def test_levels_for_callers(kind, patient_selected, levels):
    assert levels_for(kind, patient_selected=patient_selected) == levels


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: levels_for("system", patient_selected=True), ValueError, "no patient"),
        (lambda: levels_for("admin"), ValueError, "unknown scope level"),  # type: ignore[arg-type]
        (lambda: permission_for("operation"), ValueError, "unknown interaction"),
        (
            lambda: parse_scopes("patient/*.rs").permits("patient", "Patient", "read"),
            TypeError,
            "levels",
        ),
        (
            lambda: parse_scopes("patient/*.rs").permits({"Patient"}, "Patient", "read"),
            ValueError,
            "levels",
        ),
        (
            lambda: parse_scopes("patient/*.rs").filters({"admin"}, "Patient", "read"),
            ValueError,
            "levels",
        ),
        (lambda: parse_scopes("patient/*.rs").readable_types("user"), TypeError, "levels"),
        (
            lambda: parse_scopes("patient/*.rs").permits(PATIENT, "Patient", "rs"),
            ValueError,
            "interaction",
        ),
    ],
)
def test_programming_errors_are_loud(call, error, match):
    with pytest.raises(error, match=match):
        call()


@pytest.mark.parametrize(
    ("interaction", "permission"),
    [
        ("read", "r"),
        ("vread", "r"),
        ("history-instance", "r"),
        ("search", "s"),
        ("search-type", "s"),
        ("search-system", "s"),
        ("search-compartment", "s"),
        ("history-type", "s"),
        ("history-system", "s"),
        ("create", "c"),
        ("update", "u"),
        ("patch", "u"),
        ("delete", "d"),
    ],
)
def test_each_interaction_needs_its_permission(interaction, permission):
    assert permission_for(interaction) == permission
    for letter in "cruds":
        scopes = parse_scopes(f"patient/Observation.{letter}")
        allowed = bool(scopes.permits(PATIENT, "Observation", interaction))
        assert allowed is (letter == permission), (letter, interaction)


def test_every_interaction_is_mapped_to_one_letter():
    assert set(INTERACTION_PERMISSION.values()) == set("cruds")


# --- permits: levels, types, wildcards, every matching scope ------------------------------------


@pytest.mark.parametrize(
    ("scopes", "levels", "rtype", "interaction", "expected"),
    [
        # r and s are separate; write does not imply read
        ("patient/Observation.r", PATIENT, "Observation", "read", ["patient/Observation.r"]),
        ("patient/Observation.r", PATIENT, "Observation", "search", []),
        ("patient/Observation.s", PATIENT, "Observation", "read", []),
        ("patient/Observation.s", PATIENT, "Observation", "search", ["patient/Observation.s"]),
        ("patient/Observation.cud", PATIENT, "Observation", "read", []),
        (
            "patient/Observation.write",
            PATIENT,
            "Observation",
            "create",
            ["patient/Observation.cud"],
        ),
        ("patient/Observation.read", PATIENT, "Observation", "vread", ["patient/Observation.rs"]),
        ("patient/Observation.read", PATIENT, "Observation", "delete", []),
        # types and wildcards
        ("patient/Observation.rs", PATIENT, "Patient", "read", []),
        ("patient/Observation.rs", PATIENT, "observation", "read", []),
        ("patient/*.rs", PATIENT, "Observation", "read", ["patient/*.rs"]),
        ("patient/*.rs", PATIENT, "Binary", "read", ["patient/*.rs"]),
        ("patient/*.rs", PATIENT, "QuestionnaireResponse", "search", ["patient/*.rs"]),
        ("patient/*.r", PATIENT, "Observation", "search", []),
        ("system/*.read", SYSTEM, "Organization", "search", ["system/*.rs"]),
        # levels: patient/ is not user/ or system/ access, and the reverse
        ("patient/*.cruds", SYSTEM, "Observation", "read", []),
        ("patient/*.cruds", USER, "Observation", "read", []),
        ("system/*.cruds", PATIENT, "Observation", "read", []),
        ("system/*.cruds", USER_WITH_PATIENT, "Observation", "read", []),
        ("user/*.cruds", PATIENT, "Observation", "read", []),
        ("user/*.cruds", SYSTEM, "Observation", "read", []),
        ("user/Observation.rs", USER, "Observation", "read", ["user/Observation.rs"]),
        (
            "patient/Observation.rs",
            USER_WITH_PATIENT,
            "Observation",
            "read",
            ["patient/Observation.rs"],
        ),
        ("patient/Observation.rs", USER, "Observation", "read", []),
        # every matching scope is returned, never the first only
        (
            "patient/Observation.rs patient/*.r",
            PATIENT,
            "Observation",
            "read",
            ["patient/*.r", "patient/Observation.rs"],
        ),
        (
            f"patient/Observation.rs?category={LAB} patient/Observation.rs?category={VITALS}",
            PATIENT,
            "Observation",
            "search",
            [f"patient/Observation.rs?category={LAB}", f"patient/Observation.rs?category={VITALS}"],
        ),
        (
            "user/Observation.rs patient/Observation.rs?category=x system/Observation.rs",
            USER_WITH_PATIENT,
            "Observation",
            "search",
            ["patient/Observation.rs?category=x", "user/Observation.rs"],
        ),
        ("", PATIENT, "Observation", "read", []),
        ("openid fhirUser launch/patient", PATIENT, "Patient", "read", []),
    ],
)
def test_permits(scopes, levels, rtype, interaction, expected):
    assert strings(parse_scopes(scopes).permits(levels, rtype, interaction)) == expected


# --- filters: the multi-scope rule --------------------------------------------------------------

CAT_LAB = (("category", LAB),)
CAT_VITALS = (("category", VITALS),)


@pytest.mark.parametrize(
    ("scopes", "levels", "interaction", "expected"),
    [
        # unfiltered
        ("patient/Observation.rs", PATIENT, "search", None),
        ("patient/*.rs", PATIENT, "search", None),
        # an unfiltered scope wins over filtered ones, in any order and through wildcards
        (f"patient/Observation.rs patient/Observation.rs?category={LAB}", PATIENT, "search", None),
        (f"patient/Observation.rs?category={LAB} patient/Observation.rs", PATIENT, "search", None),
        (f"patient/Observation.rs?category={LAB} patient/*.rs", PATIENT, "search", None),
        (f"patient/Observation.rs?category={LAB} patient/*.read", PATIENT, "read", None),
        # several filtered scopes are alternatives: all of them count
        (f"patient/Observation.rs?category={LAB}", PATIENT, "search", (CAT_LAB,)),
        (
            f"patient/Observation.rs?category={LAB} patient/Observation.rs?category={VITALS}",
            PATIENT,
            "search",
            (CAT_LAB, CAT_VITALS),
        ),
        (
            f"patient/Observation.rs?category={VITALS} patient/Observation.rs?category={LAB}",
            PATIENT,
            "read",
            (CAT_LAB, CAT_VITALS),
        ),
        (
            f"patient/*.rs?_security=N patient/Observation.rs?category={LAB}",
            PATIENT,
            "search",
            ((("_security", "N"),), CAT_LAB),
        ),
        # the parameters of one scope stay together (ANDed)
        (
            f"patient/Observation.rs?category={LAB}&status=final",
            PATIENT,
            "search",
            ((("category", LAB), ("status", "final")),),
        ),
        # an alternative that only adds conditions to another is redundant
        (
            f"patient/Observation.rs?category={LAB}&status=final "
            f"patient/Observation.rs?category={LAB}",
            PATIENT,
            "search",
            (CAT_LAB,),
        ),
        # only scopes with the needed permission count
        (
            f"patient/Observation.r?category={LAB} patient/Observation.s?category={VITALS}",
            PATIENT,
            "search",
            (CAT_VITALS,),
        ),
        (
            f"patient/Observation.r?category={LAB} patient/Observation.s?category={VITALS}",
            PATIENT,
            "read",
            (CAT_LAB,),
        ),
        (
            f"patient/Observation.s patient/Observation.r?category={LAB}",
            PATIENT,
            "read",
            (CAT_LAB,),
        ),
        (f"patient/Observation.s patient/Observation.r?category={LAB}", PATIENT, "search", None),
        # only scopes of the caller's levels count
        (
            f"patient/Observation.rs?category={LAB} user/Observation.rs",
            PATIENT,
            "search",
            (CAT_LAB,),
        ),
        (
            f"patient/Observation.rs?category={LAB} user/Observation.rs",
            USER_WITH_PATIENT,
            "search",
            None,
        ),
        (
            f"patient/Observation.rs?category={LAB} system/Observation.rs",
            PATIENT,
            "search",
            (CAT_LAB,),
        ),
        (f"patient/Observation.rs?category={LAB} system/Observation.rs", SYSTEM, "search", None),
        (f"patient/Observation.rs?category={LAB}", SYSTEM, "search", ()),
        # nothing permits it: no alternative at all (refuse, do not return an empty page)
        ("patient/Patient.rs", PATIENT, "search", ()),
        ("patient/Observation.r", PATIENT, "search", ()),
        ("", PATIENT, "read", ()),
    ],
)
def test_filters_combine_every_matching_scope(scopes, levels, interaction, expected):
    assert parse_scopes(scopes).filters(levels, "Observation", interaction) == expected


def test_filters_of_the_ig_example_can_become_search_criteria():
    scopes = parse_scopes(
        "patient/Observation.rs?category=" + LAB_SYSTEM + "%7Claboratory launch/patient"
    )
    (alternative,) = scopes.filters(PATIENT, "Observation", "search")
    name, value = alternative[0]
    assert name == "category"
    assert value.split("|") == [LAB_SYSTEM, "laboratory"]


# --- readable types -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scopes", "levels", "expected"),
    [
        ("patient/Observation.rs patient/Patient.r", PATIENT, {"Observation", "Patient"}),
        ("patient/Observation.s", PATIENT, {"Observation"}),
        ("patient/Observation.cud", PATIENT, set()),
        ("patient/Observation.rs?category=x", PATIENT, {"Observation"}),
        ("patient/*.rs", PATIENT, None),
        ("patient/*.rs?category=x", PATIENT, None),
        ("patient/*.cud patient/Encounter.r", PATIENT, {"Encounter"}),
        ("patient/*.rs", USER, set()),
        ("patient/*.rs", SYSTEM, set()),
        ("patient/*.rs user/Practitioner.rs", USER, {"Practitioner"}),
        ("patient/*.rs user/Practitioner.rs", USER_WITH_PATIENT, None),
        ("user/*.read patient/Observation.rs", PATIENT, {"Observation"}),
        ("system/*.read", SYSTEM, None),
        ("system/Patient.read system/Observation.read", SYSTEM, {"Patient", "Observation"}),
        ("openid fhirUser launch", USER, set()),
        ("", PATIENT, set()),
    ],
)
def test_readable_types(scopes, levels, expected):
    assert parse_scopes(scopes).readable_types(levels) == expected


# --- narrow -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("requested", "allowed", "granted"),
    [
        ("patient/Observation.rs", "patient/Observation.rs", "patient/Observation.rs"),
        ("patient/Observation.cruds", "patient/Observation.rs", "patient/Observation.rs"),
        ("patient/Observation.rs", "patient/*.cruds", "patient/Observation.rs"),
        (
            "patient/*.rs",
            "patient/Observation.rs patient/Patient.r",
            "patient/Observation.rs patient/Patient.r",
        ),
        ("patient/*.read", "patient/*.cud", ""),
        ("patient/*.*", "patient/*.rs", "patient/*.rs"),
        ("patient/Observation.rs", "user/Observation.rs", ""),
        ("user/*.rs", "patient/*.rs system/*.rs", ""),
        ("patient/Observation.rs", "patient/Patient.rs", ""),
        # filters: the narrower one, or both ANDed
        (
            "patient/Observation.rs",
            f"patient/Observation.rs?category={LAB}",
            f"patient/Observation.rs?category={LAB}",
        ),
        (
            f"patient/Observation.rs?category={LAB}",
            "patient/*.rs",
            f"patient/Observation.rs?category={LAB}",
        ),
        (
            "patient/Observation.rs?status=final",
            f"patient/Observation.rs?category={LAB}",
            f"patient/Observation.rs?category={LAB}&status=final",
        ),
        (
            f"patient/Observation.rs?category={LAB} patient/Observation.rs?category={VITALS}",
            f"patient/Observation.rs?category={LAB}",
            f"patient/Observation.rs?category={LAB}",
        ),
        (
            f"patient/Observation.rs patient/Observation.rs?category={LAB}",
            "patient/Observation.rs",
            "patient/Observation.rs",
        ),
        # results covered by another result are dropped
        ("patient/*.rs patient/Observation.rs", "patient/*.rs", "patient/*.rs"),
        # context, identity and refresh scopes: only those in both
        (
            "launch/patient openid fhirUser offline_access patient/*.rs",
            "launch/patient openid patient/*.rs",
            "launch/patient openid patient/*.rs",
        ),
        ("online_access offline_access", "offline_access", "offline_access"),
        # unknown and invalid tokens are never granted, whoever lists them
        ("foo patient/Observation.sr", "foo patient/Observation.sr", ""),
        ("patient/Observation.rs", "", ""),
        ("", "patient/*.cruds openid", ""),
    ],
)
def test_narrow(requested, allowed, granted):
    result = narrow(parse_scopes(requested), parse_scopes(allowed))
    assert result.to_string() == granted
    assert result.ignored == ()
    assert result.invalid == ()
    assert narrow(parse_scopes(allowed), parse_scopes(requested)).to_string() == granted


def test_a_refresh_with_a_scope_parameter_never_widens_the_grant():
    granted = parse_scopes(f"launch/patient openid fhirUser patient/Observation.rs?category={LAB}")
    asked = parse_scopes("patient/*.cruds user/*.cruds offline_access openid launch/patient")
    refreshed = narrow(asked, granted)
    assert refreshed.to_string() == f"launch/patient openid patient/Observation.rs?category={LAB}"
    assert granted.covers(refreshed)
    assert narrow(granted, granted) == granted


@pytest.mark.parametrize(
    ("bigger", "smaller", "covers"),
    [
        ("patient/*.cruds", "patient/Observation.rs", True),
        ("patient/Observation.rs", "patient/*.rs", False),
        ("patient/Observation.rs", "patient/Observation.rs?category=x", True),
        ("patient/Observation.rs?category=x", "patient/Observation.rs", False),
        ("patient/Observation.rs?category=x", "patient/Observation.rs?category=x&status=y", True),
        ("patient/Observation.r", "patient/Observation.rs", False),
        ("patient/Observation.r patient/Observation.s", "patient/Observation.rs", True),
        ("user/*.cruds", "patient/Observation.r", False),
        ("user/*.crd user/Observation.rs", "user/Observation.crds", True),
        ("user/*.crd user/Observation.rs", "user/Observation.cruds", False),
        ("patient/X.r?a=1 patient/X.r?a=2", "patient/X.r", False),
        ("openid fhirUser", "openid", True),
        ("openid", "openid fhirUser", False),
        ("launch", "launch/patient", False),
        ("", "", True),
        ("patient/*.rs", "foo patient/X.sr", True),
    ],
)
def test_covers(bigger, smaller, covers):
    assert parse_scopes(bigger).covers(parse_scopes(smaller)) is covers


# --- properties: an independent model of what scopes grant -------------------------------------
#
# A small universe: every (level, type, permission, resource) a grant could allow, where a
# resource is a set of search-parameter values. A scope allows an access when the level is its
# level, the type matches, the permission is one of its letters and the resource has every one of
# its filter parameters. Whatever the implementation does, these sets must come out right.

TYPES = ("Observation", "Patient", "Encounter")
FILTER_PARAMS = (
    ("category", "lab"),
    ("category", "vital"),
    ("status", "final"),
    ("status", "draft"),
)
CATEGORIES, STATUSES = FILTER_PARAMS[:2], FILTER_PARAMS[2:]
RESOURCES = tuple(frozenset(pair) for pair in itertools.product(CATEGORIES, STATUSES))
SPECIAL_TOKENS = ("launch", "launch/patient", "openid", "fhirUser", "offline_access", "foo")
V1_SUFFIXES = ("read", "write", "*")


def model(scopes: ScopeSet) -> frozenset[tuple[str, str, str, frozenset]]:
    allowed = set()
    for scope in scopes.resources:
        for rtype, letter, resource in itertools.product(TYPES, "cruds", RESOURCES):
            if (
                scope.resource_type in ("*", rtype)
                and letter in scope.permissions
                and set(scope.params) <= resource
            ):
                allowed.add((scope.level, rtype, letter, resource))
    return frozenset(allowed)


def special(scopes: ScopeSet) -> frozenset[str]:
    return scopes.context | scopes.identity | scopes.refresh


def random_scope_string(rng: random.Random) -> str:
    tokens = []
    for _ in range(rng.randint(0, 4)):
        level = rng.choice(LEVELS)
        rtype = rng.choice((*TYPES, "*"))
        if rng.random() < 0.2:
            tokens.append(f"{level}/{rtype}.{rng.choice(V1_SUFFIXES)}")
            continue
        letters = "".join(p for p in "cruds" if rng.random() < 0.5) or "r"
        # at most one value per parameter: every generated filter can be met by some resource
        params = [p for p in (rng.choice(CATEGORIES), rng.choice(STATUSES)) if rng.random() < 0.3]
        query = "?" + "&".join(f"{n}={v}" for n, v in params) if params else ""
        tokens.append(f"{level}/{rtype}.{letters}{query}")
    tokens += rng.sample(SPECIAL_TOKENS, rng.randint(0, 3))
    return " ".join(tokens)


def check_properties(requested_text: str, allowed_text: str) -> None:
    requested, allowed = parse_scopes(requested_text), parse_scopes(allowed_text)
    granted = narrow(requested, allowed)
    # narrow is exactly the intersection, so never wider than either side
    assert model(granted) == model(requested) & model(allowed)
    assert special(granted) == special(requested) & special(allowed)
    assert requested.covers(granted)
    assert allowed.covers(granted)
    assert model(narrow(requested, requested)) == model(requested)
    assert narrow(requested, allowed) == narrow(allowed, requested)
    # the canonical string means the same grant
    assert model(parse_scopes(requested.to_string())) == model(requested)
    assert parse_scopes(requested.to_string()).to_string() == requested.to_string()
    # covers() is sound
    if requested.covers(allowed):
        assert model(allowed) <= model(requested)
    check_decisions(requested)


def check_decisions(scopes: ScopeSet) -> None:
    """permits/filters/readable_types agree with the model for every caller and interaction."""
    allowed = model(scopes)
    for levels in (PATIENT, USER, USER_WITH_PATIENT, SYSTEM):
        for rtype, (interaction, letter) in itertools.product(
            TYPES, (("read", "r"), ("search", "s"), ("create", "c"), ("delete", "d"))
        ):
            expected = {
                r for (lvl, t, p, r) in allowed if lvl in levels and t == rtype and p == letter
            }
            alternatives = scopes.filters(levels, rtype, interaction)
            if alternatives is None:
                got = set(RESOURCES)
            else:
                got = {r for r in RESOURCES if any(set(alt) <= r for alt in alternatives)}
            assert got == expected, (scopes.to_string(), levels, rtype, interaction)
            assert bool(scopes.permits(levels, rtype, interaction)) == bool(expected)
        readable = scopes.readable_types(levels)
        for rtype in TYPES:
            reads = any(lvl in levels and t == rtype and p in "rs" for (lvl, t, p, _) in allowed)
            assert (readable is None or rtype in readable) is reads


@pytest.mark.parametrize("seed", range(20))
def test_narrow_and_decisions_match_the_model_seeded(seed):
    rng = random.Random(seed)
    for _ in range(25):
        check_properties(random_scope_string(rng), random_scope_string(rng))


if HAVE_HYPOTHESIS:
    scope_strings = st.randoms(use_true_random=False).map(random_scope_string)

    @settings(max_examples=300, deadline=None, database=None)
    @given(scope_strings, scope_strings)
    def test_narrow_never_widens_property(requested_text, allowed_text):
        check_properties(requested_text, allowed_text)

    @settings(max_examples=300, deadline=None, database=None)
    @given(st.text(alphabet="patiensuyrm/*.cdO?&=%|:_ ", max_size=40))
    def test_parse_scopes_never_raises_on_any_text(text):
        parsed = parse_scopes(text)
        assert parse_scopes(parsed.to_string()).resources == parsed.resources
        assert len(parsed.resources) + len(parsed.invalid) + len(parsed.ignored) <= len(
            text.split()
        )
