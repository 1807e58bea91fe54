"""Where each FHIR resource comes from in the default HIS database, and how it is searched.

A ``Source`` is one record kind (a HIS table, with the joins its mapper needs) serving one
resource type: its columns, its patient column (for compartment narrowing), the SQL binding of
every search parameter the registry declares for that type, and its sort columns. A resource
type may be served by several sources (DiagnosticReport: lab bulletins, paraclinical tests,
radiology reports); searches merge them in one ordering.
"""

from __future__ import annotations

from mappers import IdentifierSystems

from .base import Source
from .clinical import clinical_sources
from .directory import organisation_sources, people_sources
from .reports import report_sources
from .scheduling import questionnaire_sources, scheduling_sources


def build_sources(systems: IdentifierSystems) -> list[Source]:
    """Every source of the default HIS database, bound to the deployment's identifier systems."""
    return [
        *people_sources(systems),
        *organisation_sources(systems),
        *clinical_sources(systems),
        *report_sources(systems),
        *scheduling_sources(systems),
        *questionnaire_sources(systems),
    ]


__all__ = ["Source", "build_sources"]
