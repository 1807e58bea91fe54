"""Strict marshmallow fields for HIS records, and the fast check compiled from a schema.

Records arrive typed by the database driver, so these fields never coerce: a column holds
exactly the Python type SQLAlchemy returns for it (``int``, ``float``, ``str``, ``bool``,
``datetime``, ``date``, ``bytes``, decoded JSON), ``None`` only where the column is nullable.
NOT NULL columns are required keys; nullable columns may be absent.

Why two validators
------------------
``Schema.validate`` costs ~30 µs a row: 3 ms for a page of 100 Observations, three times the
budget of the whole page. So at import time ``compile_check`` walks a schema's fields once and
turns them into flat tables:

* field class -> the exact Python types it accepts (``type(v) in types``: no ``bool`` for an
  ``int``, no ``datetime`` for a ``date``), with ``NoneType`` added when the field allows None
  (a missing key reads as None, which is right because only nullable fields may be missing);
* ``OneOf`` -> a frozenset of choices;
* ``Range``, ``Length``, ``Regexp``, a field's own ``accepts`` (finite floats), ``List`` items
  and ``Nested`` records -> small predicates.

The resulting check answers "is this record valid?" in a few µs and nothing else. Only when it
says no does ``field_errors`` run the real marshmallow schema, whose errors become
``InvalidRecord.problems``: field paths and reasons, never values (every message used here is
value-free). ``compile_check`` refuses any field or validator it cannot translate, so the two
cannot silently diverge; ``tests/mappers/test_records.py`` checks that they agree on a table of
good and bad records.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any, ClassVar

from marshmallow import Schema, fields, types
from marshmallow.validate import Length, OneOf, Range, Regexp, Validator

Check = Callable[[Any], bool]

# --- Strict field types -------------------------------------------------------------------------


class Column(fields.Field[Any]):
    """A value of exactly one of ``python_types``, never coerced (the driver already typed it)."""

    python_types: ClassVar[tuple[type, ...]] = ()
    expected: ClassVar[str] = "value"
    # marshmallow's own (instance-typed) declaration; it copies this dict, never mutates it
    default_error_messages: types.ErrorMessages = {  # noqa: RUF012
        "invalid": "Not a valid {expected}."
    }

    @staticmethod
    def accepts(value: Any) -> bool:
        """Any further condition on a value of the right type (compiled into the fast check)."""
        return True

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if type(value) not in self.python_types or not self.accepts(value):
            raise self.make_error("invalid", expected=self.expected)
        return value


class Integer(Column):
    python_types = (int,)
    expected = "integer"


class Number(Column):
    python_types = (float, int)
    expected = "finite number"

    @staticmethod
    def accepts(value: Any) -> bool:
        return math.isfinite(value)  # NaN and infinities have no JSON/FHIR decimal form


class String(Column):
    python_types = (str,)
    expected = "string"


class Boolean(Column):
    python_types = (bool,)
    expected = "boolean"


class Timestamp(Column):
    python_types = (datetime,)
    expected = "datetime"


class Day(Column):
    python_types = (date,)
    expected = "date"


class Bytes(Column):
    python_types = (bytes,)
    expected = "bytes value"


class JsonObject(Column):
    python_types = (dict,)
    expected = "JSON object"


class Scalar(Column):
    """A JSON scalar an ``enableWhen`` compares with: text, a number or a boolean."""

    python_types = (str, int, float, bool)
    expected = "text, number or boolean"


class AnswerOption(Column):
    """A questionnaire option: a code string, or ``{"code": str, "display": str?}``."""

    python_types = (str, dict)
    expected = "option (code or {code, display})"

    @staticmethod
    def accepts(value: Any) -> bool:
        if type(value) is str:
            return _CODE.match(value) is not None
        code, display = value.get("code"), value.get("display", "-")
        return (
            type(code) is str
            and _CODE.match(code) is not None
            and type(display) is str
            and display != ""
        )


class ListOf(fields.List[Any]):
    """A JSON array (``list`` only: tuples and sets are not what a driver returns)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if type(value) is not list:
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


# --- Column declarations ------------------------------------------------------------------------

#: FHIR ``code``: no leading/trailing whitespace, single inner spaces (datatypes.html#code).
_CODE = re.compile(r"[^\s]+( [^\s]+)*\Z")
_NAME = r"[A-Za-z0-9][A-Za-z0-9._\-]{0,%d}\Z"  # safe in URLs, canonical versions and ids


def _col(cls: type[fields.Field[Any]], nullable: bool, *validators: Validator) -> fields.Field[Any]:
    return cls(required=not nullable, allow_none=nullable, validate=list(validators))


class col:  # a namespace, read as "col.text(200)"
    """Column declarations: NOT NULL columns are required, nullable ones optional."""

    @staticmethod
    def key(nullable: bool = False) -> fields.Field[Any]:
        """A HIS integer key (the row's own id or a foreign key)."""
        return _col(Integer, nullable, Range(min=0))

    @staticmethod
    def text(max_len: int | None = None, nullable: bool = False) -> fields.Field[Any]:
        """Free text: a FHIR ``string``, which may not be empty."""
        return _col(String, nullable, Length(min=1, max=max_len))

    @staticmethod
    def token(max_len: int, nullable: bool = False) -> fields.Field[Any]:
        """A code-like string that becomes a FHIR ``code`` (Coding.code, contentType, ...)."""
        return _col(String, nullable, Length(min=1, max=max_len), Regexp(_CODE))

    @staticmethod
    def pattern(
        regex: str, nullable: bool = False, max_len: int | None = None
    ) -> fields.Field[Any]:
        """A string matching ``regex`` (anchored with ``\\Z``), at most ``max_len`` long."""
        validators: list[Validator] = [Regexp(regex)]
        if max_len is not None:
            validators.insert(0, Length(max=max_len))
        return _col(String, nullable, *validators)

    @staticmethod
    def machine_name(max_len: int) -> fields.Field[Any]:
        """A name used inside URLs, canonical references and link ids."""
        return col.pattern(_NAME % (max_len - 1))

    @staticmethod
    def choice(*choices: str, nullable: bool = False) -> fields.Field[Any]:
        return _col(String, nullable, OneOf(choices))

    @staticmethod
    def count(nullable: bool = True, minimum: int = 0) -> fields.Field[Any]:
        return _col(Integer, nullable, Range(min=minimum))

    @staticmethod
    def number(nullable: bool = True) -> fields.Field[Any]:
        return _col(Number, nullable)

    @staticmethod
    def boolean(nullable: bool = False) -> fields.Field[Any]:
        return _col(Boolean, nullable)

    @staticmethod
    def timestamp(nullable: bool = False) -> fields.Field[Any]:
        return _col(Timestamp, nullable)

    @staticmethod
    def day(nullable: bool = False) -> fields.Field[Any]:
        return _col(Day, nullable)

    @staticmethod
    def of(cls: type[Column], nullable: bool = False) -> fields.Field[Any]:
        return _col(cls, nullable)


# --- The compiled check -------------------------------------------------------------------------


def _predicate(validator: Callable[[Any], Any]) -> Check:
    """A bool-returning twin of one marshmallow validator; TypeError for any other callable."""
    if isinstance(validator, Range):
        if not (validator.min_inclusive and validator.max_inclusive):
            raise TypeError("only inclusive Range bounds compile")
        lo = -math.inf if validator.min is None else validator.min
        hi = math.inf if validator.max is None else validator.max
        return lambda v: lo <= v <= hi
    if isinstance(validator, Length) and validator.equal is None:
        lo, hi = validator.min or 0, math.inf if validator.max is None else validator.max
        return lambda v: lo <= len(v) <= hi
    if isinstance(validator, Regexp):
        match = validator.regex.match  # marshmallow matches at the start only, as here
        return lambda v: match(v) is not None
    raise TypeError(f"cannot compile validator {validator!r}")


def _value_check(
    field: fields.Field[Any],
) -> tuple[frozenset[type] | None, frozenset[Any] | None, list[Check]]:
    """(exact types or None, OneOf choices or None, predicates) for one non-None value."""
    preds: list[Check] = []
    choices: frozenset[Any] | None = None
    for validator in field.validators:
        if isinstance(validator, OneOf):
            choices = frozenset(validator.choices)
        else:
            preds.append(_predicate(validator))
    if isinstance(field, Column):
        if type(field).accepts is not Column.accepts:
            preds.append(field.accepts)
        return frozenset(field.python_types), choices, preds
    if isinstance(field, ListOf):
        item = _single_value_check(field.inner)
        preds.append(lambda v: all(map(item, v)))
        return frozenset({list}), choices, preds
    if isinstance(field, fields.Nested):
        nested = compile_check(field.schema)
        preds.append(lambda v: isinstance(v, Mapping) and nested(v))
        return None, choices, preds
    raise TypeError(f"cannot compile field {field!r}")


def _single_value_check(field: fields.Field[Any]) -> Check:
    """A check of one list element (None allowed only if the element field allows it)."""
    types, choices, preds = _value_check(field)
    nullable = field.allow_none

    def check(value: Any) -> bool:
        if value is None:
            return nullable
        if types is not None and type(value) not in types:
            return False
        if choices is not None and value not in choices:
            return False
        return all(pred(value) for pred in preds)

    return check


def compile_check(schema: Schema) -> Callable[[Mapping[str, Any]], bool]:
    """The fast equivalent of ``not schema.validate(record)`` (see the module docstring)."""
    typed: list[tuple[str, frozenset[type]]] = []
    enums: list[tuple[str, frozenset[Any]]] = []
    present: list[str] = []
    preds: list[tuple[str, Check]] = []
    for attr, field in schema.load_fields.items():
        name_ = field.data_key or attr
        if field.required == field.allow_none:
            raise TypeError(
                f"{name_}: required fields must be non-null and optional ones "
                "nullable (a missing key reads as None)"
            )
        types, choices, field_preds = _value_check(field)
        none = {type(None)} if field.allow_none else set()
        if types is not None:
            typed.append((name_, types | none))
        elif not field.allow_none:
            present.append(name_)
        if choices is not None:
            enums.append((name_, choices | ({None} if field.allow_none else set())))
        preds.extend((name_, pred) for pred in field_preds)
    typed_t, enums_t, present_t, preds_t = tuple(typed), tuple(enums), tuple(present), tuple(preds)

    def check(record: Mapping[str, Any]) -> bool:
        get = record.get
        for name_, types in typed_t:
            if type(get(name_)) not in types:
                return False
        for name_, choices in enums_t:
            if get(name_) not in choices:
                return False
        for name_ in present_t:
            if get(name_) is None:
                return False
        for name_, pred in preds_t:
            value = get(name_)
            if value is not None and not pred(value):
                return False
        return True

    return check


def field_errors(schema: Schema, record: Any) -> list[str]:
    """Marshmallow's errors for a record, as sorted ``"path: reason"`` strings without values."""
    if not isinstance(record, Mapping):
        return ["record: Invalid input type."]
    return sorted(_flatten(schema.validate(record), ""))


def _flatten(errors: Mapping[Any, Any], prefix: str) -> list[str]:
    out: list[str] = []
    for name_, value in errors.items():
        path = (
            f"{prefix}[{name_}]"
            if isinstance(name_, int)
            else (f"{prefix}.{name_}" if prefix else str(name_))
        )
        if isinstance(value, Mapping):
            out.extend(_flatten(value, path))
        else:
            out.extend(f"{path}: {message}" for message in value)
    return out
