"""The words of the sign-in and identity launches (portal/app.py)."""

WORDS = {
    "ro": {
        "This account acts for no patient yet.": ("Acest cont nu reprezintă încă niciun pacient."),
    },
    "pl": {
        "This account acts for no patient yet.": (
            "To konto nie działa jeszcze w imieniu żadnego pacjenta."
        ),
    },
}
