"""Structured logs: one JSON object a line, with the request id and never patient data.

Log lines name routes (``/fhir/<resource_type>/<resource_id>``), never query strings (which can
carry national IDs), and errors by their class and place, never their message or stack.
"""

from __future__ import annotations

import logging
import sys
import time
from contextvars import ContextVar
from typing import Any

import orjson

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = request_id.get()
        if rid:
            line["request_id"] = rid
        for key, value in record.__dict__.items():
            if key not in _STANDARD:
                line[key] = value
        return orjson.dumps(line, default=str).decode()


class PlainFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        extra = {k: v for k, v in record.__dict__.items() if k not in _STANDARD}
        rid = request_id.get()
        head = f"{self.formatTime(record)} {record.levelname} {record.name} [{rid or '-'}]"
        return f"{head} {record.getMessage()}" + (f" {extra}" if extra else "")


_handler: logging.Handler | None = None


def configure(level: str, json_lines: bool) -> None:
    """Install the gateway's handler on the root logger (replacing only its own earlier one)."""
    global _handler
    root = logging.getLogger()
    if _handler is not None:
        root.removeHandler(_handler)
    _handler = logging.StreamHandler(sys.stderr)
    _handler.setFormatter(JsonFormatter() if json_lines else PlainFormatter())
    root.addHandler(_handler)
    root.setLevel(level.upper())
    # pynetdicom logs every C-FIND identifier (patient names, IDs, birth dates) at INFO and
    # DEBUG: only its warnings and errors may reach the gateway's log.
    logging.getLogger("pynetdicom").setLevel(max(logging.WARNING, root.level))


def error_place(exc: BaseException) -> str:
    """``ExceptionClass at module.py:123`` of the innermost frame: enough to find, no data."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    where = f" at {tb.tb_frame.f_code.co_filename.rsplit('/', 1)[-1]}:{tb.tb_lineno}" if tb else ""
    return f"{type(exc).__name__}{where}"
