"""Paraclinical (functional) tests: ECG, EEG, spirometry, audiometry, EMG, echo, Holter (F12).

Tests hang off episodes whose specialty orders them (``catalog.Specialty.tests``); a patient
with a matching condition more often gets an abnormal conclusion. A test read after ``now`` is
still ``registered`` (no conclusion yet).
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

from fhir_gateway.his import schema

from .care import Episode
from .catalog import SPECIALTY_BY_CODE, Text, tr
from .context import Batch, Person
from .documents import letter, stamp


@dataclass(frozen=True)
class Exploration:
    """A kind of functional test with its usual conclusions."""

    name: Text
    normal: Text
    abnormal: tuple[Text, ...]
    conditions: tuple[str, ...]


KINDS: dict[str, Exploration] = {
    "ECG": Exploration(
        ("Electrocardiogramă", "Elektrokardiogram"),
        (
            "Ritm sinusal, AV 72/min, ax QRS normal, fără modificări de fază terminală.",
            "Rytm zatokowy miarowy 72/min, oś prawidłowa, bez zmian ST-T.",
        ),
        (
            (
                "Fibrilație atrială cu AV medie 96/min.",
                "Migotanie przedsionków z czynnością komór ok. 96/min.",
            ),
            ("Bloc de ramură dreaptă incomplet.", "Niezupełny blok prawej odnogi pęczka Hisa."),
        ),
        ("hypertension", "dyslipidemia"),
    ),
    "ECHO": Exploration(
        ("Ecocardiografie", "Echokardiografia"),
        (
            "FEVS 60%, cavități cardiace nedilatate, valve fără modificări semnificative.",
            "EF LK 60%, jamy serca niepowiększone, zastawki bez istotnych zmian.",
        ),
        (
            (
                "FEVS 40%, hipokinezie inferioară, insuficiență mitrală gradul II.",
                "EF LK 40%, hipokineza ściany dolnej, niedomykalność mitralna II stopnia.",
            ),
        ),
        ("hypertension",),
    ),
    "HOLTER": Exploration(
        ("Monitorizare Holter ECG 24 de ore", "Badanie holterowskie EKG 24 h"),
        (
            "Ritm sinusal pe toată durata înregistrării, extrasistole ventriculare rare izolate.",
            "Rytm zatokowy przez cały okres rejestracji, "
            "pojedyncze pobudzenia przedwczesne komorowe.",
        ),
        (
            (
                "Episoade de fibrilație atrială paroxistică, cea mai lungă de 2 ore.",
                "Napady migotania przedsionków, najdłuższy trwający 2 godziny.",
            ),
        ),
        ("hypertension",),
    ),
    "EEG": Exploration(
        ("Electroencefalogramă", "Elektroencefalografia"),
        (
            "Traseu EEG în limite normale, ritm de fond alfa 9-10 Hz.",
            "Zapis EEG prawidłowy, czynność podstawowa alfa 9-10 Hz.",
        ),
        (
            (
                "Descărcări de unde ascuțite temporal stâng.",
                "Wyładowania fal ostrych w lewej okolicy skroniowej.",
            ),
        ),
        ("neuro",),
    ),
    "EMG": Exploration(
        ("Electromiografie", "Elektromiografia"),
        (
            "Conducere nervoasă motorie și senzitivă în limite normale.",
            "Przewodnictwo nerwowe ruchowe i czuciowe w normie.",
        ),
        (
            (
                "Aspect de sindrom de tunel carpian bilateral, moderat.",
                "Obraz obustronnego zespołu cieśni nadgarstka, umiarkowany.",
            ),
        ),
        ("neuro",),
    ),
    "SPIRO": Exploration(
        ("Spirometrie", "Spirometria"),
        (
            "Spirometrie normală: FEV1 95% din prezis, FEV1/FVC 0,82.",
            "Spirometria prawidłowa: FEV1 95% wartości należnej, FEV1/FVC 0,82.",
        ),
        (
            (
                "Disfuncție ventilatorie obstructivă ușoară, test bronhodilatator negativ.",
                "Łagodne zaburzenia wentylacji typu obturacyjnego, próba rozkurczowa ujemna.",
            ),
        ),
        ("copd", "asthma"),
    ),
    "AUDIO": Exploration(
        ("Audiogramă tonală", "Audiometria tonalna"),
        (
            "Audiogramă tonală în limite normale bilateral.",
            "Audiogram tonalny w normie obustronnie.",
        ),
        (
            (
                "Hipoacuzie neurosenzorială bilaterală ușoară pe frecvențe înalte.",
                "Obustronny lekki niedosłuch odbiorczy w zakresie wysokich częstotliwości.",
            ),
        ),
        ("hearing",),
    ),
}

_LABELS = {
    "test": ("Investigație", "Badanie"),
    "performed": ("Efectuat", "Wykonano"),
    "episode": ("Episod", "Epizod"),
    "conclusion": ("Concluzie", "Wnioski"),
}


def paraclinical_tests(
    batch: Batch, rng: random.Random, person: Person, episodes: list[Episode]
) -> None:
    """Queue the patient's functional tests.

    An episode of a specialty that orders tests has one in about one case out of two when the
    patient has a condition the test follows (hypertension for an ECG, ...), one in seven
    otherwise.
    """
    for episode in episodes:
        kinds = SPECIALTY_BY_CODE[episode.doctor.specialty].tests
        if not kinds or not episode.happened or episode.kind == "CONS":
            continue
        kind = rng.choice(kinds)
        followed = any(code in person.conditions for code in KINDS[kind].conditions)
        if rng.random() < (0.45 if followed else 0.15):
            _test(batch, rng, person, episode, kind)


def _test(batch: Batch, rng: random.Random, person: Person, episode: Episode, kind: str) -> None:
    spec = KINDS[kind]
    test_id = batch.seq.next_id(schema.paraclinical_test)
    performed = min(
        episode.start + dt.timedelta(minutes=rng.randint(15, 180)),
        batch.clock.now - dt.timedelta(minutes=5),
    )
    read = performed + dt.timedelta(minutes=rng.randint(30, 2880))
    status, conclusion = "registered", None
    if read < batch.clock.now:
        status = "validated"
        abnormal = 0.15 + 0.45 * any(code in person.conditions for code in spec.conditions)
        conclusion = tr(
            rng.choice(spec.abnormal) if rng.random() < abnormal else spec.normal, person.locale
        )
    row = {
        "id": test_id,
        "number": f"PC_{kind}_{100000 + test_id}",
        "kind": kind,
        "patient_id": person.id,
        "episode_id": episode.id,
        "doctor_id": episode.doctor.id,
        "department_id": batch.org.department("FUNC"),
        "performed_at": performed,
        "status": status,
        "conclusion": conclusion,
        "updated_at": read if conclusion else performed,
        "version": 1,
    }
    if conclusion and person.documents:
        row["document_id"] = _document(batch, person, episode, row, spec, read)
    batch.rows.add(schema.paraclinical_test, row)


def _document(
    batch: Batch, person: Person, episode: Episode, row: dict, spec: Exploration, read: dt.datetime
) -> int:
    locale = person.locale
    return letter(
        batch,
        person,
        "PARACLINICAL",
        number=row["number"],
        created_at=read,
        author=episode.doctor,
        department_id=row["department_id"],
        episode_id=episode.id,
        fields=(
            (tr(_LABELS["test"], locale), tr(spec.name, locale)),
            (tr(_LABELS["performed"], locale), stamp(row["performed_at"])),
            (tr(_LABELS["episode"], locale), episode.number),
        ),
        sections=((tr(_LABELS["conclusion"], locale), (row["conclusion"],)),),
    )
