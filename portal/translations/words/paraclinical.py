# ruff: noqa: E501  (the translation table: one message per line reads best)
"""The words of the paraclinical results screen."""

from __future__ import annotations

WORDS: dict[str, dict[str, str | tuple[str, ...]]] = {
    "ro": {
        "Electrocardiogram": "Electrocardiogramă",
        "Holter monitoring": "Monitorizare Holter",
        "Electroencephalogram": "Electroencefalogramă",
        "Electromyography": "Electromiografie",
        "Spirometry": "Spirometrie",
        "Audiometry": "Audiometrie",
        "Echocardiography": "Ecocardiografie",
        "Paraclinical results": "Investigații paraclinice",
        "See your ECG, EEG, spirometry and other test reports and their PDF files.": "Vedeți rezultatele EKG, EEG, spirometrie și ale altor investigații și fișierele lor PDF.",
        "Test": "Investigație",
        "Conclusion": "Concluzie",
        "There are no paraclinical results yet.": "Nu există încă rezultate ale investigațiilor paraclinice.",
    },
    "pl": {
        "Electrocardiogram": "Elektrokardiogram",
        "Holter monitoring": "Badanie Holtera",
        "Electroencephalogram": "Elektroencefalogram",
        "Electromyography": "Elektromiografia",
        "Spirometry": "Spirometria",
        "Audiometry": "Audiometria",
        "Echocardiography": "Echokardiografia",
        "Paraclinical results": "Badania diagnostyczne",
        "See your ECG, EEG, spirometry and other test reports and their PDF files.": "Zobacz wyniki EKG, EEG, spirometrii i innych badań oraz ich pliki PDF.",
        "Test": "Badanie",
        "Conclusion": "Wniosek",
        "There are no paraclinical results yet.": "Nie ma jeszcze wyników badań diagnostycznych.",
    },
}
