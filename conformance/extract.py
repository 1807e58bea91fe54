"""Extract the R4 search parameters of the served resource types from HL7's published bundle.

Usage: ``python -m conformance.extract path/to/search-parameters.json``. Writes
``conformance/data/r4-search-parameters.json``. See ``conformance/data/README.md``.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

SERVED_TYPES = (
    "Appointment",
    "AuditEvent",
    "Binary",
    "DiagnosticReport",
    "DocumentReference",
    "Encounter",
    "HealthcareService",
    "ImagingStudy",
    "Location",
    "Observation",
    "Organization",
    "Patient",
    "Practitioner",
    "PractitionerRole",
    "Questionnaire",
    "QuestionnaireResponse",
    "RelatedPerson",
    "Schedule",
    "Slot",
    "Resource",
)
OUT = Path(__file__).parent / "data" / "r4-search-parameters.json"


def _description_for(description: str, resource_type: str) -> str:
    """Multi-resource parameters describe each base on a line ``* [Type](type.html): text``."""
    match = re.search(rf"\* \[{resource_type}\]\([a-z]+\.html\): ([^\r\n]+)", description)
    return (match.group(1) if match else description).strip()


def extract(bundle: dict) -> dict[str, dict[str, dict]]:
    out: dict[str, dict[str, dict]] = {t: {} for t in SERVED_TYPES}
    for entry in bundle["entry"]:
        param = entry["resource"]
        for base in param.get("base", []):
            if base in out:
                out[base][param["code"]] = {
                    "url": param["url"],
                    "type": param["type"],
                    "target": param.get("target", []),
                    "description": _description_for(param.get("description", ""), base),
                }
    return out


def main(argv: list[str]) -> int:
    bundle = json.loads(Path(argv[1]).read_text(encoding="utf-8"))
    OUT.write_text(json.dumps(extract(bundle), indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
