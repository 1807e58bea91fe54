"""PACS backends: the :class:`PacsBackend` protocol, its DIMSE and upstream DICOMweb
implementations.

No web framework here: the DICOMweb routes call a backend and render what it returns.
"""

from dicomweb.backends.base import (
    InstanceStatus,
    PacsBackend,
    Query,
    Retrieval,
    RetrieveOutcome,
    StoreResult,
)
from dicomweb.backends.dimse import DimseBackend
from dicomweb.backends.settings import PacsSettings
from dicomweb.backends.upstream import UpstreamDicomwebBackend

__all__ = [
    "DimseBackend",
    "InstanceStatus",
    "PacsBackend",
    "PacsSettings",
    "Query",
    "Retrieval",
    "RetrieveOutcome",
    "StoreResult",
    "UpstreamDicomwebBackend",
]
