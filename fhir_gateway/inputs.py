"""The one check of untrusted text at the edge of every surface, before any of it reaches a
parser, a database or a header.

PostgreSQL refuses NUL in text (its driver raises before the query is sent), MariaDB and SQLite
silently cut or keep it, and control characters, lone surrogates and over-long values have no
meaning in any FHIR search value, OAuth parameter or form field this gateway takes. Each surface
asks ``problem`` once per request with all of its parameters (query string, form body, path
segments) and answers the refusal in its own format: an OperationOutcome for FHIR, an RFC 6749
§5.2 error for the token endpoint, the form's own error for pages. The message names the
parameter (cleaned and clipped) and never repeats the value.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

#: Characters of one value: long enough for any identifier, token, date, reference or list of
#: them a client sends, short enough that nothing echoes a value of unbounded size.
MAX_VALUE = 4096
#: Characters of one parameter name (the longest R4 name with a modifier is under 64).
MAX_NAME = 128
#: Parameters of one request (werkzeug parses up to 1,000 form parts).
MAX_PARAMS = 200

#: C0 controls, DEL, C1 controls and UTF-16 surrogates (which only arrive unpaired, from a
#: broken encoding). Tab, CR and LF are controls too: no accepted value spans lines.
_REFUSED = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def bad_text(text: str) -> bool:
    """Whether ``text`` holds a control character or a lone surrogate."""
    return _REFUSED.search(text) is not None


def shown(name: str) -> str:
    """A parameter name fit to quote in an error: controls replaced, at most 40 characters."""
    clean = _REFUSED.sub("?", name)
    return clean if len(clean) <= 40 else clean[:37] + "..."


def problem(
    pairs: Iterable[tuple[str, str]],
    *,
    max_value: int = MAX_VALUE,
    limits: dict[str, int] | None = None,
    max_params: int = MAX_PARAMS,
) -> str | None:
    """What is wrong with the first refused parameter of ``pairs``, or None when all are fine.

    ``limits``: tighter bounds of named parameters (an OAuth ``state``), in characters.
    """
    for count, (name, value) in enumerate(pairs, start=1):
        if count > max_params:
            return f"A request takes at most {max_params} parameters"
        if len(name) > MAX_NAME or bad_text(name):
            return (
                "A parameter name holds a control character or a lone surrogate, "
                f"or is longer than {MAX_NAME} characters"
            )
        if bad_text(value):
            return f"The value of '{shown(name)}' holds a control character or a lone surrogate"
        bound = (limits or {}).get(name, max_value)
        if len(value) > bound:
            return f"The value of '{shown(name)}' is longer than {bound} characters"
    return None
