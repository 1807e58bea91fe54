"""The laboratory's catalogue: analytes, panels, and the chronic conditions that move them.

Codes are the laboratory's own (mappers attach LOINC). Units are UCUM. A numeric analyte has a
reference range (per sex where it differs) and a population centre; a text analyte has a normal
answer and abnormal ones. A :class:`Condition` shifts some analytes (``effects``: a multiplier of
the baseline and a relative drift per year), makes some panels likelier and sends the patient
to some specialties.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .catalog import Text


@dataclass(frozen=True)
class Analyte:
    """A numeric analyte; ``cv`` spreads baselines between people, ``noise`` within a person."""

    code: str
    name: Text
    unit: str
    low: float | None
    high: float | None
    center: float
    decimals: int
    cv: float = 0.08
    noise: float = 0.04
    low_f: float | None = None
    high_f: float | None = None
    center_f: float | None = None

    def range_for(self, gender: str) -> tuple[float | None, float | None]:
        """The reference range for a person of ``gender``."""
        if gender == "F" and (self.low_f is not None or self.high_f is not None):
            return self.low_f, self.high_f
        return self.low, self.high


@dataclass(frozen=True)
class TextAnalyte:
    """An analyte reported in words (urine strip); ``ref`` is the expected answer."""

    code: str
    name: Text
    ref: Text
    normal: tuple[Text, ...]
    abnormal: tuple[Text, ...]
    abnormal_rate: float = 0.08


_NEG: Text = ("negativ", "ujemny")

# Numeric analytes: code, UCUM unit, reference range, population centre, decimals, spread
# between people (cv), variation within a person (noise), then range and centre for women
# where they differ; "-" is an open end.
_NUMERIC = """
HGB     g/dL      13.5   17.5   15.0   1  0.06   0.03   12.0  15.5  13.6
HCT     %         40     52     45     1  0.05   0.03   36    46    41
RBC     10*6/uL   4.5    5.9    5.1    2  0.05   0.03   4.0   5.2   4.6
WBC     10*3/uL   4.0    10.0   6.8    2  0.18   0.12
PLT     10*3/uL   150    400    255    0  0.18   0.08
MCV     fL        80     100    89     1  0.04   0.01
GLU     mg/dL     70     100    88     0  0.08   0.07
CREA    mg/dL     0.7    1.3    0.95   2  0.12   0.05   0.6   1.1   0.78
UREA    mg/dL     15     45     30     0  0.18   0.1
NA      mmol/L    135    145    140    0  0.012  0.01
K       mmol/L    3.5    5.1    4.3    1  0.06   0.04
UA      mg/dL     3.4    7.0    5.4    1  0.15   0.06   2.4   6.0   4.4
CHOL    mg/dL     -      200    185    0  0.14   0.05
HDL     mg/dL     40     -      52     0  0.18   0.05   50    -     62
LDL     mg/dL     -      130    112    0  0.2    0.06
TG      mg/dL     -      150    115    0  0.3    0.15
ALT     U/L       7      40     22     0  0.3    0.12
AST     U/L       8      40     23     0  0.25   0.1
GGT     U/L       8      61     28     0  0.35   0.1    5     36    19
BILT    mg/dL     0.3    1.2    0.7    2  0.3    0.12
ALP     U/L       40     130    75     0  0.22   0.06
TSH     m[IU]/L   0.4    4.0    1.8    2  0.4    0.15
FT4     ng/dL     0.9    1.7    1.25   2  0.1    0.05
CRP     mg/L      -      5.0    1.6    1  0.6    0.35
ESR     mm/h      -      15     8      0  0.4    0.2    -     20    11
FIB     mg/dL     200    400    300    0  0.15   0.08
INR     {INR}     0.8    1.2    1.0    2  0.06   0.04
APTT    s         25     37     31     1  0.08   0.05
HBA1C   %         4.0    5.6    5.2    1  0.06   0.03
FE      ug/dL     60     170    105    0  0.25   0.15
FER     ng/mL     30     400    140    0  0.45   0.1    15    150   60
CEA     ng/mL     -      5.0    1.8    2  0.4    0.1
CA125   U/mL      -      35     14     1  0.4    0.1
PSA     ng/mL     -      4.0    1.2    2  0.5    0.1
U_PH    [pH]      5.0    7.5    6.0    1  0.06   0.05
U_SG    1         1.005  1.030  1.018  3  0.004  0.003
"""

NAMES: dict[str, Text] = {
    "HGB": ("Hemoglobină", "Hemoglobina"),
    "HCT": ("Hematocrit", "Hematokryt"),
    "RBC": ("Eritrocite", "Erytrocyty"),
    "WBC": ("Leucocite", "Leukocyty"),
    "PLT": ("Trombocite", "Płytki krwi"),
    "MCV": ("Volum eritrocitar mediu", "Średnia objętość krwinki (MCV)"),
    "GLU": ("Glicemie", "Glukoza"),
    "CREA": ("Creatinină serică", "Kreatynina"),
    "UREA": ("Uree serică", "Mocznik"),
    "NA": ("Sodiu seric", "Sód"),
    "K": ("Potasiu seric", "Potas"),
    "UA": ("Acid uric", "Kwas moczowy"),
    "CHOL": ("Colesterol total", "Cholesterol całkowity"),
    "HDL": ("HDL colesterol", "Cholesterol HDL"),
    "LDL": ("LDL colesterol", "Cholesterol LDL"),
    "TG": ("Trigliceride", "Triglicerydy"),
    "ALT": ("ALT (TGP)", "ALT (AlAT)"),
    "AST": ("AST (TGO)", "AST (AspAT)"),
    "GGT": ("Gama-glutamiltransferază", "GGTP"),
    "BILT": ("Bilirubină totală", "Bilirubina całkowita"),
    "ALP": ("Fosfatază alcalină", "Fosfataza zasadowa"),
    "TSH": ("TSH", "TSH"),
    "FT4": ("FT4", "FT4"),
    "CRP": ("Proteina C reactivă", "Białko C-reaktywne (CRP)"),
    "ESR": ("VSH", "OB"),
    "FIB": ("Fibrinogen", "Fibrynogen"),
    "INR": ("INR", "INR"),
    "APTT": ("APTT", "APTT"),
    "HBA1C": ("Hemoglobină glicată (HbA1c)", "Hemoglobina glikowana (HbA1c)"),
    "FE": ("Sideremie", "Żelazo"),
    "FER": ("Feritină", "Ferrytyna"),
    "CEA": ("Antigen carcinoembrionar (CEA)", "Antygen karcinoembrionalny (CEA)"),
    "CA125": ("CA 125", "CA 125"),
    "PSA": ("PSA total", "PSA całkowity"),
    "U_PH": ("Urină – pH", "Mocz – pH"),
    "U_SG": ("Urină – densitate", "Mocz – ciężar właściwy"),
}


def _number(field: str) -> float | None:
    return None if field == "-" else float(field)


def _analyte(line: str) -> Analyte:
    code, unit, low, high, center, decimals, cv, noise, *women = line.split()
    low_f, high_f, center_f = (_number(f) for f in women) if women else (None, None, None)
    return Analyte(
        code, NAMES[code], unit, _number(low), _number(high), float(center), int(decimals),
        float(cv), float(noise), low_f, high_f, center_f,
    )  # fmt: skip


ANALYTES: tuple[Analyte, ...] = tuple(_analyte(line) for line in _NUMERIC.strip().splitlines())

TEXT_ANALYTES: tuple[TextAnalyte, ...] = (
    TextAnalyte(
        "U_COL",
        ("Urină – culoare", "Mocz – barwa"),
        ("galben", "słomkowa"),
        (("galben deschis", "jasnożółta"), ("galben", "słomkowa")),
        (),
        0.0,
    ),
    TextAnalyte(
        "U_CLA",
        ("Urină – aspect", "Mocz – przejrzystość"),
        ("clar", "przejrzysty"),
        (("clar", "przejrzysty"),),
        (("ușor tulbure", "lekko mętny"), ("tulbure", "mętny")),
    ),
    TextAnalyte(
        "U_PRO",
        ("Urină – proteine", "Mocz – białko"),
        _NEG,
        (_NEG,),
        (("urme", "ślad"), ("pozitiv (+)", "dodatni (+)")),
    ),
    TextAnalyte(
        "U_GLU",
        ("Urină – glucoză", "Mocz – glukoza"),
        _NEG,
        (_NEG,),
        (("pozitiv (++)", "dodatni (++)"),),
        0.03,
    ),
)

ANALYTE_BY_CODE: dict[str, Analyte | TextAnalyte] = {
    **{analyte.code: analyte for analyte in ANALYTES},
    **{analyte.code: analyte for analyte in TEXT_ANALYTES},
}

# Panels the laboratory runs, with how often a bulletin includes each.
PANELS: dict[str, tuple[str, ...]] = {
    "CBC": ("HGB", "HCT", "RBC", "WBC", "PLT", "MCV"),
    "BASIC": ("GLU", "CREA", "UREA", "NA", "K"),
    "LIPID": ("CHOL", "HDL", "LDL", "TG"),
    "LIVER": ("ALT", "AST", "GGT", "BILT", "ALP"),
    "THYROID": ("TSH", "FT4"),
    "INFLAM": ("CRP", "ESR", "FIB"),
    "COAG": ("INR", "APTT"),
    "DIAB": ("HBA1C",),
    "IRON": ("FE", "FER"),
    "URINE": ("U_COL", "U_CLA", "U_PH", "U_SG", "U_PRO", "U_GLU"),
    "URIC": ("UA",),
    "TUMOR_M": ("CEA", "PSA"),
    "TUMOR_F": ("CEA", "CA125"),
}
PANEL_RATE: dict[str, float] = {
    "CBC": 0.85,
    "BASIC": 0.8,
    "LIPID": 0.3,
    "LIVER": 0.3,
    "THYROID": 0.15,
    "INFLAM": 0.3,
    "COAG": 0.12,
    "DIAB": 0.08,
    "IRON": 0.1,
    "URINE": 0.3,
    "URIC": 0.15,
}

# How much an acute illness (at admission) multiplies the inflammatory markers.
ACUTE: dict[str, float] = {"CRP": 14.0, "WBC": 1.6, "ESR": 2.5, "FIB": 1.5}


@dataclass(frozen=True)
class Condition:
    """A chronic condition: who has it, what it does to analytes, which care it brings."""

    code: str
    min_age: int
    rate: float
    per_decade: float
    specialties: tuple[str, ...]
    panels: tuple[str, ...] = ()
    effects: dict[str, tuple[float, float]] = field(default_factory=dict)
    sex: str | None = None
    text_abnormal: tuple[str, ...] = ()

    def probability(self, age: int, gender: str) -> float:
        """The chance a person of ``age`` and ``gender`` has the condition."""
        if age < self.min_age or (self.sex and gender != self.sex):
            return 0.0
        return self.rate + self.per_decade * max(0, age - 40) / 10


CONDITIONS: tuple[Condition, ...] = (
    Condition(
        "hypertension",
        25,
        0.08,
        0.07,
        ("cardiology", "internal_medicine"),
        ("BASIC",),
        {"K": (1.03, 0.0)},
    ),
    Condition(
        "diabetes",
        30,
        0.03,
        0.035,
        ("endocrinology", "internal_medicine"),
        ("DIAB", "LIPID", "URINE"),
        {"GLU": (1.45, 0.05), "HBA1C": (1.3, 0.035), "TG": (1.3, 0.02)},
        text_abnormal=("U_GLU",),
    ),
    Condition(
        "dyslipidemia",
        30,
        0.08,
        0.04,
        ("cardiology", "internal_medicine"),
        ("LIPID",),
        {"CHOL": (1.2, 0.025), "LDL": (1.3, 0.03), "TG": (1.35, 0.03), "HDL": (0.9, -0.01)},
    ),
    Condition(
        "ckd",
        45,
        0.02,
        0.03,
        ("nephrology",),
        ("BASIC", "URINE", "URIC"),
        {"CREA": (1.7, 0.09), "UREA": (1.6, 0.07), "K": (1.07, 0.005), "HGB": (0.92, -0.01)},
        text_abnormal=("U_PRO",),
    ),
    Condition(
        "anaemia",
        12,
        0.05,
        0.0,
        ("haematology", "internal_medicine"),
        ("CBC", "IRON"),
        {
            "HGB": (0.8, -0.01),
            "HCT": (0.82, -0.01),
            "MCV": (0.88, 0.0),
            "FE": (0.45, 0.0),
            "FER": (0.3, 0.0),
        },
        sex="F",
    ),
    Condition(
        "hypothyroidism",
        20,
        0.04,
        0.01,
        ("endocrinology",),
        ("THYROID",),
        {"TSH": (2.8, 0.06), "FT4": (0.8, -0.01)},
        sex="F",
    ),
    Condition(
        "liver",
        30,
        0.04,
        0.01,
        ("gastroenterology",),
        ("LIVER",),
        {"ALT": (2.3, 0.04), "AST": (1.8, 0.03), "GGT": (2.6, 0.04), "BILT": (1.3, 0.0)},
    ),
    Condition(
        "oncology",
        30,
        0.02,
        0.025,
        ("oncology",),
        ("CBC", "LIVER", "INFLAM", "TUMOR"),
        {
            "CEA": (3.0, 0.15),
            "CA125": (2.5, 0.12),
            "PSA": (2.5, 0.12),
            "CRP": (3.0, 0.0),
            "HGB": (0.9, -0.01),
            "WBC": (0.85, 0.0),
        },
    ),
    Condition("copd", 40, 0.02, 0.02, ("pulmonology",), ("CBC",)),
    Condition("asthma", 3, 0.05, 0.0, ("pulmonology", "paediatrics")),
    Condition("neuro", 15, 0.04, 0.01, ("neurology",)),
    Condition("hearing", 50, 0.02, 0.03, ("otorhinolaryngology",)),
)
CONDITION_BY_CODE = {condition.code: condition for condition in CONDITIONS}

# Where people without a chronic condition are seen.
ROUTINE_ADULT = ("internal_medicine", "general_surgery", "otorhinolaryngology", "gastroenterology")
ROUTINE_WOMAN = (*ROUTINE_ADULT, "obstetrics_gynaecology")
ROUTINE_CHILD = ("paediatrics", "paediatrics", "otorhinolaryngology")
