"""Questionnaires the HIS assigns (F18): the assignment mail and its sweep (``notify``).

Answers are saved and submitted through the FHIR API (``fhir_gateway.fhir.writes``); this
part mails the patient when the HIS assigns a questionnaire. ``assignment_mail(settings,
state, his)`` builds the sweep from the settings (``FHIR_GATEWAY_QUESTIONNAIRES_*`` and the
mail settings the accounts use).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.engine import Engine

from fhir_gateway.his.connector import HisConnector
from smart_auth.accounts import mail_sender

from .notify import AssignmentMail, SweepReport

__all__ = ["AssignmentMail", "SweepReport", "assignment_mail", "link_maker"]


def link_maker(settings: Any) -> Any:
    """``id -> link`` of the QuestionnaireResponse the mail points at:
    ``FHIR_GATEWAY_QUESTIONNAIRES_LINK`` with ``{id}`` filled in, by default the response on
    the FHIR API."""
    template = settings.questionnaires_link or f"{settings.base_url}/QuestionnaireResponse/{{id}}"
    return lambda fhir_id: template.replace("{id}", fhir_id)


def assignment_mail(settings: Any, state: Engine, his: HisConnector) -> AssignmentMail:
    return AssignmentMail(
        state,
        his,
        mail_sender(settings),
        link_maker(settings),
        lookback=dt.timedelta(seconds=settings.questionnaires_lookback_s),
        max_age=dt.timedelta(days=settings.questionnaires_max_age_days),
    )
