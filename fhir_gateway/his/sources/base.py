"""The ``Source`` record and the helpers every source module shares."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.engine import Connection

from mappers import IdentifierSystems, codes

from .. import schema as t
from ..bindings import (
    Binding,
    CodingsToken,
    DateBinding,
    IdBinding,
    TokenColumn,
    reverse,
)

Enrich = Callable[[Connection, list[dict[str, Any]]], None]


@dataclass
class Source:
    resource_type: str
    kind: str
    rank: int
    stmt: Select[Any]  # the columns the mapper needs, with joins
    id_col: ColumnElement[Any]
    patient_col: ColumnElement[Any] | None
    bindings: dict[str, Binding]
    sorts: dict[str, ColumnElement[Any]]
    where: ColumnElement[bool] | None = None
    enrich: Enrich | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _common(resource_type: str, kind: str, table: Any) -> tuple[dict[str, Binding], dict[str, Any]]:
    bindings: dict[str, Binding] = {
        "_id": IdBinding(resource_type, kind, table.c.id),
        "_lastUpdated": DateBinding(table.c.updated_at),
    }
    return bindings, {"_id": table.c.id, "_lastUpdated": table.c.updated_at}


def source(
    resource_type: str,
    kind: str,
    table: Any,
    stmt: Select[Any],
    patient_col: ColumnElement[Any] | None,
    bindings: dict[str, Binding],
    sorts: Mapping[str, ColumnElement[Any]] | None = None,
    *,
    rank: int = 0,
    where: ColumnElement[bool] | None = None,
    enrich: Enrich | None = None,
) -> Source:
    base_bindings, base_sorts = _common(resource_type, kind, table)
    return Source(
        resource_type=resource_type,
        kind=kind,
        rank=rank,
        stmt=stmt,
        id_col=table.c.id,
        patient_col=patient_col,
        bindings={**base_bindings, **bindings},
        sorts={**base_sorts, **(sorts or {})},
        where=where,
        enrich=enrich,
    )


# --- enrichment: related values a mapper needs, fetched once per page ---------------------------


def enrich_bulletin_results(conn: Connection, records: list[dict[str, Any]]) -> None:
    ids = [r["id"] for r in records]
    by_bulletin: dict[int, list[int]] = {i: [] for i in ids}
    stmt = (
        select(t.lab_result.c.bulletin_id, t.lab_result.c.id)
        .where(t.lab_result.c.bulletin_id.in_(ids))
        .order_by(t.lab_result.c.id)
    )
    for bulletin_id, result_id in conn.execute(stmt):
        by_bulletin[bulletin_id].append(result_id)
    for r in records:
        r["result_ids"] = by_bulletin[r["id"]]


def enrich_questionnaire(conn: Connection, records: list[dict[str, Any]]) -> None:
    ids = {r["questionnaire_id"] for r in records}
    rows = conn.execute(select(t.questionnaire).where(t.questionnaire.c.id.in_(ids))).mappings()
    by_id = {row["id"]: dict(row) for row in rows}
    for r in records:
        r["questionnaire"] = by_id.get(r["questionnaire_id"])


def nest_guardian(_conn: Connection, records: list[dict[str, Any]]) -> None:
    for r in records:
        r["guardian"] = {k[2:]: r.pop(k) for k in [k for k in r if k.startswith("g_")]}


def national_id(systems: IdentifierSystems, table: Any) -> list[tuple[str, Any, Any]]:
    return [
        (systems.cnp, table.c.national_id, table.c.national_id_kind == "CNP"),
        (systems.pesel, table.c.national_id, table.c.national_id_kind == "PESEL"),
    ]


def specialty_binding(s: IdentifierSystems, col: Any) -> Binding:
    """``specialty``: every coding the resources carry, the HIS's own specialty code and the
    SNOMED CT practice setting ``mappers.codes.SPECIALTY_SNOMED`` gives it."""
    return CodingsToken(
        col,
        {
            f"{s.local_codes}/specialty": None,
            codes.SNOMED: reverse({k: v[0] for k, v in codes.SPECIALTY_SNOMED.items()}),
        },
    )


def service_type_binding(s: IdentifierSystems, col: Any) -> Binding:
    return TokenColumn(col, (f"{s.local_codes}/service",))


class IdentityCodes(dict):  # type: ignore[type-arg]
    """A code table where an unknown code stands for itself (local codes pass through)."""

    def get(self, key: Any, default: Any = None) -> Any:
        return super().get(key, [key])
