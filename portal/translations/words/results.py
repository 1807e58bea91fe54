# ruff: noqa: E501  (the translation table: one message per line reads best)
"""The words of the laboratory results' report page and trend page, and of what the lab and
paraclinical lists share (download, share)."""

from __future__ import annotations

WORDS: dict[str, dict[str, str | tuple[str, ...]]] = {
    "ro": {
        "Download the PDF of report %(id)s": "Descărcați PDF-ul buletinului %(id)s",
        "Share": "Partajați",
        "Share report %(id)s": "Partajați buletinul %(id)s",
        "Report %(id)s": "Buletinul %(id)s",
        "All laboratory results": "Toate rezultatele de laborator",
        "Values": "Valori",
        "Analyte": "Analiză",
        "Value": "Valoare",
        "Reference range": "Interval de referință",
        "Trend": "Evoluție",
        "Trend of %(analyte)s": "Evoluția: %(analyte)s",
        "This report has no values to show; its PDF holds the results.": "Acest buletin nu are valori de afișat; rezultatele sunt în PDF-ul său.",
        "%(analyte)s over time": "%(analyte)s în timp",
        "%(num)d value from %(first)s to %(last)s.": (
            "%(num)d valoare, din %(first)s până în %(last)s.",
            "%(num)d valori, din %(first)s până în %(last)s.",
            "%(num)d de valori, din %(first)s până în %(last)s.",
        ),
        "The shaded band is the reference range.": "Banda colorată este intervalul de referință.",
        "The same values are in the table below.": "Aceleași valori sunt în tabelul de mai jos.",
        "Values of %(analyte)s": "Valorile: %(analyte)s",
        "high": "crescut",
        "low": "scăzut",
        "abnormal": "anormal",
    },
    "pl": {
        "Download the PDF of report %(id)s": "Pobierz PDF wyniku %(id)s",
        "Share": "Udostępnij",
        "Share report %(id)s": "Udostępnij wynik %(id)s",
        "Report %(id)s": "Wynik %(id)s",
        "All laboratory results": "Wszystkie wyniki badań laboratoryjnych",
        "Values": "Wartości",
        "Analyte": "Parametr",
        "Value": "Wartość",
        "Reference range": "Zakres referencyjny",
        "Trend": "Trend",
        "Trend of %(analyte)s": "Trend: %(analyte)s",
        "This report has no values to show; its PDF holds the results.": "Ten wynik nie ma wartości do pokazania; wyniki są w jego pliku PDF.",
        "%(analyte)s over time": "%(analyte)s w czasie",
        "%(num)d value from %(first)s to %(last)s.": (
            "%(num)d wartość, od %(first)s do %(last)s.",
            "%(num)d wartości, od %(first)s do %(last)s.",
            "%(num)d wartości, od %(first)s do %(last)s.",
        ),
        "The shaded band is the reference range.": "Zacieniowany pas to zakres referencyjny.",
        "The same values are in the table below.": "Te same wartości są w tabeli poniżej.",
        "Values of %(analyte)s": "Wartości: %(analyte)s",
        "high": "podwyższony",
        "low": "obniżony",
        "abnormal": "nieprawidłowy",
    },
}
