"""Words of the period filters on the results screens."""

WORDS = {
    "ro": {
        "There are no results in this period.": "Nu există rezultate în această perioadă.",
    },
    "pl": {
        "There are no results in this period.": "Brak wyników w tym okresie.",
    },
}
