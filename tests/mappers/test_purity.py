"""Mappers stay pure: no web framework, database, model library or I/O, and they are fast."""

from __future__ import annotations

import ast
import subprocess
import sys
import timeit
from pathlib import Path

from mappers import MapContext, map_record

from . import fixtures as f

PACKAGE = Path(__file__).resolve().parents[2] / "mappers"
ALLOWED = {
    "__future__",
    "base64",
    "collections",
    "dataclasses",
    "datetime",
    "functools",
    "math",
    "re",
    "typing",
    "marshmallow",
}


def test_imports_are_pure() -> None:
    for path in PACKAGE.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert name.split(".")[0] in ALLOWED, f"{path.name} imports {name}"


def test_importing_mappers_loads_no_framework() -> None:
    code = (
        "import sys, mappers; print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'flask', 'sqlalchemy', 'pydantic', 'fhir', 'werkzeug', 'requests'}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=PACKAGE.parent
    )
    assert out.stdout.strip() == "[]"


def test_hot_mappers_stay_fast() -> None:
    """A loose guard (about 10x the measured cost): catches a slow path, not noise."""
    ctx = MapContext()
    patient, result = f.patient(), f.lab_result()
    for rtype, kind, record in (
        ("Patient", "patient", patient),
        ("Observation", "lab_result", result),
    ):
        seconds = min(
            timeit.repeat(
                lambda r=rtype, k=kind, rec=record: map_record(r, k, rec, ctx),
                number=2000,
                repeat=3,
            )
        )
        assert seconds / 2000 < 80e-6, rtype
