"""The imaging department's procedures, with their usual findings in Romanian and Polish.

``body_part`` is the DICOM Body Part Examined (PS3.16 CID 4031 code meaning, upper case);
``procedure`` is BIOPSY, INTERVENTION or None for plain imaging.
"""

from __future__ import annotations

from dataclasses import dataclass

from .catalog import Text

Finding = tuple[Text, Text]  # (finding, conclusion)


@dataclass(frozen=True)
class Procedure:
    """An imaging procedure: what is examined, how big the study is, what it usually shows."""

    modality: str
    body_part: str
    procedure: str | None
    description: Text
    series: tuple[int, int]
    instances: tuple[int, int]
    technique: Text
    normal: Finding
    abnormal: Finding


_PROTOCOL: Text = (
    "Examinare efectuată conform protocolului standard.",
    "Badanie wykonano zgodnie ze standardowym protokołem.",
)
_NORMAL: Finding = (
    ("Fără modificări patologice decelabile.", "Bez uchwytnych zmian patologicznych."),
    ("Aspect imagistic în limite normale.", "Obraz w granicach normy."),
)

PROCEDURES: dict[str, Procedure] = {
    "CT_CHEST": Procedure(
        "CT",
        "CHEST",
        None,
        ("CT torace nativ și cu substanță de contrast", "TK klatki piersiowej bez i z kontrastem"),
        (3, 6),
        (250, 900),
        _PROTOCOL,
        _NORMAL,
        (
            (
                "Nodul pulmonar solid de 12 mm în lobul superior drept.",
                "Lity guzek płuca prawego górnego płata śr. 12 mm.",
            ),
            (
                "Nodul pulmonar suspect; se recomandă evaluare PET-CT.",
                "Guzek podejrzany; wskazana diagnostyka PET-CT.",
            ),
        ),
    ),
    "CT_ABD": Procedure(
        "CT",
        "ABDOMEN",
        None,
        ("CT abdomen și pelvis cu contrast", "TK jamy brzusznej i miednicy z kontrastem"),
        (3, 6),
        (300, 1200),
        _PROTOCOL,
        _NORMAL,
        (
            (
                "Formațiune hepatică hipodensă de 18 mm în segmentul VI.",
                "Ognisko hipodensyjne 18 mm w segmencie VI wątroby.",
            ),
            (
                "Leziune hepatică focală, probabil secundară.",
                "Zmiana ogniskowa wątroby, prawdopodobnie przerzutowa.",
            ),
        ),
    ),
    "CT_HEAD": Procedure(
        "CT",
        "HEAD",
        None,
        ("CT cerebral nativ", "TK głowy bez kontrastu"),
        (2, 4),
        (120, 320),
        _PROTOCOL,
        _NORMAL,
        (
            (
                "Zonă hipodensă cortico-subcorticală parietală stângă.",
                "Obszar hipodensyjny korowo-podkorowy ciemieniowy lewy.",
            ),
            ("Aspect de leziune ischemică subacută.", "Obraz podostrego ogniska niedokrwiennego."),
        ),
    ),
    "MR_HEAD": Procedure(
        "MR",
        "BRAIN",
        None,
        ("IRM cerebral cu substanță de contrast", "MR głowy z kontrastem"),
        (6, 12),
        (150, 600),
        _PROTOCOL,
        _NORMAL,
        (
            (
                "Leziuni punctiforme hiperintense T2/FLAIR în substanța albă.",
                "Drobne ogniska hiperintensywne T2/FLAIR w istocie białej.",
            ),
            ("Modificări microvasculare cronice.", "Przewlekłe zmiany naczyniopochodne."),
        ),
    ),
    "MR_LSPINE": Procedure(
        "MR",
        "LSPINE",
        None,
        ("IRM coloană lombară", "MR odcinka lędźwiowego kręgosłupa"),
        (4, 7),
        (100, 260),
        _PROTOCOL,
        _NORMAL,
        (
            (
                "Protruzie discală L4-L5 cu contact radicular L5 stâng.",
                "Uwypuklenie krążka L4-L5 z kontaktem z lewym korzeniem L5.",
            ),
            ("Discopatie L4-L5.", "Dyskopatia L4-L5."),
        ),
    ),
    "CR_CHEST": Procedure(
        "CR",
        "CHEST",
        None,
        ("Radiografie toracică PA", "RTG klatki piersiowej PA"),
        (1, 1),
        (1, 2),
        _PROTOCOL,
        _NORMAL,
        (
            (
                "Opacitate de tip alveolar bazal drept.",
                "Zacienienie miąższowe u podstawy płuca prawego.",
            ),
            ("Aspect de pneumonie bazală dreaptă.", "Obraz odpowiada zapaleniu płuca prawego."),
        ),
    ),
    "DX_KNEE": Procedure(
        "DX",
        "KNEE",
        None,
        ("Radiografie genunchi față și profil", "RTG stawu kolanowego AP i boczne"),
        (1, 2),
        (2, 2),
        _PROTOCOL,
        _NORMAL,
        (
            (
                "Pensarea spațiului articular femuro-tibial medial, osteofite marginale.",
                "Zwężenie przyśrodkowej szpary stawowej, osteofity brzeżne.",
            ),
            ("Gonartroză grad II.", "Choroba zwyrodnieniowa stawu kolanowego II st."),
        ),
    ),
    "MG": Procedure(
        "MG",
        "BREAST",
        None,
        ("Mamografie bilaterală", "Mammografia obu piersi"),
        (1, 2),
        (4, 4),
        _PROTOCOL,
        (
            (
                "Țesut glandular fără formațiuni suspecte.",
                "Utkanie gruczołowe bez zmian podejrzanych.",
            ),
            ("BI-RADS 1.", "BI-RADS 1."),
        ),
        (
            (
                "Opacitate spiculată de 14 mm în cadranul supero-extern stâng.",
                "Zacienienie spikularne 14 mm w kwadrancie górnym zewnętrznym lewej piersi.",
            ),
            ("BI-RADS 4; se recomandă biopsie.", "BI-RADS 4; zalecana biopsja."),
        ),
    ),
    "US_ABD": Procedure(
        "US",
        "ABDOMEN",
        None,
        ("Ecografie abdominală", "USG jamy brzusznej"),
        (1, 1),
        (10, 40),
        _PROTOCOL,
        _NORMAL,
        (
            (
                "Ficat cu ecogenitate crescută difuz, colecist cu calculi.",
                "Wątroba o wzmożonej echogeniczności, złogi w pęcherzyku.",
            ),
            (
                "Steatoză hepatică; litiază biliară.",
                "Stłuszczenie wątroby; kamica pęcherzyka żółciowego.",
            ),
        ),
    ),
    "US_NECK": Procedure(
        "US",
        "NECK",
        None,
        ("Ecografie tiroidiană", "USG tarczycy"),
        (1, 1),
        (8, 24),
        _PROTOCOL,
        _NORMAL,
        (
            (
                "Nodul hipoecogen de 9 mm în lobul tiroidian drept.",
                "Hipoechogeniczny guzek 9 mm w prawym płacie tarczycy.",
            ),
            ("Nodul tiroidian, TI-RADS 3.", "Guzek tarczycy, TI-RADS 3."),
        ),
    ),
    "US_KIDNEY": Procedure(
        "US",
        "KIDNEY",
        None,
        ("Ecografie renală", "USG nerek"),
        (1, 1),
        (8, 24),
        _PROTOCOL,
        _NORMAL,
        (
            (
                "Rinichi cu indice parenchimatos redus bilateral.",
                "Nerki o zwężonym miąższu obustronnie.",
            ),
            ("Aspect de nefropatie cronică.", "Obraz przewlekłej nefropatii."),
        ),
    ),
    "US_PELVIS": Procedure(
        "US",
        "PELVIS",
        None,
        ("Ecografie pelvină", "USG miednicy mniejszej"),
        (1, 1),
        (8, 30),
        _PROTOCOL,
        _NORMAL,
        (
            (
                "Formațiune hipoecogenă intramurală de 25 mm.",
                "Hipoechogeniczna zmiana śródścienna 25 mm.",
            ),
            ("Fibrom uterin.", "Mięśniak macicy."),
        ),
    ),
    "US_BREAST_BX": Procedure(
        "US",
        "BREAST",
        "BIOPSY",
        ("Biopsie mamară ecoghidată (core-biopsy)", "Biopsja gruboigłowa piersi pod kontrolą USG"),
        (1, 2),
        (6, 20),
        (
            "Biopsie cu ac de 14G sub ghidaj ecografic, 4 fragmente prelevate.",
            "Biopsja igłą 14G pod kontrolą USG, pobrano 4 bioptaty.",
        ),
        (
            ("Procedură fără incidente.", "Zabieg bez powikłań."),
            (
                "Material trimis la examen histopatologic.",
                "Materiał przesłano do badania histopatologicznego.",
            ),
        ),
        (
            ("Hematom mic la locul puncției.", "Niewielki krwiak w miejscu wkłucia."),
            (
                "Material trimis la examen histopatologic.",
                "Materiał przesłano do badania histopatologicznego.",
            ),
        ),
    ),
    "US_LIVER_BX": Procedure(
        "US",
        "LIVER",
        "BIOPSY",
        ("Biopsie hepatică ecoghidată", "Biopsja wątroby pod kontrolą USG"),
        (1, 1),
        (4, 12),
        (
            "Biopsie cu ac de 16G sub ghidaj ecografic, 2 fragmente prelevate.",
            "Biopsja igłą 16G pod kontrolą USG, pobrano 2 bioptaty.",
        ),
        (
            ("Procedură fără incidente.", "Zabieg bez powikłań."),
            (
                "Material trimis la examen histopatologic.",
                "Materiał przesłano do badania histopatologicznego.",
            ),
        ),
        (
            ("Durere tranzitorie la locul puncției.", "Przemijający ból w miejscu wkłucia."),
            (
                "Material trimis la examen histopatologic.",
                "Materiał przesłano do badania histopatologicznego.",
            ),
        ),
    ),
    "XA_CORO": Procedure(
        "XA",
        "HEART",
        "INTERVENTION",
        ("Coronarografie", "Koronarografia"),
        (5, 15),
        (80, 600),
        (
            "Abord radial drept, explorare coronariană selectivă.",
            "Dostęp przez prawą tętnicę promieniową, selektywna koronarografia.",
        ),
        (
            (
                "Artere coronare fără stenoze semnificative.",
                "Tętnice wieńcowe bez istotnych zwężeń.",
            ),
            ("Coronare permeabile.", "Naczynia wieńcowe drożne."),
        ),
        (
            (
                "Stenoză de 80% pe artera descendentă anterioară, segment proximal.",
                "Zwężenie 80% proksymalnego odcinka gałęzi przedniej zstępującej.",
            ),
            (
                "Boală coronariană univasculară; angioplastie cu stent.",
                "Choroba jednonaczyniowa; wykonano angioplastykę ze stentem.",
            ),
        ),
    ),
}

BY_SPECIALTY: dict[str, tuple[str, ...]] = {
    "oncology": ("CT_CHEST", "CT_ABD", "MR_HEAD", "MG", "US_BREAST_BX", "CT_CHEST"),
    "cardiology": ("XA_CORO", "CR_CHEST"),
    "internal_medicine": ("CR_CHEST", "US_ABD", "DX_KNEE"),
    "general_surgery": ("US_ABD", "CT_ABD"),
    "neurology": ("MR_HEAD", "CT_HEAD", "MR_LSPINE"),
    "gastroenterology": ("US_ABD", "US_LIVER_BX"),
    "obstetrics_gynaecology": ("US_PELVIS", "MG"),
    "pulmonology": ("CR_CHEST", "CT_CHEST"),
    "otorhinolaryngology": ("CT_HEAD",),
    "paediatrics": ("CR_CHEST", "US_ABD"),
    "nephrology": ("US_KIDNEY",),
    "endocrinology": ("US_NECK",),
    "haematology": ("US_ABD",),
}
