# ruff: noqa: E501  (the translation table: one message per line reads best)
"""The words of the all-documents screen (F13)."""

from __future__ import annotations

WORDS: dict[str, dict[str, str | tuple[str, ...]]] = {
    "ro": {
        "All documents": "Toate documentele",
        "Share document %(number)s": "Partajați documentul %(number)s",
        "See every document the hospital issued for you: letters, reports, prescriptions.": "Vedeți toate documentele emise de spital pentru dumneavoastră: scrisori, buletine, rețete.",
        "Discharge letter": "Scrisoare medicală",
        "Laboratory report": "Buletin de analize",
        "Functional test report": "Rezultat de explorare funcțională",
        "Imaging report": "Rezultat imagistic",
        "Prescription": "Rețetă",
        "Medical certificate": "Certificat medical",
        "Referral": "Bilet de trimitere",
        "Other document": "Alt document",
        "%(num)d document": ("%(num)d document", "%(num)d documente", "%(num)d de documente"),
        "Kind of document": "Tipul documentului",
        "Any kind": "Orice tip",
        "Kind": "Tip",
        "Title": "Titlu",
        "File": "Fișier",
        "its encounter": "episodul său",
        "There are no documents in this period.": "Nu există documente în această perioadă.",
        "You uploaded %(num)d document yourself.": (
            "Ați încărcat dumneavoastră %(num)d document.",
            "Ați încărcat dumneavoastră %(num)d documente.",
            "Ați încărcat dumneavoastră %(num)d de documente.",
        ),
    },
    "pl": {
        "Share document %(number)s": "Udostępnij dokument %(number)s",
        "All documents": "Wszystkie dokumenty",
        "See every document the hospital issued for you: letters, reports, prescriptions.": "Zobacz wszystkie dokumenty wystawione dla Ciebie przez szpital: wypisy, wyniki, recepty.",
        "Discharge letter": "Karta informacyjna",
        "Laboratory report": "Wynik badań laboratoryjnych",
        "Functional test report": "Wynik badania czynnościowego",
        "Imaging report": "Opis badania obrazowego",
        "Prescription": "Recepta",
        "Medical certificate": "Zaświadczenie lekarskie",
        "Referral": "Skierowanie",
        "Other document": "Inny dokument",
        "%(num)d document": ("%(num)d dokument", "%(num)d dokumenty", "%(num)d dokumentów"),
        "Kind of document": "Rodzaj dokumentu",
        "Any kind": "Dowolny rodzaj",
        "Kind": "Rodzaj",
        "Title": "Tytuł",
        "File": "Plik",
        "its encounter": "jego pobyt",
        "There are no documents in this period.": "Brak dokumentów w tym okresie.",
        "You uploaded %(num)d document yourself.": (
            "Samodzielnie dodano %(num)d dokument.",
            "Samodzielnie dodano %(num)d dokumenty.",
            "Samodzielnie dodano %(num)d dokumentów.",
        ),
    },
}
