"""Questionnaires the hospital sends to patients (F18), and patients' answers to them.

Each questionnaire exists once per locale (code ``<name>-<locale>``). ``items`` follows the
schema's contract: ``{"link_id", "text", "type", "required", "options": [{"code", "display"}]}``
with ``type`` one of string, text, boolean, integer, decimal, date, choice, attachment, display,
and where an item has them ``repeats``, ``max_length`` and ``enable_when`` (conditions on an
earlier answer). Answers are keyed by ``link_id``; display and attachment items are never
answered here (files a patient attaches live in the gateway's own store), nor are items their
conditions leave disabled.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from typing import Any

from fhir_gateway.his import schema

from .catalog import Text, tr
from .context import Batch, Person, between

Option = tuple[str, Text]


@dataclass(frozen=True)
class Item:
    """One question (or a display text) of a questionnaire."""

    link_id: str
    text: Text
    type: str
    required: bool = False
    options: tuple[Option, ...] = ()
    repeats: bool = False
    max_length: int | None = None
    #: (question, operator, answer) conditions, all of which show the item
    enable_when: tuple[tuple[str, str, Any], ...] = ()

    def as_json(self, locale: str) -> dict[str, Any]:
        """The item as stored in ``questionnaire.items``."""
        item: dict[str, Any] = {
            "link_id": self.link_id,
            "text": tr(self.text, locale),
            "type": self.type,
            "required": self.required,
        }
        if self.options:
            item["options"] = [{"code": c, "display": tr(d, locale)} for c, d in self.options]
        if self.repeats:
            item["repeats"] = True
        if self.max_length is not None:
            item["max_length"] = self.max_length
        if self.enable_when:
            item["enable_when"] = [
                {"question": q, "operator": op, "answer": a} for q, op, a in self.enable_when
            ]
        return item

    def shown(self, given: dict[str, Any]) -> bool:
        """Whether the item's conditions hold for the answers ``given`` (= and != only)."""
        for question, operator, expected in self.enable_when:
            if question not in given:
                return False
            if (given[question] == expected) != (operator == "="):
                return False
        return True


@dataclass(frozen=True)
class Definition:
    """A questionnaire in both languages."""

    name: str
    title: Text
    description: Text
    version_label: str
    age_days: int
    items: tuple[Item, ...]


_LEVELS: tuple[Option, ...] = (
    ("none", ("Fără probleme", "Brak problemów")),
    ("some", ("Probleme moderate", "Umiarkowane problemy")),
    ("severe", ("Probleme severe", "Poważne problemy")),
)

DEFINITIONS: tuple[Definition, ...] = (
    Definition(
        "onco-previsit",
        (
            "Chestionar înaintea primei vizite la oncologie",
            "Ankieta przed pierwszą wizytą w poradni onkologicznej",
        ),
        (
            "Informații necesare medicului oncolog înaintea consultației.",
            "Informacje potrzebne lekarzowi onkologowi przed wizytą.",
        ),
        "2.1",
        900,
        (
            Item(
                "intro",
                (
                    "Vă rugăm să completați chestionarul înaintea vizitei.",
                    "Prosimy o wypełnienie ankiety przed wizytą.",
                ),
                "display",
            ),
            Item(
                "reason",
                ("Motivul prezentării", "Powód zgłoszenia"),
                "choice",
                True,
                (
                    ("first", ("Prima prezentare", "Pierwsza wizyta")),
                    ("follow-up", ("Control", "Wizyta kontrolna")),
                    ("second-opinion", ("A doua opinie", "Druga opinia")),
                ),
            ),
            Item("diagnosed_on", ("Data primului diagnostic", "Data rozpoznania choroby"), "date"),
            Item(
                "treated",
                (
                    "Ați urmat chimioterapie sau radioterapie?",
                    "Czy było prowadzone leczenie chemioterapią lub radioterapią?",
                ),
                "boolean",
                True,
            ),
            Item(
                "treatments",
                ("Tratamente urmate până acum", "Dotychczasowe leczenie"),
                "text",
                max_length=2000,
                enable_when=(("treated", "=", True),),
            ),
            Item("weight", ("Greutate (kg)", "Masa ciała (kg)"), "integer", True),
            Item("height", ("Înălțime (m)", "Wzrost (m)"), "decimal", True),
            Item("gp", ("Medicul de familie", "Lekarz rodzinny"), "string", max_length=100),
            Item(
                "earlier",
                (
                    "Atașați rezultate sau imagini anterioare",
                    "Dołącz wcześniejsze wyniki lub badania obrazowe",
                ),
                "attachment",
                repeats=True,
            ),
        ),
    ),
    Definition(
        "covid-screening",
        ("Triaj epidemiologic COVID-19", "Ankieta wstępna COVID-19"),
        (
            "Se completează cu cel mult 24 de ore înaintea vizitei.",
            "Wypełnij najpóźniej 24 godziny przed wizytą.",
        ),
        "1.0",
        1300,
        (
            Item(
                "fever",
                ("Ați avut febră în ultimele 14 zile?", "Czy w ciągu 14 dni wystąpiła gorączka?"),
                "boolean",
                True,
            ),
            Item(
                "cough",
                ("Aveți tuse sau dificultăți de respirație?", "Czy występuje kaszel lub duszność?"),
                "boolean",
                True,
            ),
            Item(
                "contact",
                (
                    "Ați fost în contact cu o persoană confirmată?",
                    "Czy miał(a) Pan(i) kontakt z osobą zakażoną?",
                ),
                "boolean",
                True,
            ),
            Item(
                "vaccinated_on",
                ("Data ultimei doze de vaccin", "Data ostatniej dawki szczepionki"),
                "date",
            ),
        ),
    ),
    Definition(
        "quality-of-life",
        ("Chestionar privind calitatea vieții", "Kwestionariusz jakości życia"),
        ("Cum vă simțiți astăzi?", "Jak się Pan(i) dziś czuje?"),
        "1.2",
        500,
        (
            Item("mobility", ("Mobilitate", "Poruszanie się"), "choice", True, _LEVELS),
            Item("self_care", ("Îngrijire personală", "Samoopieka"), "choice", True, _LEVELS),
            Item("pain", ("Durere sau disconfort", "Ból lub dyskomfort"), "choice", True, _LEVELS),
            Item(
                "anxiety",
                ("Anxietate sau depresie", "Niepokój lub przygnębienie"),
                "choice",
                True,
                _LEVELS,
            ),
            Item(
                "health_today",
                ("Starea de sănătate astăzi (0-100)", "Stan zdrowia dzisiaj (0-100)"),
                "integer",
                True,
            ),
            Item("comments", ("Observații", "Uwagi"), "text", max_length=500),
        ),
    ),
)

_FREE_TEXT: dict[str, tuple[Text, ...]] = {
    "text": (
        ("Chimioterapie 6 cicluri în 2023.", "Chemioterapia 6 cykli w 2023 r."),
        ("Fără alte observații.", "Brak uwag."),
        ("Intervenție chirurgicală în urmă cu doi ani.", "Operacja dwa lata temu."),
    ),
    "string": (("Dr. Ionescu", "lek. Nowak"), ("Dr. Marin", "lek. Zając")),
}


def answer(rng: random.Random, item: Item, locale: str, on: dt.date) -> Any:
    """A plausible answer to ``item`` (JSON-ready); None for items nobody answers here."""
    kind = item.type
    if kind == "boolean":
        return rng.random() < 0.3
    if kind == "choice":
        return rng.choice(item.options)[0]
    if kind == "integer":
        return rng.randint(40, 100)
    if kind == "decimal":
        return round(rng.uniform(1.5, 1.95), 2)
    if kind == "date":
        return (on - dt.timedelta(days=rng.randint(30, 1500))).isoformat()
    if kind in _FREE_TEXT:
        return tr(rng.choice(_FREE_TEXT[kind]), locale)
    return None


def answers(
    rng: random.Random, items: tuple[Item, ...], locale: str, on: dt.date, *, share: float
) -> dict:
    """Answers to the first ``share`` of the answerable ``items`` (all required ones if 1)."""
    answerable = [item for item in items if item.type not in ("display", "attachment")]
    count = len(answerable) if share >= 1 else max(1, int(len(answerable) * share))
    result = {}
    for item in answerable[:count]:
        if item.required or share < 1 or rng.random() < 0.6:
            result[item.link_id] = answer(rng, item, locale, on)
    # what the conditions leave disabled takes no answer (decided after drawing, so the
    # random sequence, and everything generated after it, stays as it was)
    return {k: v for k, v in result.items() if _by_link(items, k).shown(result)}


def _by_link(items: tuple[Item, ...], link_id: str) -> Item:
    return next(item for item in items if item.link_id == link_id)


def assign(batch: Batch, rng: random.Random, person: Person) -> None:
    """Perhaps send ``person`` a questionnaire: sent, in progress or submitted (F18)."""
    if not person.alive or rng.random() > 0.12:
        return
    choices = [q for q in batch.org.questionnaires if q.locale == person.locale]
    if "oncology" not in person.conditions:
        choices = [q for q in choices if q.definition.name != "onco-previsit"]
    questionnaire = rng.choice(choices)
    now = batch.clock.now
    sent = max(
        now - dt.timedelta(days=rng.randint(1, 120), minutes=rng.randint(0, 1439)),
        questionnaire.published_at,
    )
    status = rng.choices(("sent", "in-progress", "submitted"), (35, 20, 45))[0]
    items = questionnaire.definition.items
    row: dict[str, Any] = {
        "id": batch.seq.next_id(schema.questionnaire_assignment),
        "questionnaire_id": questionnaire.id,
        "patient_id": person.id,
        "sent_at": sent,
        "status": status,
        "updated_at": sent,
        "version": 1,
    }
    if status != "sent":
        answered = between(rng, sent + dt.timedelta(minutes=5), now - dt.timedelta(minutes=1))
        row["answers"] = answers(
            rng, items, person.locale, answered.date(), share=1.0 if status == "submitted" else 0.5
        )
        row["updated_at"] = answered
        row["version"] = 2
        if status == "submitted":
            row["submitted_at"] = answered
    batch.rows.add(schema.questionnaire_assignment, row)
