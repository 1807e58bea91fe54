"""Presentation contexts the gateway proposes or accepts (PS3.8 §9.3.2.2, PS3.7 §D.3.3.4).

An association carries at most 128 presentation contexts (context IDs are odd numbers 1..255,
PS3.8 §9.3.2.2). A C-GET needs, besides the Get model, one context per storage SOP class of
the study with the SCP role negotiated (PS3.4 §C.4.3.1), so the contexts are built per study from
``SOPClassesInStudy``. To receive each instance in the syntax the PACS stores it in (no
transcoding, byte-for-byte pass-through), every SOP class is offered once per transfer syntax,
one syntax per context: the PACS then picks the context matching its stored syntax. When the
study has many SOP classes the rarer syntaxes are dropped first.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pydicom.uid import (
    JPEG2000,
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
)
from pynetdicom import build_context, build_role
from pynetdicom.pdu_primitives import SCP_SCU_RoleSelectionNegotiation
from pynetdicom.presentation import AllStoragePresentationContexts, PresentationContext

MAX_CONTEXTS = 128

VERIFICATION = UID("1.2.840.10008.1.1")  # PS3.4 Annex A
#: Study Root Query/Retrieve Information Model (PS3.4 §C.6.2.1): FIND, MOVE and GET
FIND_MODEL = UID("1.2.840.10008.5.1.4.1.2.2.1")
MOVE_MODEL = UID("1.2.840.10008.5.1.4.1.2.2.2")
GET_MODEL = UID("1.2.840.10008.5.1.4.1.2.2.3")

#: Syntaxes a retrieval can receive, most useful first: uncompressed (every viewer), then the
#: compressed syntaxes archives actually store (PS3.5 §8 and Annex A).
RETRIEVE_SYNTAXES: tuple[str | UID, ...] = (
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLosslessSV1,
    JPEGBaseline8Bit,
    JPEG2000,
    JPEGLSLossless,
    RLELossless,
    JPEGExtended12Bit,
    JPEGLSNearLossless,
    DeflatedExplicitVRLittleEndian,
)

UNCOMPRESSED: list[str | UID] = [ExplicitVRLittleEndian, ImplicitVRLittleEndian]

#: Storage SOP classes assumed when the PACS does not report ``SOPClassesInStudy``.
COMMON_STORAGE_CLASSES: tuple[str, ...] = (
    "1.2.840.10008.5.1.4.1.1.2",  # CT Image
    "1.2.840.10008.5.1.4.1.1.4",  # MR Image
    "1.2.840.10008.5.1.4.1.1.1",  # Computed Radiography Image
    "1.2.840.10008.5.1.4.1.1.1.1",  # Digital X-Ray Image - For Presentation
    "1.2.840.10008.5.1.4.1.1.1.2",  # Digital Mammography X-Ray Image - For Presentation
    "1.2.840.10008.5.1.4.1.1.6.1",  # Ultrasound Image
    "1.2.840.10008.5.1.4.1.1.3.1",  # Ultrasound Multi-frame Image
    "1.2.840.10008.5.1.4.1.1.7",  # Secondary Capture Image
    "1.2.840.10008.5.1.4.1.1.12.1",  # X-Ray Angiographic Image
    "1.2.840.10008.5.1.4.1.1.128",  # Positron Emission Tomography Image
    "1.2.840.10008.5.1.4.1.1.20",  # Nuclear Medicine Image
    "1.2.840.10008.5.1.4.1.1.88.22",  # Enhanced SR
    "1.2.840.10008.5.1.4.1.1.104.1",  # Encapsulated PDF
    "1.2.840.10008.5.1.4.1.1.2.1",  # Enhanced CT Image
    "1.2.840.10008.5.1.4.1.1.4.1",  # Enhanced MR Image
    "1.2.840.10008.5.1.4.1.1.1.2.1",  # Digital Mammography - For Processing
    "1.2.840.10008.5.1.4.1.1.13.1.3",  # Breast Tomosynthesis Image
    "1.2.840.10008.5.1.4.1.1.481.1",  # RT Image
)


def query_contexts() -> list[PresentationContext]:
    """Verification, Study Root FIND and MOVE: the contexts of a pooled query association."""
    return [build_context(uid, UNCOMPRESSED) for uid in (VERIFICATION, FIND_MODEL, MOVE_MODEL)]


def get_contexts(
    sop_classes: Sequence[str],
) -> tuple[list[PresentationContext], list[SCP_SCU_RoleSelectionNegotiation]]:
    """Contexts and SCP role items for a C-GET of instances of ``sop_classes``.

    Syntaxes are added round-robin (every class gets Explicit VR LE, then Implicit VR LE, ...)
    until the 128-context budget is spent, so no class is ever left without a context.
    """
    classes = list(dict.fromkeys(sop_classes))[: MAX_CONTEXTS - 1]
    if not classes:
        classes = list(COMMON_STORAGE_CLASSES)
    budget = MAX_CONTEXTS - 1
    per_class: dict[str, list[str | UID]] = {uid: [] for uid in classes}
    for syntax in RETRIEVE_SYNTAXES:
        for uid in classes:
            if budget == 0:
                break
            per_class[uid].append(syntax)
            budget -= 1
    contexts = [build_context(GET_MODEL, UNCOMPRESSED)]
    for uid, syntaxes in per_class.items():
        contexts.extend(build_context(uid, syntax) for syntax in syntaxes)
    roles = [build_role(uid, scp_role=True) for uid in classes]
    return contexts, roles


def store_contexts(pairs: Iterable[tuple[str, str]]) -> list[PresentationContext]:
    """One context per (SOP class, transfer syntax) pair, in first-seen order (PS3.4 §B.2)."""
    unique = list(dict.fromkeys(pairs))
    if len(unique) > MAX_CONTEXTS:
        raise ValueError("more than 128 presentation contexts: split the batch")
    return [build_context(sop_class, syntax) for sop_class, syntax in unique]


def storage_scp_contexts() -> list[PresentationContext]:
    """What the gateway's storage SCP accepts: every storage SOP class in every syntax above."""
    syntaxes = list(RETRIEVE_SYNTAXES)
    return [
        build_context(cx.abstract_syntax, syntaxes)
        for cx in AllStoragePresentationContexts
        if cx.abstract_syntax
    ]
