"""Writing batches of rows while their documents' PDFs render in worker processes.

Rendering PDFs costs far more than generating rows, so with workers the generator does not
wait for them: a batch whose documents are still rendering is held back (its bulletins, tests
and imaging orders point at those documents), and later batches without documents are written
meanwhile. Batches are independent of each other (ids are given when rows are generated and no
row points into another batch), so the order in which they reach the database changes nothing
in the data. At most ``max_held`` batches wait; beyond that the oldest is awaited.

Workers are forked, after the parent has prepared the PDF font, so they share it.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Any

from .. import pdf
from .bulk import BulkWriter, Rows
from .documents import attach

_JOBS_PER_TASK = 32


@dataclass
class _Held:
    """A batch waiting for its PDFs."""

    rows: Rows
    documents: list[dict[str, Any]]
    parts: list[Future[list[bytes]]]

    def ready(self) -> bool:
        return all(part.done() for part in self.parts)

    def contents(self) -> list[bytes]:
        return [content for part in self.parts for content in part.result()]


class Pipeline:
    """Renders each batch's PDFs (inline, or in ``workers`` processes) and writes the batch."""

    def __init__(self, writer: BulkWriter, workers: int, max_held: int = 3) -> None:
        self.writer = writer
        self.max_held = max_held
        self._held: deque[_Held] = deque()
        self._pool: ProcessPoolExecutor | None = None
        if workers > 0:
            pdf.prepare_font()
            self._pool = ProcessPoolExecutor(workers, mp_context=get_context("fork"))

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *error: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)

    @property
    def rendering(self) -> int:
        """How many documents are still waiting for their PDF."""
        return sum(len(held.documents) for held in self._held)

    def submit(self, rows: Rows, documents: list[dict[str, Any]], jobs: list[pdf.Job]) -> None:
        """Write a batch whose ``documents`` have their PDFs rendered from ``jobs``."""
        if self._pool is None or not jobs:
            attach(rows, documents, map(pdf.render, jobs))
            self.writer.write(rows)
        else:
            parts = [
                self._pool.submit(pdf.render_all, jobs[start : start + _JOBS_PER_TASK])
                for start in range(0, len(jobs), _JOBS_PER_TASK)
            ]
            self._held.append(_Held(rows, documents, parts))
        self._write_ready()
        while len(self._held) > self.max_held:
            self._write(self._held.popleft())

    def finish(self) -> None:
        """Wait for every held batch and write it."""
        while self._held:
            self._write(self._held.popleft())

    def _write_ready(self) -> None:
        for held in [held for held in self._held if held.ready()]:
            self._held.remove(held)
            self._write(held)

    def _write(self, held: _Held) -> None:
        wait(held.parts)
        attach(held.rows, held.documents, held.contents())
        self.writer.write(held.rows)
