"""The one access layer under every surface (FHIR, DICOMweb, the authorization server).

``Grant`` is what one caller may do, made once per request by the registered token validator
that recognises its credential (``validators``); ``AccessPolicy`` decides every interaction of
every surface for a grant and returns the narrowing the query must carry; the audit record is
derived from that decision (``audit``). SMART scopes, the Patient compartment and the access
errors live here too. Nothing here imports a web framework or another package of the gateway.
"""
