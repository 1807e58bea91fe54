"""The PACS backends and the synthetic data know nothing of Flask (STYLE.md, habit 1)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FRAMEWORK_FREE = [
    *sorted((REPO / "dicomweb" / "backends").glob("*.py")),
    REPO / "demo" / "synthetic.py",
    REPO / "dicomweb" / "errors.py",
    REPO / "demo" / "orthanc.py",
]


def test_no_module_imports_flask() -> None:
    for path in FRAMEWORK_FREE:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            assert not any(n.split(".")[0] in ("flask", "werkzeug") for n in names), path


def test_importing_the_backends_loads_no_flask() -> None:
    modules = ", ".join(
        "dicomweb.backends" if p.stem == "__init__" else f"dicomweb.backends.{p.stem}"
        for p in FRAMEWORK_FREE
        if p.parent.name == "backends"
    )
    code = f"import sys, {modules}, demo.synthetic, demo.orthanc; sys.exit('flask' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO, check=False).returncode == 0
