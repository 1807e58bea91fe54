"""Errors of the PACS side, each knowing the HTTP status the DICOMweb layer answers with.

PS3.18 §8.6 lets an origin server answer with any HTTP status; for a proxy in front of a PACS the
useful ones are 502 (the PACS answered with a failure), 503 (the PACS cannot be reached or refused
the association) and 504 (the PACS did not answer in time). The classes carry data, not
framework objects: the HTTP layer renders them. Messages never carry patient data.
"""

from __future__ import annotations

from typing import ClassVar


class PacsError(Exception):
    """Base of every error raised by a PACS backend."""

    http_status: ClassVar[int] = 502

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class PacsUnavailable(PacsError):
    """The PACS could not be reached: connection refused, association rejected or aborted.

    PS3.8 §7.1.1.7 (A-ASSOCIATE-RJ) and §7.3 (A-ABORT, A-P-ABORT). The caller may retry later.
    """

    http_status = 503


class PacsTimeout(PacsError):
    """The PACS did not answer within the ACSE, DIMSE or network timeout (PS3.8 §9.1.5 ARTIM)."""

    http_status = 504


class PacsStatusError(PacsError):
    """The PACS answered a request with a Failure or Cancel status (PS3.7 Annex C).

    ``status`` is the DIMSE status code, e.g. ``0xA700`` (out of resources), ``0xA900``
    (identifier does not match SOP class) or ``0xC000`` (unable to process).
    """

    http_status = 502

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(f"{message} (status 0x{status:04X})")
        self.status = status


class RetrievalIncomplete(PacsStatusError):
    """A C-GET or C-MOVE ended without every instance it matched: sub-operations failed at the
    PACS (PS3.4 §C.4.3.1.3.1, §C.4.2.1.3.1), or the retrieval itself failed. Nothing may pass
    it off as the whole study, series or instance: before the first byte it is a 502, after it
    the response is cut."""

    def __init__(self, *, status: int, failed: int, completed: int) -> None:
        super().__init__(
            f"the PACS sent {completed} instance(s) and failed {failed} sub-operation(s)",
            status=status,
        )
        self.failed = failed
        self.completed = completed
