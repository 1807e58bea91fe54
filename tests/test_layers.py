"""The package graph points down (.importlinter): the composition root on top, imported by
nothing; the surfaces (smart_auth, dicomweb) beside each other; conformance, then the FHIR API
and its HIS connector; the access layer and the mappers at the bottom. The synthetic hospital
and PACS (demo/) are outside the runtime, and the access layer knows no framework."""

from __future__ import annotations

import configparser
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_every_import_contract_is_kept() -> None:
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            "from importlinter.cli import lint_imports_command; lint_imports_command()",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "0 broken" in run.stdout


def test_a_broken_contract_is_reported(tmp_path: Path) -> None:
    """The check can fail: an upward import (the access layer importing the FHIR API) breaks it."""
    source = configparser.ConfigParser()
    source.read(REPO / ".importlinter", encoding="utf-8")
    config = configparser.ConfigParser()
    for section in ("importlinter", "importlinter:contract:layers"):
        config[section] = dict(source[section])
    with (tmp_path / ".importlinter").open("w", encoding="utf-8") as out:
        config.write(out)
    for package in (
        "portal",
        "gateway",
        "notifications",
        "smart_auth",
        "dicomweb",
        "conformance",
        "fhir_gateway",
        "mappers",
        "demo",
    ):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("", encoding="utf-8")
    (tmp_path / "access").mkdir()
    (tmp_path / "access" / "__init__.py").write_text("import fhir_gateway\n", encoding="utf-8")
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            "from importlinter.cli import lint_imports_command; lint_imports_command()",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert run.returncode != 0
    assert "Packages depend only downward BROKEN" in run.stdout
