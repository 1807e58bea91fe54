"""Questionnaires the HIS assigns (F18): the state tables of the assignment mail of earlier
versions (``tables``).

Answers are saved and submitted through the FHIR API (``fhir_gateway.fhir.writes``). The patient
is told of a new assignment by the notifications (``notifications.assignments``: the
``questionnaire-assigned`` message, one per assignment and channel); ``questionnaire_sweep``
and ``questionnaire_notice`` are where the assignment mail sweep of earlier versions stood and
what it mailed, read once so that nothing it mailed is announced again.
"""
