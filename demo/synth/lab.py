"""Laboratory bulletins and their results, following each patient's own trends.

A patient's analyte is not independent noise from one bulletin to the next: it starts from a
personal baseline (the population centre, spread between people, shifted by the patient's
conditions), drifts by a relative amount per year (diabetes raises glucose and HbA1c, kidney
disease creatinine, ...) and wanders around that line as a mean-reverting random walk. An
acute admission lifts the inflammatory markers. Flags are computed from the value and the
reference range: L below, H above, N inside; text answers are N or A (abnormal).

Bulletins whose validation would fall after ``now`` are ``registered`` (no results yet) or
``partial`` (some results, preliminary); validated ones carry a 6-digit access code and, for
patients with documents, point at their LAB_REPORT document.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from dataclasses import dataclass
from typing import Any

from fhir_gateway.his import schema

from .. import pdf
from .care import Episode
from .catalog import tr
from .context import Batch, DoctorRef, Person, between
from .documents import TITLES, header, patient_block, signature, stamp
from .labdata import (
    ACUTE,
    ANALYTE_BY_CODE,
    CONDITION_BY_CODE,
    PANEL_RATE,
    PANELS,
    Analyte,
    TextAnalyte,
)

# Mean number of analytes in a bulletin, to turn "results per patient" into bulletins.
MEAN_BULLETIN_SIZE = 16.0
_WALK_MEMORY = 0.6


@dataclass(frozen=True)
class Bulletin:
    """A generated bulletin, for the documents that quote it (discharge letters)."""

    episode_id: int | None
    collected: dt.datetime
    abnormal: tuple[str, ...]


class Profile:
    """One patient's baselines, yearly drifts and random-walk states, analyte by analyte."""

    def __init__(self, rng: random.Random, person: Person) -> None:
        self.rng = rng
        self.person = person
        self.effects: dict[str, tuple[float, float]] = {}
        for code in person.conditions:
            for analyte, (factor, drift) in CONDITION_BY_CODE[code].effects.items():
                old_factor, old_drift = self.effects.get(analyte, (1.0, 0.0))
                self.effects[analyte] = (old_factor * factor, old_drift + drift)
        self.text_abnormal = {
            c for code in person.conditions for c in CONDITION_BY_CODE[code].text_abnormal
        }
        self.states: dict[str, list[float]] = {}

    def value(self, analyte: Analyte, when: dt.datetime, acute: bool) -> float:
        """The analyte's value in a sample taken at ``when``."""
        state = self.states.get(analyte.code) or self._start(analyte)
        baseline, drift, walk = state
        walk = state[2] = _WALK_MEMORY * walk + self.rng.gauss(0.0, analyte.noise)
        years = (when - self.person.start).days / 365.25
        value = baseline * max(0.2, 1.0 + drift * years) * math.exp(walk)
        if acute and analyte.code in ACUTE:
            value *= ACUTE[analyte.code] * self.rng.uniform(0.6, 1.2)
        return max(round(value, analyte.decimals), 10.0**-analyte.decimals)

    def _start(self, analyte: Analyte) -> list[float]:
        center = (
            analyte.center_f if self.person.gender == "F" and analyte.center_f else analyte.center
        )
        factor, drift = self.effects.get(analyte.code, (1.0, 0.0))
        baseline = center * math.exp(self.rng.gauss(0.0, analyte.cv)) * factor
        state = self.states[analyte.code] = [baseline, drift + self.rng.gauss(0.0, 0.006), 0.0]
        return state

    def text(self, analyte: TextAnalyte, locale: str) -> tuple[str, str]:
        """A text answer and its flag (N or A)."""
        rate = analyte.abnormal_rate + (0.5 if analyte.code in self.text_abnormal else 0.0)
        if analyte.abnormal and self.rng.random() < rate:
            return tr(self.rng.choice(analyte.abnormal), locale), "A"
        return tr(self.rng.choice(analyte.normal), locale), "N"


@dataclass(frozen=True)
class _Sample:
    """A specimen: when it was taken, during which episode, in an acute illness or not."""

    taken: dt.datetime
    episode: Episode | None = None
    acute: bool = False


def bulletins(
    batch: Batch, rng: random.Random, person: Person, episodes: list[Episode], mean_results: float
) -> list[Bulletin]:
    """Queue the patient's bulletins and results, oldest first."""
    profile = Profile(rng, person)
    samples = _samples(batch, rng, person, episodes, mean_results)
    return [_bulletin(batch, rng, profile, sample) for sample in samples]


def _samples(
    batch: Batch, rng: random.Random, person: Person, episodes: list[Episode], mean_results: float
) -> list[_Sample]:
    """Specimens: at admissions first, then other visits, then on days of their own."""
    count = int(rng.gammavariate(1.5, mean_results / MEAN_BULLETIN_SIZE / 1.5) + 0.5)
    eligible = [e for e in episodes if e.happened and e.kind in ("AMB", "DAY", "HOSP")]
    eligible.sort(key=lambda episode: (episode.kind != "HOSP", rng.random()))
    samples = [
        _Sample(
            e.start + dt.timedelta(minutes=rng.randint(20, 120)),
            e,
            e.kind == "HOSP" and rng.random() < 0.5,
        )
        for e in eligible[:count]
    ]
    for _ in range(count - len(samples)):
        day = between(rng, person.start, person.end - dt.timedelta(days=1)).date()
        morning = dt.datetime.combine(day, dt.time(6)) + dt.timedelta(minutes=rng.randint(0, 240))
        samples.append(_Sample(morning))
    if person.alive and rng.random() < 0.04:
        samples.append(_Sample(batch.clock.now - dt.timedelta(minutes=rng.randint(60, 2160))))
    samples.sort(key=lambda sample: sample.taken)
    return samples


def _panels(rng: random.Random, person: Person) -> list[str]:
    boosted = {panel for code in person.conditions for panel in CONDITION_BY_CODE[code].panels}
    chosen = [p for p, rate in PANEL_RATE.items() if rng.random() < rate + 0.55 * (p in boosted)]
    if "TUMOR" in boosted and rng.random() < 0.8:
        chosen.append("TUMOR_M" if person.gender == "M" else "TUMOR_F")
    codes = list(dict.fromkeys(code for panel in chosen for code in PANELS[panel]))
    for extra in ("CBC", "BASIC"):
        if len(codes) < 5:
            codes.extend(code for code in PANELS[extra] if code not in codes)
    return codes[:25]


def _analytes(rng: random.Random, person: Person, status: str) -> list[str]:
    """The analytes reported so far: all (validated), some (partial) or none."""
    if status not in ("validated", "partial"):
        return []
    codes = _panels(rng, person)
    return codes if status == "validated" else codes[: max(1, len(codes) * 3 // 5)]


def _status(
    rng: random.Random, taken: dt.datetime, now: dt.datetime
) -> tuple[str, dt.datetime | None]:
    """The bulletin's status and validation time as of ``now``."""
    ready = taken + dt.timedelta(minutes=rng.randint(90, 1800))
    if ready >= now:
        return rng.choice(("registered", "partial")), None
    if rng.random() < 0.01:
        return "cancelled", None
    return "validated", ready


def _bulletin(batch: Batch, rng: random.Random, profile: Profile, sample: _Sample) -> Bulletin:
    person, episode, now = profile.person, sample.episode, batch.clock.now
    requester = episode.doctor if episode else batch.org.doctor(rng, "internal_medicine")
    validator = batch.org.doctor(rng, "laboratory_medicine")
    status, validated = _status(rng, sample.taken, now)
    bulletin_id = batch.seq.next_id(schema.lab_bulletin)
    row: dict[str, Any] = {
        "id": bulletin_id,
        "number": f"LR_{100000 + bulletin_id}",
        "patient_id": person.id,
        "episode_id": episode.id if episode else None,
        "requester_id": requester.id,
        "department_id": batch.org.department("LAB"),
        "collected_at": sample.taken,
        "validated_at": validated,
        "validator_id": validator.id if validated else None,
        "status": status,
        "access_code": f"{rng.randrange(1_000_000):06d}" if validated else None,
        "updated_at": validated or min(sample.taken + dt.timedelta(minutes=30), now),
        "version": 1,
    }
    codes = _analytes(rng, person, status)
    results = [_result(batch, profile, row, code, sample.acute) for code in codes]
    if validated and person.documents:
        row["document_id"] = _document(batch, person, row, results, requester, validator)
    batch.rows.add(schema.lab_bulletin, row)
    batch.rows.extend(schema.lab_result, results)
    abnormal = tuple(_line(r) for r in results if r["flag"] not in ("N", None))
    return Bulletin(row["episode_id"], sample.taken, abnormal)


def _result(
    batch: Batch, profile: Profile, bulletin: dict[str, Any], code: str, acute: bool
) -> dict[str, Any]:
    analyte = ANALYTE_BY_CODE[code]
    locale = profile.person.locale
    taken = bulletin["collected_at"]
    row: dict[str, Any] = {
        "id": batch.seq.next_id(schema.lab_result),
        "bulletin_id": bulletin["id"],
        "patient_id": profile.person.id,
        "analyte_code": code,
        "analyte_name": tr(analyte.name, locale),
        "status": "final" if bulletin["status"] == "validated" else "preliminary",
        "observed_at": taken,
        "updated_at": bulletin["updated_at"],
        "version": 1,
    }
    if isinstance(analyte, TextAnalyte):
        row["value_text"], row["flag"] = profile.text(analyte, locale)
        row["ref_text"] = tr(analyte.ref, locale)
        return row
    value = profile.value(analyte, taken, acute)
    low, high = analyte.range_for(profile.person.gender)
    row.update(
        value_num=value, unit=analyte.unit, ref_low=low, ref_high=high, flag=flag(value, low, high)
    )
    return row


def flag(value: float, low: float | None, high: float | None) -> str:
    """L below the reference range, H above it, N inside."""
    if low is not None and value < low:
        return "L"
    if high is not None and value > high:
        return "H"
    return "N"


def _number(value: float | None, decimals: int) -> str:
    """A number as Romanian and Polish print it (decimal comma)."""
    return f"{value:.{decimals}f}".replace(".", ",") if value is not None else ""


def _reference(row: dict[str, Any], decimals: int) -> str:
    low, high = row.get("ref_low"), row.get("ref_high")
    if row.get("ref_text"):
        return row["ref_text"]
    if low is not None and high is not None:
        return f"{_number(low, decimals)} – {_number(high, decimals)}"
    return f"< {_number(high, decimals)}" if high is not None else f"> {_number(low, decimals)}"


def _pdf_row(row: dict[str, Any]) -> pdf.LabRow:
    analyte = ANALYTE_BY_CODE[row["analyte_code"]]
    decimals = analyte.decimals if isinstance(analyte, Analyte) else 0
    value = row.get("value_text") or _number(row.get("value_num"), decimals)
    return pdf.LabRow(
        row["analyte_name"], value, row.get("unit") or "", _reference(row, decimals), row["flag"]
    )


def _line(row: dict[str, Any]) -> str:
    value = row.get("value_text") or f"{row['value_num']:g} {row.get('unit') or ''}".strip()
    return f"{row['analyte_name']}: {value} ({row['flag']})"


def _document(
    batch: Batch,
    person: Person,
    row: dict[str, Any],
    results: list[dict[str, Any]],
    requester: DoctorRef,
    validator: DoctorRef,
) -> int:
    job = pdf.LabReport(
        locale=person.locale,
        header=header(batch, row["department_id"], person.locale),
        patient=patient_block(person),
        title=tr(TITLES["LAB_REPORT"], person.locale),
        number=row["number"],
        created_at=row["validated_at"],
        collected=stamp(row["collected_at"]),
        validated=stamp(row["validated_at"]),
        requester=signature(requester),
        validator=signature(validator),
        rows=tuple(_pdf_row(result) for result in results),
    )
    return batch.docs.add(
        batch,
        person,
        "LAB_REPORT",
        job,
        episode_id=row["episode_id"],
        author=validator,
        department_id=row["department_id"],
    )
