"""Letters written at the end of care: discharge letters, prescriptions, certificates, referrals.

Only patients with documents get them (the generator's ``max_document_patients``); every choice
here draws from the patient's separate documents generator, so whether a patient has documents
never changes the rest of their data.
"""

from __future__ import annotations

import datetime as dt
import random

from .care import Episode
from .catalog import CLINICAL, SPECIALTY_BY_CODE, Text, tr
from .context import Batch, Person
from .documents import letter, stamp
from .lab import Bulletin
from .texts import (
    CERTIFICATE_PURPOSES,
    CERTIFICATE_STATEMENT,
    COMMON_MEDICINES,
    DISCHARGE_INTRO,
    DISCHARGE_OUTCOME,
    MEDICINES,
    RECOMMENDATIONS,
    REFERRAL_STATEMENT,
)

_LABELS: dict[str, Text] = {
    "episode": ("Episod", "Epizod"),
    "admitted": ("Internare", "Przyjęcie"),
    "discharged": ("Externare", "Wypis"),
    "department": ("Secția", "Oddział"),
    "diagnosis": ("Diagnostic", "Rozpoznanie"),
    "course": ("Evoluție", "Przebieg hospitalizacji"),
    "labs": ("Rezultate de laborator modificate", "Nieprawidłowe wyniki badań laboratoryjnych"),
    "no_labs": ("Fără modificări semnificative.", "Bez istotnych odchyleń."),
    "advice": ("Recomandări", "Zalecenia"),
    "treatment": ("Tratament", "Leczenie"),
    "date": ("Data", "Data"),
    "purpose": ("Scop", "Cel"),
}


def papers(
    batch: Batch,
    rng: random.Random,
    person: Person,
    episodes: list[Episode],
    bulletins: list[Bulletin],
) -> None:
    """Queue the letters of the patient's finished episodes."""
    for episode in episodes:
        if episode.status != "closed":
            continue
        if episode.kind in ("HOSP", "DAY"):
            _discharge(batch, rng, person, episode, bulletins)
        elif episode.kind == "AMB":
            _outpatient(batch, rng, person, episode)


def _l(key: str, person: Person) -> str:
    return tr(_LABELS[key], person.locale)


def _medicines(rng: random.Random, person: Person) -> tuple[str, ...]:
    specific = [m for code in person.conditions for m in MEDICINES.get(code, ())]
    options = specific or list(COMMON_MEDICINES)
    return tuple(tr(m, person.locale) for m in rng.sample(options, k=min(len(options), 3)))


def _discharge(
    batch: Batch, rng: random.Random, person: Person, episode: Episode, bulletins: list[Bulletin]
) -> None:
    discharged = episode.end or episode.start  # closed episodes always have an end
    abnormal = [line for b in bulletins if b.episode_id == episode.id for line in b.abnormal][:8]
    start, end = f"{episode.start:%d.%m.%Y}", f"{discharged:%d.%m.%Y}"
    number = f"DS_{batch.org.department_abbr[episode.department_id]}_{42270000000000 + episode.id}"
    letter(
        batch,
        person,
        "DISCHARGE",
        number=number,
        created_at=discharged,
        author=episode.doctor,
        department_id=episode.department_id,
        episode_id=episode.id,
        fields=(
            (_l("episode", person), episode.number),
            (_l("admitted", person), stamp(episode.start)),
            (_l("discharged", person), stamp(discharged)),
            (
                _l("department", person),
                batch.org.department_name(episode.department_id, person.locale),
            ),
        ),
        sections=(
            (_l("diagnosis", person), (episode.reason,)),
            (
                _l("course", person),
                (
                    tr(DISCHARGE_INTRO, person.locale).format(
                        start=start, end=end, reason=episode.reason
                    ),
                    tr(rng.choice(DISCHARGE_OUTCOME), person.locale),
                ),
            ),
            (_l("labs", person), tuple(abnormal) or (_l("no_labs", person),)),
            (_l("treatment", person), _medicines(rng, person)),
            (
                _l("advice", person),
                tuple(tr(t, person.locale) for t in rng.sample(RECOMMENDATIONS, k=2)),
            ),
        ),
    )


def _outpatient(batch: Batch, rng: random.Random, person: Person, episode: Episode) -> None:
    draw = rng.random()
    if draw < 0.35:
        _short(
            batch,
            person,
            episode,
            "PRESCRIPTION",
            "RP",
            (_l("treatment", person), _medicines(rng, person)),
        )
    elif draw < 0.43:
        statement = tr(CERTIFICATE_STATEMENT, person.locale).format(
            date=f"{episode.start:%d.%m.%Y}"
        )
        purpose = tr(rng.choice(CERTIFICATE_PURPOSES), person.locale)
        _short(
            batch,
            person,
            episode,
            "CERTIFICATE",
            "AD",
            (_l("purpose", person), (statement, purpose)),
        )
    elif draw < 0.55:
        target = SPECIALTY_BY_CODE[
            rng.choice([c for c in CLINICAL if c != episode.doctor.specialty])
        ]
        text = tr(REFERRAL_STATEMENT, person.locale).format(
            specialty=tr(target.name, person.locale), reason=episode.reason
        )
        _short(batch, person, episode, "REFERRAL", "BT", (_l("diagnosis", person), (text,)))


def _short(
    batch: Batch,
    person: Person,
    episode: Episode,
    kind: str,
    prefix: str,
    section: tuple[str, tuple[str, ...]],
) -> None:
    created = (episode.end or episode.start) - dt.timedelta(minutes=1)
    letter(
        batch,
        person,
        kind,
        number=f"{prefix}_{batch.seq.next_in(prefix) + 51_000_000}",
        created_at=created,
        author=episode.doctor,
        department_id=episode.department_id,
        episode_id=episode.id,
        fields=((_l("episode", person), episode.number), (_l("date", person), stamp(created))),
        sections=(section,),
    )
