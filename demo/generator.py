"""A deterministic synthetic hospital information system (HIS) for tests, demos and benchmarks.

``generate(engine, patients=..., seed=..., today=...)`` creates the tables of
:mod:`fhir_gateway.his.schema` if they are missing and fills them with a Romanian/Polish
hospital: organisation, doctors, services, schedules and slots, questionnaires, then patients
with their episodes, lab bulletins, paraclinical tests, imaging orders, appointments,
questionnaire assignments and documents with real PDF files.

Determinism: the same ``(patients, seed, today, locale_mix, lab_results_per_patient)`` gives
the same rows, byte for byte, on every database. Every household and every patient draws from
its own ``random.Random`` seeded from ``seed`` and its index, so patient 17 is the same person
whether 30 or 100,000 patients are generated, and ``max_document_patients`` (documents and
PDFs for the first N patients only) changes documents and the columns pointing at them, nothing
else. Nothing reads the wall clock: the generated history ends at midnight UTC starting
``today``; planned care lies after it.

Scale: patients are generated and written in batches (``batch_size`` per transaction) through
:mod:`demo.synth.bulk` (executemany on SQLite, COPY on PostgreSQL); memory stays
bounded by a few batches. PDFs may be rendered in ``pdf_workers`` processes while later batches
are generated and written (:mod:`demo.synth.pipeline`).
"""

from __future__ import annotations

import datetime as dt
import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields

from sqlalchemy import Engine

from . import names
from .synth import booking, care, lab, people, reference
from .synth.bulk import BulkWriter, HisNotEmptyError, RowBuffer
from .synth.context import Batch, Clock, Person, Sequences
from .synth.documents import DocumentQueue
from .synth.imaging import images_in_pacs, imaging_orders
from .synth.papers import papers
from .synth.paraclinical import paraclinical_tests
from .synth.pipeline import Pipeline
from .synth.questionnaires import assign

__all__ = ["GenerationSummary", "HisNotEmptyError", "generate", "images_in_pacs"]

Progress = Callable[[str], None]

# From how many patients with documents a pool of PDF workers pays for itself, and its size.
POOL_FROM = 200
MAX_WORKERS = 8


@dataclass(frozen=True)
class GenerationSummary:
    """Rows written per table, and how long it took."""

    department: int
    specialty: int
    doctor: int
    service: int
    schedule: int
    slot: int
    questionnaire: int
    patient: int
    guardian_link: int
    episode: int
    document: int
    document_file: int
    lab_bulletin: int
    lab_result: int
    paraclinical_test: int
    imaging_order: int
    appointment: int
    questionnaire_assignment: int
    seconds: float

    def counts(self) -> dict[str, int]:
        """Rows per table name."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "seconds"}


@dataclass(frozen=True)
class _Options:
    seed: int
    locales: tuple[str, ...]
    documents_until: int | None
    lab_results_per_patient: float


def generate(
    engine: Engine,
    *,
    patients: int,
    seed: int,
    today: dt.date,
    locale_mix: Sequence[str] = ("ro", "pl"),
    max_document_patients: int | None = None,
    progress: Progress | None = None,
    lab_results_per_patient: float = 50.0,
    batch_size: int = 1000,
    pdf_workers: int | None = None,
) -> GenerationSummary:
    """Fill the (empty) HIS database behind ``engine`` with ``patients`` synthetic patients.

    ``locale_mix`` lists the locales patients are drawn from, repeats weighting them
    (``("ro", "ro", "pl")`` is two Romanians to one Pole); the first one is the hospital's own.
    ``max_document_patients`` limits documents and their PDFs to the first N patients (None: all).
    ``lab_results_per_patient`` is the mean number of lab results per patient.
    ``pdf_workers`` > 0 renders PDFs in that many worker processes (same bytes as inline);
    None picks one per CPU (at most :data:`MAX_WORKERS`) when at least :data:`POOL_FROM`
    patients have documents, else 0 (inline).
    Raises :class:`HisNotEmptyError` if a HIS table already has rows.
    """
    locales = tuple(locale_mix)
    if patients < 0 or batch_size < 1 or not locales or not set(locales) <= set(names.LOCALES):
        raise ValueError(f"need patients >= 0, batch_size >= 1 and locales among {names.LOCALES}")
    run = _Run(
        options=_Options(seed, locales, max_document_patients, lab_results_per_patient),
        batch=Batch(
            Clock(today), reference.organisation(locales[0]), Sequences(), RowBuffer(),
            DocumentQueue(),
        ),
        report=progress or (lambda message: None),
    )  # fmt: skip
    workers = _workers(pdf_workers, patients, max_document_patients)
    with engine.connect() as conn, Pipeline(BulkWriter(conn), workers) as pipeline:
        pipeline.writer.prepare()
        run.reference(pipeline)
        run.patients(pipeline, patients, batch_size)
        pipeline.finish()
        pipeline.writer.finish(run.report)
    seconds = round(time.perf_counter() - run.started, 3)
    run.report(f"done in {seconds:.1f} s")
    return GenerationSummary(**pipeline.writer.counts, seconds=seconds)


def _workers(requested: int | None, patients: int, document_patients: int | None) -> int:
    if requested is not None:
        return requested
    with_documents = patients if document_patients is None else min(patients, document_patients)
    return min(os.cpu_count() or 1, MAX_WORKERS) if with_documents >= POOL_FROM else 0


@dataclass
class _Run:
    """One generation run: its options, the batch being built, progress reporting."""

    options: _Options
    batch: Batch
    report: Progress
    started: float = field(default_factory=time.perf_counter)

    def reference(self, pipeline: Pipeline) -> None:
        """Generate and write the organisation, schedules and questionnaires."""
        rng = random.Random(f"{self.options.seed}/reference")
        reference.build(self.batch, rng, self.options.locales)
        booking.build_schedules(self.batch, rng)
        pipeline.submit(self.batch.rows.take(), [], [])
        counts = pipeline.writer.counts
        self.report(
            f"reference data: {counts['doctor']} doctors, {counts['service']} services, "
            f"{counts['slot']} slots, {counts['questionnaire']} questionnaires"
        )

    def patients(self, pipeline: Pipeline, total: int, batch_size: int) -> None:
        """Generate and write ``total`` patients, ``batch_size`` (or a household more) a batch."""
        done, taken, next_report = 0, set[str](), 0
        while done < total:
            limit = min(done + batch_size, total)
            while done < limit:
                done += self.household(done, total - done, taken)
            pipeline.submit(self.batch.rows.take(), *self.batch.docs.take())
            if done * 20 >= next_report * total:
                next_report = done * 20 // total + 1
                self.progress(pipeline, done, total)

    def household(self, index: int, room: int, taken: set[str]) -> int:
        """Generate the household whose first member is patient ``index``; return its size."""
        options = self.options
        rng = random.Random(f"{options.seed}/household/{index}")
        locale = rng.choice(options.locales)
        members = people.household(self.batch, rng, locale, room, options.documents_until, taken)
        for person in members:
            _history(self.batch, options, person)
        return len(members)

    def progress(self, pipeline: Pipeline, done: int, total: int) -> None:
        counts = pipeline.writer.counts
        pending = f", {pipeline.rendering} PDFs rendering" if pipeline.rendering else ""
        self.report(
            f"patients {done}/{total} ({done * 100 // total}%) generated, "
            f"{counts['patient']} written, {counts['lab_result']} lab results, "
            f"{counts['document']} documents{pending}, {time.perf_counter() - self.started:.1f} s"
        )


def _history(batch: Batch, options: _Options, person: Person) -> None:
    """Queue everything that happened to ``person`` at the hospital."""
    rng = random.Random(f"{options.seed}/{person.id}/care")
    episodes = care.episodes(batch, rng, person)
    bulletins = lab.bulletins(batch, rng, person, episodes, options.lab_results_per_patient)
    paraclinical_tests(batch, rng, person, episodes)
    imaging_orders(batch, rng, person, episodes)
    booking.appointments(batch, rng, person, episodes)
    assign(batch, rng, person)
    if person.documents:
        papers(
            batch,
            random.Random(f"{options.seed}/{person.id}/documents"),
            person,
            episodes,
            bulletins,
        )
