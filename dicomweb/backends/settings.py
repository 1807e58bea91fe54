"""Configuration of a PACS backend: one frozen value, every option documented with its default.

The gateway's settings object builds it (``FHIR_GATEWAY_PACS_*``); this module reads no
environment variables. AE titles follow PS3.5 §6.2 (AE VR: at most 16 characters, no backslash,
no control characters, not only spaces).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Literal

RetrieveMode = Literal["c-get", "c-move"]
PatientIdSource = Literal["mrn", "national_id"]
IDLE_POLL_S = 0.001  # pynetdicom's own DUL run-loop delay (DULServiceProvider._run_loop_delay)


def _opt(default: Any, doc: str) -> Any:
    return field(default=default, metadata={"doc": doc})


def check_aet(value: str, name: str) -> None:
    """Raise ``ValueError`` unless ``value`` is a valid AE title (PS3.5 §6.2, VR AE)."""
    if not value.strip() or len(value) > 16 or "\\" in value:
        raise ValueError(f"{name}: an AE title has 1 to 16 characters and no backslash")
    if any(ord(c) < 0x20 or ord(c) > 0x7E for c in value):
        raise ValueError(f"{name}: an AE title uses printable ASCII only")


@dataclass(frozen=True)
class PacsSettings:
    """How the gateway reaches its PACS over DIMSE (PS3.7 DIMSE, PS3.8 upper layer)."""

    host: str = _opt("127.0.0.1", "Host name or address of the PACS.")
    port: int = _opt(4242, "DICOM port of the PACS.")
    called_aet: str = _opt("ORTHANC", "AE title of the PACS (Called AE Title).")
    calling_aet: str = _opt(
        "FHIRGW", "AE title the gateway calls from; the PACS must know it (C-FIND, C-GET)."
    )
    storage_scp_aet: str = _opt(
        "FHIRGW_SCP", "AE title of the gateway's storage SCP: the C-MOVE destination."
    )
    storage_scp_host: str = _opt(
        "127.0.0.1", "Address the storage SCP listens on (the PACS must be able to reach it)."
    )
    storage_scp_port: int = _opt(11113, "Port the storage SCP listens on (c-move mode only).")
    retrieve_mode: RetrieveMode = field(
        default="c-get",
        metadata={
            "doc": "c-get: instances come back on the requesting association (PS3.4 §C.4.3); "
            "c-move: the PACS sends them to the storage SCP (PS3.4 §C.4.2)."
        },
    )
    pool_size: int = _opt(4, "Associations kept open to the PACS per process, at most.")
    pool_wait_s: float = _opt(
        10.0, "Seconds a request waits for a free association before PacsTimeout."
    )
    max_idle_s: float = _opt(
        20.0,
        "An idle association older than this is closed instead of reused; keep it below the "
        "PACS's own idle timeout (Orthanc: DicomScpTimeout).",
    )
    connect_timeout_s: float = _opt(5.0, "TCP connection timeout.")
    acse_timeout_s: float = _opt(10.0, "Seconds to wait for A-ASSOCIATE-AC/RJ or A-RELEASE-RP.")
    dimse_timeout_s: float = _opt(30.0, "Seconds to wait for each DIMSE response message.")
    network_timeout_s: float = _opt(
        60.0, "Seconds without any PDU after which pynetdicom aborts an association."
    )
    queue_size: int = _opt(
        8, "Instances buffered between the PACS and a slow consumer (memory bound of a retrieval)."
    )
    consumer_timeout_s: float = _opt(
        60.0, "A retrieval whose consumer takes no instance for this long is cancelled."
    )
    max_pdu_size: int = _opt(
        0, "Largest PDU the gateway accepts (0: no limit; the PACS still chooses its own size)."
    )
    patient_id_issuer: str = _opt(
        "",
        "Issuer of Patient ID (0010,0021) that qualifies the hospital's PatientIDs in the PACS "
        "(several issuers share one PACS); when set, an instance is a patient's only if it "
        "carries both, and both are imposed on every query. Empty: PatientID alone.",
    )
    busy_poll_s: float = _opt(
        0.00002,
        "How often pynetdicom's network thread looks for the next PDU while an association is "
        "leased (its own default, 0.001, is used while idle): each wait for a response otherwise "
        "costs up to a millisecond, which bounds a C-GET to a few hundred instances a second.",
    )
    patient_id_source: PatientIdSource = field(
        default="mrn",
        metadata={"doc": "Which HIS identifier is the DICOM PatientID: 'mrn' or 'national_id'."},
    )

    def __post_init__(self) -> None:
        for name in ("called_aet", "calling_aet", "storage_scp_aet"):
            check_aet(getattr(self, name), name)
        if self.retrieve_mode not in ("c-get", "c-move"):
            raise ValueError("retrieve_mode must be 'c-get' or 'c-move'")
        if self.patient_id_source not in ("mrn", "national_id"):
            raise ValueError("patient_id_source must be 'mrn' or 'national_id'")
        for port_name in ("port", "storage_scp_port"):
            if not 0 < getattr(self, port_name) < 65536:
                raise ValueError(f"{port_name} must be a TCP port")
        issuer = self.patient_id_issuer
        if len(issuer) > 64 or "\\" in issuer or any(ord(c) < 0x20 for c in issuer):
            raise ValueError("patient_id_issuer: at most 64 characters, no backslash (VR LO)")
        if not 0 <= self.busy_poll_s <= IDLE_POLL_S:
            raise ValueError(f"busy_poll_s must be between 0 and {IDLE_POLL_S}")
        if self.pool_size < 1 or self.queue_size < 1:
            raise ValueError("pool_size and queue_size must be at least 1")
        positive = (
            "pool_wait_s",
            "max_idle_s",
            "connect_timeout_s",
            "acse_timeout_s",
            "dimse_timeout_s",
            "network_timeout_s",
            "consumer_timeout_s",
        )
        for name in positive:
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")


def options_markdown() -> str:
    """The options as a Markdown table (for the README's configuration reference)."""
    rows = ["| option | default | meaning |", "|---|---|---|"]
    for f in fields(PacsSettings):
        rows.append(f"| `{f.name}` | `{f.default}` | {f.metadata['doc']} |")
    return "\n".join(rows)
