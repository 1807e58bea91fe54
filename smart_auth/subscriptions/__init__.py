"""State tables of the FHIR Subscriptions (``notifications.subscriptions`` above the surfaces):
they sit here so that the one state ``metadata`` and its migrations know every table."""
