"""Documents and their PDF files.

Parts of the generator call :meth:`DocumentQueue.add` with the document's metadata and a
rendering job (``pdf.LabReport`` or ``pdf.Letter``); the id is known at once so that bulletins,
tests and imaging orders can point at it. When the batch is done, the pipeline takes the queued
rows and jobs, renders the jobs and :func:`attach` completes the rows with size and sha1.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from typing import Any

from fhir_gateway.his import schema

from .. import pdf
from .bulk import Rows
from .catalog import tr
from .context import Batch, DoctorRef, Person

TITLES = {
    "DISCHARGE": ("Scrisoare medicală", "Karta informacyjna leczenia szpitalnego"),
    "LAB_REPORT": ("Buletin de analize medicale", "Sprawozdanie z badań laboratoryjnych"),
    "PARACLINICAL": ("Rezultat investigație paraclinică", "Wynik badania czynnościowego"),
    "IMAGING_REPORT": ("Raport de imagistică medicală", "Opis badania obrazowego"),
    "PRESCRIPTION": ("Rețetă medicală", "Recepta"),
    "CERTIFICATE": ("Adeverință medicală", "Zaświadczenie lekarskie"),
    "REFERRAL": ("Bilet de trimitere", "Skierowanie"),
}


class DocumentQueue:
    """Documents waiting for their PDF, in the order they were created."""

    def __init__(self) -> None:
        self._rows: list[dict[str, Any]] = []
        self._jobs: list[pdf.Job] = []

    def add(
        self,
        batch: Batch,
        person: Person,
        kind: str,
        job: pdf.Job,
        *,
        episode_id: int | None = None,
        author: DoctorRef | None = None,
        department_id: int | None = None,
    ) -> int:
        """Queue a document of ``kind`` whose file ``job`` renders; return its id.

        One document in 29 was corrected (version 2) some days after it was issued; the rule
        uses no random draw so that documents never change the rest of the data.
        """
        document_id = batch.seq.next_id(schema.document)
        corrected = document_id % 29 == 0
        updated = (
            job.created_at + dt.timedelta(days=document_id % 7 + 1) if corrected else job.created_at
        )
        self._rows.append(
            {
                "id": document_id,
                "number": job.number,
                "kind": kind,
                "title": f"{job.title} {job.number}",
                "patient_id": person.id,
                "episode_id": episode_id,
                "author_id": author.id if author else None,
                "department_id": department_id,
                "created_at": job.created_at,
                "status": "current",
                "content_type": "application/pdf",
                "updated_at": min(updated, batch.clock.now),
                "version": 2 if corrected else 1,
            }
        )
        self._jobs.append(job)
        return document_id

    def take(self) -> tuple[list[dict[str, Any]], list[pdf.Job]]:
        """The queued ``document`` rows (without size and sha1) and their jobs; then empty."""
        taken = self._rows, self._jobs
        self._rows, self._jobs = [], []
        return taken


def attach(rows: Rows, documents: list[dict[str, Any]], contents: Iterable[bytes]) -> None:
    """Complete ``documents`` with the size and SHA-1 of their files; queue both into ``rows``."""
    for document, content in zip(documents, contents, strict=True):
        document["size"] = len(content)
        document["sha1"] = hashlib.sha1(content, usedforsecurity=False).hexdigest()
        rows[schema.document.name].append(document)
        rows[schema.document_file.name].append({"document_id": document["id"], "content": content})


def header(batch: Batch, department_id: int, locale: str) -> pdf.Header:
    """The letterhead of a document issued by ``department_id``, in ``locale``."""
    hospital = batch.org.hospital
    return pdf.Header(
        hospital=tr(hospital.name, locale),
        department=batch.org.department_name(department_id, locale),
        address=f"{tr(hospital.address_line, locale)}, {tr(hospital.city, locale)}",
        phone=tr(hospital.phone, locale),
    )


def patient_block(person: Person) -> pdf.PatientBlock:
    """The patient lines every document prints."""
    return pdf.PatientBlock(
        name=person.name,
        id_label="CNP" if person.locale == "ro" else "PESEL",
        national_id=person.national_id,
        birth_date=f"{person.birth:%d.%m.%Y}",
        mrn=person.mrn,
    )


def signature(doctor: DoctorRef) -> str:
    """A doctor as documents sign: name and stamp number."""
    return f"{doctor.display} ({doctor.code})"


def stamp(when: dt.datetime) -> str:
    """A timestamp as documents print it."""
    return f"{when:%d.%m.%Y %H:%M}"


def letter(
    batch: Batch,
    person: Person,
    kind: str,
    *,
    number: str,
    created_at: dt.datetime,
    author: DoctorRef,
    department_id: int,
    episode_id: int | None,
    fields: tuple[tuple[str, str], ...],
    sections: tuple[tuple[str, tuple[str, ...]], ...],
) -> int:
    """Queue a :class:`pdf.Letter` document of ``kind``; return its id."""
    job = pdf.Letter(
        locale=person.locale,
        header=header(batch, department_id, person.locale),
        patient=patient_block(person),
        title=tr(TITLES[kind], person.locale),
        number=number,
        created_at=created_at,
        author=signature(author),
        fields=fields,
        sections=sections,
    )
    return batch.docs.add(
        batch, person, kind, job, episode_id=episode_id, author=author, department_id=department_id
    )
