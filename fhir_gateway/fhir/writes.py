"""The patient answers the hospital's questionnaires: ``PUT QuestionnaireResponse/[id]`` (F18).

http://hl7.org/fhir/R4/http.html#update over the HIS's questionnaire assignments. The HIS
assigns a questionnaire (a ``questionnaire_assignment`` row); the gateway serves it as the
Questionnaire plus an in-progress QuestionnaireResponse, and the patient's app fills that
response in: ``status`` in-progress saves the answers, ``completed`` submits them. Answers are
checked against the Questionnaire (``mappers.questionnaire_answers``: one issue per wrong item,
with its linkId) and written to the HIS through ``HisConnector.write_answers``, one conditional
change, so:

* a completed response is closed for good: any further update is 409 Conflict;
* optimistic locking (http.html#concurrency): with ``If-Match: W/"<versionId>"`` an update of
  another version than the current one is 412 Precondition Failed; without it, a change made
  by someone else between this update's read and its write is 409. Of two submits racing on
  one version, one wins and the other is 409 (the response is then closed).

There is no create or delete: responses exist because the HIS assigned them. Attachment answers
refer to what the patient already has at the gateway; ``attachment_check`` decides what counts
(by default: a DocumentReference, Binary or ImagingStudy in the patient's compartment of the
HIS; the uploads service adds the patient's own uploads by replacing it).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from typing import Any

from access import audit
from access.policy import Decision, Grant
from mappers import InvalidRecord
from mappers.ids import parse_id
from mappers.questionnaire_answers import (
    ATTACHABLE,
    WRITABLE_STATUSES,
    AnswerProblems,
    answers_of,
)

from ..errors import (
    BadRequest,
    Conflict,
    FhirError,
    Invalid,
    NotFound,
    PreconditionFailed,
    Unprocessable,
)
from .interactions import FhirService, _report

RESOURCE = "QuestionnaireResponse"
#: A link id as the HIS writes them: what an issue may repeat of the client's input.
_LINK_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-]{0,63}\Z")

#: ``(patient, reference) -> bool``: whether an attachment answer of that HIS patient may
#: point at ``reference`` ("DocumentReference/12", "Binary/7", "ImagingStudy/3").
AttachmentCheck = Callable[[int, str], bool]


def his_attachment_check(service: FhirService) -> AttachmentCheck:
    """The default ``AttachmentCheck``: the resource exists in the patient's compartment of
    the HIS (any document, file or imaging study of theirs, whatever a token may read)."""

    def check(patient: int, reference: str) -> bool:
        resource_type, _, fhir_id = reference.partition("/")
        if resource_type not in ATTACHABLE:
            return False
        parsed = parse_id(resource_type, fhir_id)
        if parsed is None:
            return False
        found = service.connector.read_many(resource_type, [parsed], frozenset({patient}))
        return bool(found)

    return check


def etag_version(if_match: str) -> str:
    """The versionId of an ``If-Match`` value (``W/"3.1"`` or ``"3.1"``)."""
    return if_match.strip().removeprefix("W/").strip('"')


class QuestionnaireResponses:
    """Saving and submitting a patient's answers."""

    def __init__(
        self,
        service: FhirService,
        *,
        attachment_check: AttachmentCheck | None = None,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self.service = service
        self.attachment_check = attachment_check or his_attachment_check(service)
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC).replace(tzinfo=None))

    def _current(
        self, grant: Grant, fhir_id: str, decision: Decision
    ) -> tuple[Mapping[str, Any], dict[str, Any]]:
        """The assignment behind the response as the grant sees it, and the response."""
        with self.service._his():
            found = self.service._fetch(RESOURCE, [fhir_id], decision)
        if not found:
            audit.record(grant, "update", RESOURCE, outcome="not-found", ids=[fhir_id[:64]])
            raise NotFound(f"{RESOURCE}/{fhir_id[:64]} is not known")
        kind, record = found[0]
        try:
            return record, self.service._map(RESOURCE, kind, record)
        except InvalidRecord as exc:
            _report(exc)
            raise Unprocessable(
                f"The hospital record behind {RESOURCE}/{fhir_id} is malformed; it has been "
                "reported"
            ) from None

    def update(self, grant: Grant, fhir_id: str, body: Any, if_match: str | None) -> dict[str, Any]:
        """Save (in-progress) or submit (completed) the answers of one response; the
        response as stored afterwards."""
        decision = self.service._decide(grant, RESOURCE, "update")
        if parse_id(RESOURCE, fhir_id) is None:
            audit.record(grant, "update", RESOURCE, outcome="not-found", ids=[fhir_id[:64]])
            raise NotFound(f"{RESOURCE}/{fhir_id[:64]} is not known")
        record, current = self._current(grant, fhir_id, decision)
        patient = int(record["patient_id"])
        ids, patients = [fhir_id], [patient]
        if current["status"] == "completed":
            audit.record(grant, "update", RESOURCE, outcome="failed", ids=ids, patients=patients)
            raise Conflict(f"{RESOURCE}/{fhir_id} is completed: it is closed for good")
        try:
            if not isinstance(body, dict) or body.get("resourceType") != RESOURCE:
                raise BadRequest(f"The body must be a FHIR {RESOURCE} in JSON")
            if body.get("id") != fhir_id:
                # http.html#update: the id in the body must be the one of the URL
                raise BadRequest("The resource's id must be the id in the URL")
            version = current["meta"]["versionId"]
            if if_match is not None and etag_version(if_match) != version:
                raise PreconditionFailed(
                    f"{RESOURCE}/{fhir_id} is at another version than If-Match names; read it again"
                )
            answers = self._answers(body, record, current, patient)
        except FhirError:
            audit.record(grant, "update", RESOURCE, outcome="failed", ids=ids, patients=patients)
            raise
        submitted = self.clock() if body["status"] == "completed" else None
        with self.service._his():
            written = self.service.connector.write_answers(
                int(record["id"]), patient, int(record["version"]), answers, submitted_at=submitted
            )
        if written != "saved":
            audit.record(grant, "update", RESOURCE, outcome="failed", ids=ids, patients=patients)
        if written == "missing":
            raise NotFound(f"{RESOURCE}/{fhir_id[:64]} is not known")
        if written == "closed":
            raise Conflict(f"{RESOURCE}/{fhir_id} is completed: it is closed for good")
        if written == "stale":
            if if_match is not None:
                raise PreconditionFailed(
                    f"{RESOURCE}/{fhir_id} changed since the version If-Match names; read it again"
                )
            raise Conflict(
                f"{RESOURCE}/{fhir_id} changed while this update was made; read it again"
            )
        _, stored = self._current(grant, fhir_id, decision)
        audit.record(grant, "update", RESOURCE, outcome="allowed", ids=ids, patients=patients)
        return stored

    def _answers(
        self,
        body: dict[str, Any],
        record: Mapping[str, Any],
        current: dict[str, Any],
        patient: int,
    ) -> dict[str, Any]:
        issues: list[dict[str, Any]] = []
        if body.get("status") not in WRITABLE_STATUSES:
            issues.append(
                _issue(
                    "status must be in-progress (save the answers) or completed (submit them)",
                    f"{RESOURCE}.status",
                )
            )
        if "questionnaire" in body and body["questionnaire"] != current["questionnaire"]:
            issues.append(
                _issue("questionnaire must stay the one assigned", f"{RESOURCE}.questionnaire")
            )
        for element in ("subject", "source"):
            if element in body and _reference(body[element]) != current[element]["reference"]:
                issues.append(_issue(f"{element} must stay the patient", f"{RESOURCE}.{element}"))
        if issues:
            raise Invalid(issues[0]["diagnostics"], issues)
        try:
            return answers_of(
                body,
                record["questionnaire"],
                self.service.ctx,
                lambda reference: self.attachment_check(patient, reference),
            )
        except AnswerProblems as exc:
            issues = []
            for problem in exc.problems:
                link_id = problem.link_id
                if link_id is not None and not _LINK_ID.match(link_id):
                    link_id = "(not a link id)"
                issues.append(
                    _issue(
                        f"{link_id}: {problem.message}" if link_id else problem.message,
                        f"{RESOURCE}.item.where(linkId='{link_id}')" if link_id else RESOURCE,
                    )
                )
            raise Invalid(issues[0]["diagnostics"], issues) from None


def _reference(value: Any) -> Any:
    return value.get("reference") if isinstance(value, dict) else None


def _issue(diagnostics: str, expression: str) -> dict[str, Any]:
    return {
        "severity": "error",
        "code": "invalid",
        "diagnostics": diagnostics,
        "expression": [expression],
    }
