"""Clinical wording in Romanian and Polish: reasons for care, recommendations, medicines.

Texts are ``(Romanian, Polish)`` pairs (see ``catalog.tr``). Reasons are keyed by specialty
code; medicines by the condition codes of ``labdata.CONDITIONS``.
"""

from __future__ import annotations

from .catalog import Text

REASONS: dict[str, tuple[Text, ...]] = {
    "cardiology": (
        ("Hipertensiune arterială esențială", "Nadciśnienie tętnicze pierwotne"),
        ("Cardiopatie ischemică cronică", "Przewlekła choroba niedokrwienna serca"),
        ("Fibrilație atrială paroxistică", "Napadowe migotanie przedsionków"),
        ("Insuficiență cardiacă cronică NYHA II", "Przewlekła niewydolność serca NYHA II"),
    ),
    "internal_medicine": (
        ("Control periodic, dislipidemie", "Kontrola okresowa, dyslipidemia"),
        ("Sindrom anemic în investigație", "Diagnostyka zespołu anemicznego"),
        ("Pneumonie comunitară", "Pozaszpitalne zapalenie płuc"),
        ("Stare febrilă prelungită", "Przedłużający się stan gorączkowy"),
    ),
    "paediatrics": (
        ("Bronșiolită acută", "Ostre zapalenie oskrzelików"),
        ("Gastroenterită acută", "Ostry nieżyt żołądkowo-jelitowy"),
        ("Control bilanț de sănătate", "Bilans zdrowia dziecka"),
        ("Astm bronșic al copilului", "Astma oskrzelowa u dziecka"),
    ),
    "neurology": (
        ("Cefalee migrenoasă", "Migrenowe bóle głowy"),
        ("Epilepsie focală, control", "Padaczka ogniskowa, kontrola"),
        ("Accident vascular cerebral ischemic", "Udar niedokrwienny mózgu"),
        ("Sindrom de tunel carpian", "Zespół cieśni nadgarstka"),
    ),
    "oncology": (
        ("Neoplasm mamar, chimioterapie adjuvantă", "Rak piersi, chemioterapia uzupełniająca"),
        ("Neoplasm pulmonar, evaluare terapeutică", "Rak płuca, ocena odpowiedzi na leczenie"),
        ("Neoplasm de colon operat, urmărire", "Rak jelita grubego po operacji, obserwacja"),
        ("Limfom non-Hodgkin, control", "Chłoniak nieziarniczy, kontrola"),
    ),
    "general_surgery": (
        ("Litiază biliară simptomatică", "Objawowa kamica żółciowa"),
        ("Hernie inghinală dreaptă", "Przepuklina pachwinowa prawostronna"),
        ("Apendicită acută", "Ostre zapalenie wyrostka robaczkowego"),
    ),
    "obstetrics_gynaecology": (
        ("Sarcină, monitorizare trimestrul II", "Ciąża, kontrola w II trymestrze"),
        ("Fibrom uterin", "Mięśniak macicy"),
        ("Control ginecologic periodic", "Okresowa kontrola ginekologiczna"),
    ),
    "pulmonology": (
        ("Bronhopneumopatie obstructivă cronică", "Przewlekła obturacyjna choroba płuc"),
        ("Astm bronșic", "Astma oskrzelowa"),
        ("Tuse cronică în investigație", "Diagnostyka przewlekłego kaszlu"),
    ),
    "endocrinology": (
        ("Diabet zaharat tip 2", "Cukrzyca typu 2"),
        ("Hipotiroidie autoimună", "Autoimmunologiczna niedoczynność tarczycy"),
        ("Nodul tiroidian", "Guzek tarczycy"),
    ),
    "gastroenterology": (
        ("Boală de reflux gastroesofagian", "Choroba refluksowa przełyku"),
        ("Steatoză hepatică", "Stłuszczenie wątroby"),
        ("Hepatită cronică virală C", "Przewlekłe wirusowe zapalenie wątroby typu C"),
    ),
    "nephrology": (
        ("Boală cronică de rinichi stadiul 3", "Przewlekła choroba nerek w stadium 3"),
        ("Nefropatie diabetică", "Nefropatia cukrzycowa"),
    ),
    "haematology": (
        ("Anemie feriprivă", "Niedokrwistość z niedoboru żelaza"),
        ("Trombocitopenie în investigație", "Diagnostyka małopłytkowości"),
    ),
    "otorhinolaryngology": (
        ("Hipoacuzie bilaterală", "Obustronny niedosłuch"),
        ("Sinuzită cronică", "Przewlekłe zapalenie zatok"),
        ("Amigdalită cronică", "Przewlekłe zapalenie migdałków"),
    ),
}

RECOMMENDATIONS: tuple[Text, ...] = (
    ("Regim alimentar hiposodat și hipolipidic.", "Dieta niskosodowa i niskotłuszczowa."),
    ("Control la medicul de familie peste 30 de zile.", "Kontrola u lekarza POZ za 30 dni."),
    (
        "Repetarea analizelor de laborator peste 3 luni.",
        "Kontrolne badania laboratoryjne za 3 miesiące.",
    ),
    (
        "Evitarea efortului fizic intens 2 săptămâni.",
        "Unikanie dużego wysiłku fizycznego przez 2 tygodnie.",
    ),
    (
        "Reprezentare la nevoie sau la apariția simptomelor.",
        "Ponowna wizyta w razie nasilenia objawów.",
    ),
)

MEDICINES: dict[str, tuple[Text, ...]] = {
    "diabetes": (("Metformin 850 mg, 1-0-1", "Metformina 850 mg, 1-0-1"),),
    "dyslipidemia": (("Atorvastatină 20 mg, 0-0-1", "Atorwastatyna 20 mg, 0-0-1"),),
    "hypertension": (
        ("Ramipril 5 mg, 1-0-0", "Ramipryl 5 mg, 1-0-0"),
        ("Bisoprolol 5 mg, 1-0-0", "Bisoprolol 5 mg, 1-0-0"),
    ),
    "hypothyroidism": (
        ("Levotiroxină 50 µg, 1-0-0 a jeun", "Lewotyroksyna 50 µg, 1-0-0 na czczo"),
    ),
    "ckd": (("Furosemid 40 mg, 1-0-0", "Furosemid 40 mg, 1-0-0"),),
    "anaemia": (("Fier (sulfat feros) 80 mg, 1-0-0", "Żelazo (siarczan żelazawy) 80 mg, 1-0-0"),),
    "oncology": (("Ondansetron 8 mg la nevoie", "Ondansetron 8 mg doraźnie"),),
    "liver": (("Silimarină 140 mg, 1-1-1", "Sylimaryna 140 mg, 1-1-1"),),
}

COMMON_MEDICINES: tuple[Text, ...] = (
    (
        "Paracetamol 500 mg la nevoie, maximum 4 pe zi",
        "Paracetamol 500 mg doraźnie, maks. 4 na dobę",
    ),
    ("Amoxicilină 500 mg, 1-1-1, 7 zile", "Amoksycylina 500 mg, 1-1-1 przez 7 dni"),
    ("Omeprazol 20 mg, 1-0-0", "Omeprazol 20 mg, 1-0-0"),
)

CERTIFICATE_PURPOSES: tuple[Text, ...] = (
    (
        "Se eliberează pentru a-i servi la locul de muncă.",
        "Wydaje się w celu przedłożenia pracodawcy.",
    ),
    ("Se eliberează pentru școală.", "Wydaje się w celu przedłożenia w szkole."),
    (
        "Se eliberează pentru înscrierea la activități sportive.",
        "Wydaje się w celu udziału w zajęciach sportowych.",
    ),
)

CERTIFICATE_STATEMENT: Text = (
    "Pacientul a fost consultat în data de {date} și este clinic sănătos / apt.",
    "Pacjent był badany w dniu {date} i jest zdolny do wykonywania zajęć.",
)

REFERRAL_STATEMENT: Text = (
    "Se trimite pacientul pentru consult de specialitate: {specialty}. Diagnostic: {reason}.",
    "Kieruję pacjenta na konsultację specjalistyczną: {specialty}. Rozpoznanie: {reason}.",
)

DISCHARGE_INTRO: Text = (
    "Pacientul a fost internat în perioada {start} – {end} cu diagnosticul: {reason}.",
    "Pacjent przebywał w oddziale w dniach {start} – {end} z rozpoznaniem: {reason}.",
)

DISCHARGE_OUTCOME: tuple[Text, ...] = (
    (
        "Evoluție favorabilă sub tratament. Se externează ameliorat.",
        "Przebieg leczenia pomyślny. Wypisany w stanie poprawy.",
    ),
    (
        "Evoluție staționară. Se externează cu recomandări.",
        "Stan stabilny. Wypisany z zaleceniami.",
    ),
    ("Evoluție favorabilă, vindecat.", "Przebieg pomyślny, wyleczony."),
)
