"""Mapper benchmark: µs per record, validation included, for every mapper.

Run from the project root::

    .venv/bin/python -m tests.mappers.bench_mappers

Budgets (ARCHITECTURE, 2-core host): ~2,000 Patient reads/s for the whole gateway and a page of
100 Observations mapped in about 1 ms. "check" is the compiled record check alone, "map" the
mapper alone, "map_record" both (what the gateway calls); "marshmallow" is Schema.validate for
comparison, and "orjson" the serialisation of the output.
"""

from __future__ import annotations

import timeit
from collections.abc import Callable

import orjson

from mappers import MAPPERS, MapContext, map_record
from mappers.records import CHECKS, SCHEMAS

from .cases import Case
from .cases_clinical import ALL_CASES


def _us(fn: Callable[[], object], number: int) -> float:
    return min(timeit.repeat(fn, number=number, repeat=5)) / number * 1e6


def _row(case: Case, ctx: MapContext) -> str:
    record, kind, pair = case.record, case.kind, (case.resource_type, case.kind)
    to_fhir, check, schema = MAPPERS[pair].to_fhir, CHECKS[kind], SCHEMAS[kind]
    resource = to_fhir(record, ctx)
    number = 20000 if kind in ("patient", "lab_result") else 5000
    return (
        f"{case.resource_type + ' (' + kind + ')':50} "
        f"{_us(lambda: check(record), number):7.2f} "
        f"{_us(lambda: to_fhir(record, ctx), number):7.2f} "
        f"{_us(lambda: map_record(*pair, record, ctx), number):11.2f} "
        f"{_us(lambda: schema.validate(record), 500):12.1f} "
        f"{_us(lambda: orjson.dumps(resource), number):7.2f}"
    )


def main() -> None:
    ctx = MapContext()
    seen: set[tuple[str, str]] = set()
    print(
        f"{'resource (record kind)':50} {'check':>7} {'map':>7} {'map_record':>11} "
        f"{'marshmallow':>12} {'orjson':>7}   (µs)"
    )
    for case in ALL_CASES:
        if (case.resource_type, case.kind) not in seen:
            seen.add((case.resource_type, case.kind))
            print(_row(case, ctx))
    page = [case.record for case in ALL_CASES if case.kind == "lab_result"]
    page = (page * (100 // len(page) + 1))[:100]
    per_page = _us(lambda: [map_record("Observation", "lab_result", r, ctx) for r in page], 200)
    print(
        f"\npage of 100 Observations ({len(set(map(id, page)))} record variants), "
        f"map_record: {per_page:.0f} µs"
    )


if __name__ == "__main__":
    main()
