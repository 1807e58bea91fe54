"""Patient accounts: registration, login, second factor, lockout, identities (F1-F9)."""
