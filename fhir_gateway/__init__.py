"""The FHIR R4 REST API: routes, interactions, search, paging, OperationOutcome, HIS connector."""
