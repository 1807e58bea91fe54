"""PDF files of the HIS's documents, rendered with fpdf2 from plain data.

Two layouts cover every document kind: :class:`LabReport` (a lab bulletin: header, patient,
dates and the table of results) and :class:`Letter` (discharge letters, paraclinical and imaging
reports, prescriptions, certificates, referrals: labelled fields and text sections). Labels are
Romanian or Polish after ``locale``. :func:`render` is a pure function of its argument (the PDF's
creation date is the document's own date), so the same data always gives the same bytes and
jobs may be rendered in worker processes.

Text is set in DejaVu Sans (Debian package ``fonts-dejavu-core``) so that ă â î ș ț and
ą ć ę ł ń ó ś ź ż render. To keep a PDF at about 10 ms, each process first cuts the font down to
the Latin ranges the HIS writes (a ~30 kB font instead of ~700 kB), once.
"""

from __future__ import annotations

import atexit
import datetime as dt
import functools
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from fontTools import subset, ttLib  # type: ignore[import-untyped]
from fpdf import FPDF
from fpdf.fonts import TTFFont

FONT_FILE = "DejaVuSans.ttf"
FONT_PACKAGE = "fonts-dejavu-core"
FONT_DIRS = (
    "/usr/share/fonts/truetype/dejavu",
    "/usr/share/fonts/dejavu",
    "/usr/share/fonts/TTF",
    "/usr/local/share/fonts",
    "/Library/Fonts",
)
# Basic Latin, Latin-1, Latin Extended-A, S/T with comma below, and the punctuation we print.
_UNICODES = (
    *range(0x20, 0x7F),
    *range(0xA0, 0x180),
    *range(0x218, 0x21C),
    0x2013,
    0x2014,
    0x2018,
    0x2019,
    0x201C,
    0x201D,
    0x201E,
    0x2022,
    0x2026,
    0x2191,
    0x2193,
    0x2264,
    0x2265,
)

_LABELS = {
    "patient": ("Pacient", "Pacjent"),
    "birth": ("Data nașterii", "Data urodzenia"),
    "mrn": ("Cod pacient", "Nr pacjenta"),
    "number": ("Număr", "Numer"),
    "date": ("Data", "Data"),
    "collected": ("Recoltat", "Pobrano"),
    "validated": ("Validat", "Zatwierdzono"),
    "requester": ("Medic solicitant", "Lekarz zlecający"),
    "validator": ("Validat de", "Zatwierdził"),
    "analyte": ("Analiză", "Badanie"),
    "result": ("Rezultat", "Wynik"),
    "unit": ("UM", "Jedn."),
    "range": ("Interval de referință", "Zakres referencyjny"),
    "doctor": ("Medic", "Lekarz"),
    "not_validated": ("Rezultate nevalidate", "Wyniki niezatwierdzone"),
    "footer": (
        "Document generat electronic de sistemul informatic al spitalului.",
        "Dokument wygenerowany elektronicznie przez szpitalny system informatyczny.",
    ),
}


def label(key: str, locale: str) -> str:
    """A printed label in ``locale`` ('ro' or 'pl')."""
    ro, pl = _LABELS[key]
    return ro if locale == "ro" else pl


@dataclass(frozen=True)
class Header:
    """Who issues the document."""

    hospital: str
    department: str
    address: str
    phone: str


@dataclass(frozen=True)
class PatientBlock:
    """Who the document is about."""

    name: str
    id_label: str  # CNP | PESEL
    national_id: str
    birth_date: str
    mrn: str


@dataclass(frozen=True)
class LabRow:
    """One line of a lab bulletin: analyte, value, unit, reference range, flag."""

    analyte: str
    value: str
    unit: str
    reference: str
    flag: str


@dataclass(frozen=True)
class Document:
    """What every document prints: who issues it, about whom, its title, number and date."""

    locale: str
    header: Header
    patient: PatientBlock
    title: str
    number: str
    created_at: dt.datetime


@dataclass(frozen=True)
class LabReport(Document):
    """A laboratory bulletin (F11)."""

    collected: str
    validated: str
    requester: str
    validator: str
    rows: tuple[LabRow, ...]


@dataclass(frozen=True)
class Letter(Document):
    """Any document made of labelled fields and text sections."""

    author: str
    fields: tuple[tuple[str, str], ...]
    sections: tuple[tuple[str, tuple[str, ...]], ...]


Job = LabReport | Letter


def render(job: Job) -> bytes:
    """The PDF file of ``job``."""
    pdf = _new_pdf(job)
    _letterhead(pdf, job.header)
    _title(pdf, job.title, job.number, job.created_at)
    _patient(pdf, job.patient, job.locale)
    if isinstance(job, LabReport):
        _lab_body(pdf, job)
    else:
        _letter_body(pdf, job)
    pdf.ln(6)
    pdf.set_font_size(7)
    pdf.set_text_color(110)
    pdf.multi_cell(0, 4, label("footer", job.locale))
    return bytes(pdf.output())


def _new_pdf(job: Job) -> FPDF:
    pdf = FPDF(format="A4")
    pdf.set_creation_date(job.created_at.replace(tzinfo=dt.UTC))
    pdf.set_title(job.number)
    pdf.set_author(job.header.hospital)
    pdf.set_lang(job.locale)
    pdf.add_font("DejaVu", "", _font_path())
    # Glyph outlines are embedded unchanged, so their bounding boxes need no recomputing;
    # recomputing them (fontTools' default) is most of the time a PDF takes.
    font = pdf.fonts["dejavu"]
    if isinstance(font, TTFFont):
        font.ttfont.recalcBBoxes = False
    pdf.set_font("DejaVu", size=9)
    pdf.set_margins(15, 12, 15)
    pdf.set_auto_page_break(True, margin=15)
    pdf.add_page()
    return pdf


def _letterhead(pdf: FPDF, header: Header) -> None:
    pdf.set_font_size(12)
    pdf.set_text_color(20, 60, 120)
    pdf.cell(0, 6, header.hospital, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font_size(9)
    pdf.set_text_color(0)
    pdf.cell(0, 5, header.department, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font_size(7.5)
    pdf.cell(0, 4, f"{header.address} • {header.phone}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_draw_color(20, 60, 120)
    pdf.line(15, pdf.get_y() + 1, 195, pdf.get_y() + 1)
    pdf.ln(5)


def _title(pdf: FPDF, title: str, number: str, when: dt.datetime) -> None:
    pdf.set_font_size(14)
    pdf.cell(0, 8, title, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font_size(9)
    pdf.cell(0, 5, f"{number}  •  {when:%d.%m.%Y %H:%M}", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)


def _row(pdf: FPDF, height: float, texts: tuple[str, ...], columns: tuple[float, ...]) -> None:
    """One line of texts at fixed column offsets (``FPDF.text`` is far cheaper than cells)."""
    baseline = pdf.get_y() + height * 0.7
    for text, offset in zip(texts, columns, strict=True):
        if text:
            pdf.text(pdf.l_margin + offset, baseline, text)
    pdf.ln(height)


def _pairs(pdf: FPDF, pairs: tuple[tuple[str, str], ...]) -> None:
    """Labelled values, a label (grey) and its value per line."""
    for name, value in pairs:
        baseline = pdf.get_y() + 3.5
        pdf.set_text_color(90)
        pdf.text(pdf.l_margin, baseline, name)
        pdf.set_text_color(0)
        pdf.text(pdf.l_margin + 45, baseline, value)
        pdf.ln(5)


def _patient(pdf: FPDF, patient: PatientBlock, locale: str) -> None:
    _pairs(
        pdf,
        (
            (label("patient", locale), patient.name),
            (patient.id_label, patient.national_id),
            (label("birth", locale), patient.birth_date),
            (label("mrn", locale), patient.mrn),
        ),
    )
    pdf.ln(3)


_HEADINGS = ("analyte", "result", "unit", "range", "")
_OFFSETS = (1.0, 71.0, 99.0, 123.0, 171.0)


def _lab_body(pdf: FPDF, job: LabReport) -> None:
    locale = job.locale
    _pairs(
        pdf,
        (
            (label("collected", locale), job.collected),
            (label("validated", locale), job.validated or label("not_validated", locale)),
            (label("requester", locale), job.requester),
            (label("validator", locale), job.validator),
        ),
    )
    pdf.ln(3)
    pdf.set_fill_color(225, 232, 244)
    pdf.rect(pdf.l_margin, pdf.get_y(), pdf.epw, 6, style="F")
    _row(pdf, 6, tuple(label(key, locale) if key else "" for key in _HEADINGS), _OFFSETS)
    for row in job.rows:
        if row.flag in ("N", ""):
            pdf.set_text_color(0)
        else:
            pdf.set_text_color(180, 0, 0)
        flag = "" if row.flag == "N" else row.flag
        _row(pdf, 5.5, (row.analyte, row.value, row.unit, row.reference, flag), _OFFSETS)
    pdf.set_text_color(0)


def _letter_body(pdf: FPDF, job: Letter) -> None:
    _pairs(pdf, job.fields)
    for heading, paragraphs in job.sections:
        pdf.ln(3)
        pdf.set_font_size(10.5)
        pdf.set_text_color(20, 60, 120)
        pdf.cell(0, 6, heading, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font_size(9)
        pdf.set_text_color(0)
        for paragraph in paragraphs:
            pdf.multi_cell(0, 5, paragraph, align="L", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)
    pdf.cell(0, 5, f"{label('doctor', job.locale)}: {job.author}", new_x="LMARGIN", new_y="NEXT")


def render_all(jobs: list[Job]) -> list[bytes]:
    """The PDF files of ``jobs``, in order (one task for a worker process)."""
    return [render(job) for job in jobs]


def prepare_font() -> None:
    """Build this process's cut-down font now (before forking workers that should share it)."""
    _font_path()


def find_font() -> Path:
    """The DejaVu Sans file of this machine, or an error naming the package that provides it."""
    for folder in FONT_DIRS:
        candidate = Path(folder) / FONT_FILE
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"{FONT_FILE} not found in {', '.join(FONT_DIRS)}: install {FONT_PACKAGE}"
    )


@functools.cache
def _font_path() -> str:
    """A per-process copy of DejaVu Sans cut down to :data:`_UNICODES` (built once)."""
    options = subset.Options()
    options.layout_features = []
    options.hinting = False
    options.glyph_names = True  # spares fontTools naming glyphs anew in every PDF
    options.notdef_outline = True
    options.drop_tables += ["FFTM"]
    font = ttLib.TTFont(find_font(), recalcTimestamp=False)
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=_UNICODES)
    subsetter.subset(font)
    folder = tempfile.mkdtemp(prefix="his-pdf-font-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    path = Path(folder) / "HisSans.ttf"
    font.save(str(path))
    return str(path)
