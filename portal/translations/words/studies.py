# ruff: noqa: E501  (the translation table: one message per line reads best)
"""The words of the "My studies" screen (the home page with PORTAL_HOME=studies)."""

from __future__ import annotations

WORDS: dict[str, dict[str, str | tuple[str, ...]]] = {
    "ro": {
        "My studies": "Investigațiile mele",
        "Your laboratory results, tests and imaging studies together, newest first.": "Rezultatele de laborator, investigațiile paraclinice și imagistice împreună, cele mai noi primele.",
        "Laboratory": "Laborator",
        "Paraclinical test": "Investigație paraclinică",
        "Imaging report": "Rezultat imagistic",
        "Imaging study": "Investigație imagistică",
        "%(num)d study": (
            "%(num)d investigație",
            "%(num)d investigații",
            "%(num)d de investigații",
        ),
        "Kind": "Tip",
        "Study": "Investigație",
        "There are no studies yet.": "Nu există încă investigații.",
    },
    "pl": {
        "My studies": "Moje badania",
        "Your laboratory results, tests and imaging studies together, newest first.": "Wyniki badań laboratoryjnych, badań diagnostycznych i obrazowych razem, od najnowszych.",
        "Laboratory": "Laboratorium",
        "Paraclinical test": "Badanie diagnostyczne",
        "Imaging report": "Opis badania obrazowego",
        "Imaging study": "Badanie obrazowe",
        "%(num)d study": ("%(num)d badanie", "%(num)d badania", "%(num)d badań"),
        "Kind": "Rodzaj",
        "Study": "Badanie",
        "There are no studies yet.": "Nie ma jeszcze badań.",
    },
}
