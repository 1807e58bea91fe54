"""FHIR REST interactions, free of any web framework.

read (http.html#read), search (http.html#search, search.html), Patient/$everything
(patient-operation-everything.html) and Binary (binary.html#rest). Each takes the caller's
``Grant``, asks the access policy for the narrowing, runs narrowed connector calls, maps HIS
records with ``mappers`` and returns plain data; ``fhir_gateway.routes`` renders it over HTTP.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode

from access import audit
from access.compartment import PATIENT_COMPARTMENT
from access.policy import AccessPolicy, Decision, Grant
from mappers import InvalidRecord, MapContext, map_record
from mappers.ids import parse_id

from ..errors import (
    BadRequest,
    Forbidden,
    HisUnavailable,
    MethodNotAllowed,
    NotFound,
    UnknownParameter,
    Unprocessable,
)
from ..his.connector import HisConnector, HisUnreachable, Hit
from .paging import Cursor, CursorCodec
from .query import (
    RESULT_PARAMS,
    Criterion,
    Include,
    QueryParser,
    ReferenceValue,
    SearchQuery,
    TokenValue,
    parse_date,
    parse_reference,
    split_or,
)
from .registry import STANDARD_COMMON, STANDARD_RESULT, ResourceSpec, is_standard, registry

log = logging.getLogger(__name__)

#: Completes mapped resources in place, given (HIS record, resource) pairs of one page.
Enricher = Callable[[list[tuple[Mapping[str, Any], dict[str, Any]]]], None]

SUBSETTED = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
    "code": "SUBSETTED",
}


@dataclass(frozen=True, slots=True)
class Entry:
    resource: dict[str, Any]
    mode: str  # match | include | outcome


class FhirService:
    """The FHIR API's behaviour over one HIS connector."""

    def __init__(
        self,
        connector: HisConnector,
        policy: AccessPolicy,
        ctx: MapContext,
        *,
        base_url: str,
        secret: bytes,
        previous_secrets: tuple[bytes, ...] = (),
        default_count: int = 20,
        max_count: int = 1000,
        max_included: int = 1000,
    ) -> None:
        self.connector = connector
        self.policy = policy
        self.ctx = ctx
        self.base_url = base_url
        self.parser = QueryParser(base_url, default_count, max_count)
        self.cursors = CursorCodec(secret, previous_secrets)
        self.max_included = max_included
        #: resource type -> completes a page of (HIS record, mapped resource) pairs in place
        #: from another source (ImagingStudy from the PACS: dicomweb.pacs_studies)
        self.enrichers: dict[str, Enricher] = {}

    # --- helpers ------------------------------------------------------------------------------

    def spec(self, resource_type: str) -> ResourceSpec:
        spec = registry().get(resource_type)
        if spec is None:
            raise NotFound(f"This server does not serve the resource type '{resource_type[:40]}'")
        return spec

    @staticmethod
    def _his() -> _HisGuard:
        return _HisGuard()

    def _map(self, resource_type: str, kind: str, record: Mapping[str, Any]) -> dict[str, Any]:
        return map_record(resource_type, kind, record, self.ctx)

    # --- read ---------------------------------------------------------------------------------

    def _decide(self, grant: Grant, resource_type: str, interaction: str) -> Decision:
        """The access decision for one interaction; a refusal is audited, then raised."""
        try:
            decision = self.policy.decide(grant, resource_type, interaction)
            if decision.studies is not None and (interaction != "read" or decision.ids is None):
                # a grant bound to DICOM studies (a viewer token): the FHIR API cannot narrow
                # its queries to Study Instance UIDs, and ignoring them would widen the grant;
                # a read is narrowed to the grant's listed ids where it has them (a share)
                raise self.policy.forbidden(
                    f"Access bound to imaging studies does not cover the FHIR {resource_type}"
                )
            return decision
        except Forbidden:
            audit.record(grant, interaction, resource_type, outcome="denied")
            raise

    def _may(self, grant: Grant, resource_type: str, interaction: str) -> Decision | None:
        """``policy.may`` for included resources, with the decisions the FHIR API cannot apply
        (bound to DICOM studies) left out as well."""
        decision = self.policy.may(grant, resource_type, interaction)
        return decision if decision is not None and decision.studies is None else None

    def _scope_filters(self, resource_type: str, decision: Decision | None) -> Any:
        """Scope filters as groups of criteria (None: unfiltered). An alternative that cannot
        be applied to this type matches nothing: dropping it would widen the grant."""
        if decision is None or decision.filters is None:
            return None
        spec = registry()[resource_type]
        groups = []
        for alternative in decision.filters:
            if any(name in RESULT_PARAMS for name, _ in alternative):
                continue
            try:
                groups.append(self.parser.parse(spec, alternative, strict=True).criteria)
            except BadRequest:
                continue
        return tuple(groups)

    def _fetch(
        self, resource_type: str, ids: Sequence[str], decision: Decision
    ) -> list[tuple[str, Mapping[str, Any]]]:
        """Records behind FHIR ids, narrowed to the decision (patients and scope filters), with
        those of its ``instances`` (ids the decision lets be read patient by patient)."""
        if decision.ids is not None:
            ids = [i for i in ids if i in decision.ids]
        found = self._fetch_narrowed(resource_type, ids, decision)
        # instances are read by id alone: under scope filters they are left out (never wider)
        for patient, allowed in decision.instances if decision.filters is None else ():
            seen = {rid for rid in ids if rid in allowed}
            parsed = [p for p in (parse_id(resource_type, i) for i in seen) if p is not None]
            if parsed:
                found += self.connector.read_many(resource_type, parsed, frozenset({patient}))
        return found

    def _fetch_narrowed(
        self, resource_type: str, ids: Sequence[str], decision: Decision
    ) -> list[tuple[str, Mapping[str, Any]]]:
        parsed = [p for p in (parse_id(resource_type, i) for i in ids) if p is not None]
        if not parsed:
            return []
        if decision.filters is None:
            return self.connector.read_many(resource_type, parsed, decision.patients)
        spec = registry()[resource_type]
        by_id = Criterion(spec.params["_id"], None, tuple(TokenValue(None, i) for i in ids))
        query = SearchQuery(
            resource_type,
            (by_id,),
            ("_id", False),
            len(parsed),
            None,
            scope_filters=self._scope_filters(resource_type, decision),
        )
        hits = self.connector.search(
            query, decision.patients, after=None, before=None, limit=len(parsed)
        )
        return [(hit.kind, hit.record) for hit in hits]

    def _read_one(
        self, grant: Grant, resource_type: str, fhir_id: str
    ) -> tuple[str, Mapping[str, Any]]:
        decision = self._decide(grant, resource_type, "read")
        with self._his():
            found = self._fetch(resource_type, [fhir_id], decision)
        if not found:
            audit.record(grant, "read", resource_type, outcome="not-found", ids=[fhir_id[:64]])
            raise NotFound(f"{resource_type}/{fhir_id[:64]} is not known")
        return found[0]

    def read(self, grant: Grant, resource_type: str, fhir_id: str) -> dict[str, Any]:
        """http://hl7.org/fhir/R4/http.html#read; another patient's resource is 'not found'."""
        self.spec(resource_type)
        kind, record = self._read_one(grant, resource_type, fhir_id)
        try:
            resource = self._map(resource_type, kind, record)
            if resource_type in self.enrichers:
                self.enrichers[resource_type]([(record, resource)])
        except InvalidRecord as exc:
            _report(exc)
            raise Unprocessable(
                f"The hospital record behind {resource_type}/{fhir_id} is malformed "
                f"({', '.join(exc.problems)}); it has been reported"
            ) from None
        audit.record(
            grant,
            "read",
            resource_type,
            outcome="allowed",
            ids=[fhir_id],
            patients=audit.patients_of([resource]),
        )
        return resource

    # --- search -------------------------------------------------------------------------------

    def search(
        self, grant: Grant, resource_type: str, pairs: Iterable[tuple[str, str]], *, strict: bool
    ) -> dict[str, Any]:
        """http://hl7.org/fhir/R4/search.html, keyset-paged, returning a searchset Bundle."""
        return self._search(grant, resource_type, pairs, strict=strict)

    def compartment_search(
        self,
        grant: Grant,
        patient_id: str,
        resource_type: str,
        pairs: Iterable[tuple[str, str]],
        *,
        strict: bool,
    ) -> dict[str, Any]:
        """``Patient/[id]/[type]?...`` (search.html#compartments): the search of ``[type]``
        narrowed to the patient by the compartment definition's parameter, and by the grant like
        any search: a patient the grant does not cover yields an empty Bundle, as searching
        ``[type]?patient=[id]`` would. ``Patient/[id]/*`` searches every type of the
        compartment (``search_system``)."""
        if resource_type == "*":
            return self.search_system(grant, pairs, strict=strict, patient_id=patient_id)
        self.spec(resource_type)  # 404 for a type this server does not serve
        if resource_type not in PATIENT_COMPARTMENT:
            raise BadRequest(f"{resource_type} is not in the Patient compartment")
        member = compartment_criterion(resource_type, (patient_id,))
        return self._search(
            grant, resource_type, pairs, strict=strict, compartment=(patient_id, member)
        )

    def _search(
        self,
        grant: Grant,
        resource_type: str,
        pairs: Iterable[tuple[str, str]],
        *,
        strict: bool,
        compartment: tuple[str, Criterion] | None = None,
    ) -> dict[str, Any]:
        spec = self.spec(resource_type)
        if not spec.searchable:
            raise MethodNotAllowed(f"{resource_type} cannot be searched")
        decision = self._decide(grant, resource_type, "search")
        patients = decision.patients
        query = self.parser.parse(spec, pairs, strict=strict)
        query = replace(query, scope_filters=self._scope_filters(resource_type, decision))
        url = f"{self.base_url}/{resource_type}"
        scope = _scope(query, grant)
        if compartment is not None:
            patient_id, member = compartment
            query = replace(query, criteria=(member, *query.criteria))
            url = f"{self.base_url}/Patient/{patient_id}/{resource_type}"
            scope = f"Patient/{patient_id}|{scope}"
        total = None
        with self._his():
            # search.html#count: _count=0 asks for the count alone, as _summary=count does
            if query.total or query.summary == "count" or query.count == 0:
                total = self.connector.count(query, patients)
            if query.summary == "count" or query.count == 0:
                audit.record(grant, "search", resource_type, outcome="allowed", count=total or 0)
                return self._bundle(query, [], total, {}, grant, url)
            cursor = self.cursors.decode(query.cursor, scope) if query.cursor else None
            hits, links = self._page(query, patients, cursor, scope)
            entries = self._entries(resource_type, hits)
            entries += self._includes(grant, query, entries)
        audit.record(
            grant,
            "search",
            resource_type,
            outcome="allowed",
            ids=[e.resource["id"] for e in entries if e.mode == "match"],
            patients=audit.patients_of(e.resource for e in entries if e.mode != "outcome"),
        )
        return self._bundle(query, entries, total, links, grant, url)

    def search_system(
        self,
        grant: Grant,
        pairs: Iterable[tuple[str, str]],
        *,
        strict: bool,
        patient_id: str | None = None,
    ) -> dict[str, Any]:
        """``GET [base]?_type=A,B&...`` (http.html#search): one searchset over the listed types,
        with the parameters common to them (``SYSTEM_PARAMS``; ``patient`` when every listed
        type is in the Patient compartment). Each type is decided by the access policy on its
        own: types the grant does not cover are left out with a warning, and when it covers
        none the answer is 403. Matches come type after type, in the order listed, each by id;
        the next link carries the type and position reached.

        ``patient_id``: ``Patient/[id]/*`` (search.html#compartments), the types of the
        Patient compartment (or those of ``_type``) within that patient's compartment."""
        pairs = list(pairs)
        listed = [v for k, v in pairs if k == "_type"]
        if patient_id is not None and not listed:
            listed = [",".join(PATIENT_COMPARTMENT)]
        types = _system_types(listed)
        patients: list[tuple[str, ...]] = [(patient_id,)] if patient_id is not None else []
        url = self.base_url if patient_id is None else f"{self.base_url}/Patient/{patient_id}/*"
        kept: list[tuple[str, str]] = []
        used: list[tuple[str, str]] = []
        ignored: list[str] = []
        for name, value in pairs:
            code = name.partition(":")[0]
            if name == "_type":
                used.append((name, value))
            elif name == "patient":
                patients.append(_patient_ids(value, self.base_url))
                used.append((name, value))
            elif code in SYSTEM_PARAMS:
                kept.append((name, value))
            elif name in RESULT_PARAMS or code == "_has" or "." in name or _standard(types, code):
                raise UnknownParameter(
                    f"'{name[:40]}' is not supported on a search of several types: they share "
                    f"only {', '.join(sorted({*SYSTEM_PARAMS, 'patient'} - {'_cursor'}))}"
                )
            elif strict:
                raise UnknownParameter(f"Unknown or unsupported search parameter '{name[:40]}'")
            else:
                ignored.append(name)
        if patients:
            outside = [t for t in types if t not in COMPARTMENT_PARAM]
            if outside:
                raise BadRequest(f"patient: {', '.join(outside)} not in the Patient compartment")
        queries: list[tuple[SearchQuery, Decision]] = []
        warnings: list[Entry] = []
        refusal: Forbidden | None = None
        for rtype in types:
            try:
                decision = self._decide(grant, rtype, "search")
            except Forbidden as exc:
                refusal = exc
                warnings.append(
                    Entry(_warning(f"{rtype} is left out: {exc.diagnostics}"), "outcome")
                )
                continue
            query = self.parser.parse(registry()[rtype], kept, strict=True)
            members = tuple(compartment_criterion(rtype, ids) for ids in patients)
            query = replace(
                query,
                criteria=(*members, *query.criteria),
                scope_filters=self._scope_filters(rtype, decision),
            )
            queries.append((query, decision))
        if not queries:
            assert refusal is not None
            raise refusal
        first = queries[0][0]
        used += list(first.used)
        scope = f"{url}|{urlencode(used)}|{grant.fingerprint}"
        total = None
        entries: list[Entry] = []
        next_cursor = None
        with self._his():
            if first.total or first.summary == "count" or first.count == 0:
                total = sum(self.connector.count(q, d.patients) for q, d in queries)
            if first.summary != "count" and first.count > 0:
                cursor = self.cursors.decode(first.cursor, scope) if first.cursor else None
                entries, next_cursor = self._walk_types(queries, cursor, first.count)
        for query, _decision in queries:
            found = [
                e.resource for e in entries if e.resource.get("resourceType") == query.resource_type
            ]
            audit.record(
                grant,
                "search",
                query.resource_type,
                outcome="allowed",
                ids=[r["id"] for r in found],
                patients=audit.patients_of(found),
            )
        links = {"next": self.cursors.encode(next_cursor, scope)} if next_cursor else {}
        if ignored:
            text = f"Parameters ignored: {', '.join(sorted(set(ignored)))[:200]}"
            warnings.append(Entry(_warning(text), "outcome"))
        return _bundle_dict(url, used, entries + warnings, total, links, self.base_url)

    def _walk_types(
        self, queries: Sequence[tuple[SearchQuery, Decision]], cursor: Cursor | None, count: int
    ) -> tuple[list[Entry], Cursor | None]:
        """Up to ``count`` matches from the types in turn, starting at ``cursor``."""
        entries: list[Entry] = []
        part = cursor.part if cursor else 0
        key = cursor.key if cursor else None
        while part < len(queries) and len(entries) < count:
            query, decision = queries[part]
            room = count - len(entries)
            hits = self.connector.search(
                query, decision.patients, after=key, before=None, limit=room + 1
            )
            more = len(hits) > room
            hits = hits[:room]
            entries += self._entries(query.resource_type, hits)
            if more:
                return entries, Cursor(hits[-1].key, True, part)
            part, key = part + 1, None
        if part < len(queries):
            return entries, Cursor((0, -1, 0), True, part)
        return entries, None

    def _page(
        self, query: SearchQuery, patients: Any, cursor: Cursor | None, scope: str
    ) -> tuple[list[Hit], dict[str, str]]:
        n = query.count
        forward = cursor is None or cursor.forward
        key = cursor.key if cursor else None
        hits = self.connector.search(
            query,
            patients,
            after=key if forward else None,
            before=None if forward else key,
            limit=n + 1,
        )
        more = len(hits) > n
        if more:
            hits = hits[:n] if forward else hits[1:]
        links: dict[str, str] = {}
        has_next = more if forward else True
        has_prev = (cursor is not None) if forward else more
        if hits and has_next:
            links["next"] = self.cursors.encode(Cursor(hits[-1].key, True), scope)
        if hits and has_prev:
            links["previous"] = self.cursors.encode(Cursor(hits[0].key, False), scope)
        return hits, links

    def _entries(self, resource_type: str, hits: Sequence[Hit], mode: str = "match") -> list[Entry]:
        entries = []
        mapped: list[tuple[Mapping[str, Any], dict[str, Any]]] = []
        for hit in hits:
            try:
                resource = self._map(resource_type, hit.kind, hit.record)
                entries.append(Entry(resource, mode))
                mapped.append((hit.record, resource))
            except InvalidRecord as exc:
                _report(exc)
                entries.append(Entry(_left_out(resource_type, exc), "outcome"))
        enrich = self.enrichers.get(resource_type)
        if enrich is not None and mapped:
            enrich(mapped)
        return entries

    # --- _include / _revinclude ----------------------------------------------------------------

    def _includes(self, grant: Grant, query: SearchQuery, entries: list[Entry]) -> list[Entry]:
        if not (query.includes or query.revincludes):
            return []
        matches = [e.resource for e in entries if e.mode == "match"]
        seen = {(r["resourceType"], r["id"]) for r in matches}
        wanted: dict[str, list[str]] = {}
        for inc in query.includes:
            targets = (inc.target_type,) if inc.target_type else inc.param.targets
            for ref in _references(matches, inc.param.path):
                rtype, _, rid = ref.partition("/")
                if rtype in targets and (rtype, rid) not in seen:
                    seen.add((rtype, rid))
                    wanted.setdefault(rtype, []).append(rid)
        out = self._read_included(grant, wanted)
        for inc in query.revincludes:
            out += self._revinclude(grant, inc, matches, seen)
        if len(out) > self.max_included:
            out = out[: self.max_included]
            out.append(
                Entry(
                    _warning(f"Only the first {self.max_included} included resources are returned"),
                    "outcome",
                )
            )
        return out

    def _read_included(self, grant: Grant, wanted: Mapping[str, list[str]]) -> list[Entry]:
        out: list[Entry] = []
        for rtype, ids in wanted.items():
            decision = self._may(grant, rtype, "read")
            if decision is None:
                continue
            for kind, record in self._fetch(rtype, ids, decision):
                out += self._entries(rtype, [Hit(kind, record, (0, 0, 0))], "include")
        return out

    def _revinclude(
        self, grant: Grant, inc: Include, matches: list[dict[str, Any]], seen: set[tuple[str, str]]
    ) -> list[Entry]:
        decision = self._may(grant, inc.source_type, "search")
        if decision is None or not matches:
            return []
        target = inc.target_type
        values = tuple(
            ReferenceValue(r["resourceType"], r["id"])
            for r in matches
            if r["resourceType"] == target
        )
        query = SearchQuery(
            resource_type=inc.source_type,
            criteria=(Criterion(inc.param, None, values),),
            sort=("_id", False),
            count=self.max_included,
            cursor=None,
            scope_filters=self._scope_filters(inc.source_type, decision),
        )
        hits = self.connector.search(
            query, decision.patients, after=None, before=None, limit=self.max_included + 1
        )
        out = []
        for entry in self._entries(inc.source_type, hits, "include"):
            key = (entry.resource["resourceType"], entry.resource.get("id", ""))
            if key not in seen:
                seen.add(key)
                out.append(entry)
        return out

    # --- Patient/$everything -------------------------------------------------------------------

    def everything(
        self, grant: Grant, patient_id: str, pairs: Iterable[tuple[str, str]]
    ) -> dict[str, Any]:
        """http://hl7.org/fhir/R4/patient-operation-everything.html with _since, _type, _count."""
        self.read(grant, "Patient", patient_id)  # 404 unless the patient is visible
        pairs = list(pairs)
        for name, _value in pairs:
            if name in EVERYTHING_REFUSED or name.partition(":")[0] in EVERYTHING_REFUSED:
                raise UnknownParameter(
                    f"$everything does not support '{name[:40]}'; it is refused rather than "
                    "ignored, since ignoring it would return more than was asked for"
                )
        params = dict(pairs)
        types = _requested_types(params.get("_type"))
        since = parse_date(params["_since"]) if params.get("_since") else None
        count = self.parser.page_size(params.get("_count"))
        used = tuple((k, v) for k, v in params.items() if k in ("_type", "_since", "_count"))
        scope = f"$everything|{patient_id}|{urlencode(used)}|{grant.fingerprint}"
        cursor = self.cursors.decode(params["_cursor"], scope) if params.get("_cursor") else None
        entries: list[Entry] = []
        next_cursor = None
        part = cursor.part if cursor else 0
        key = cursor.key if cursor else None
        with self._his():
            while part < len(types) and len(entries) < count:
                rtype = types[part]
                decision = self._may(grant, rtype, "search")
                if decision is None:  # a type the grant does not cover is left out
                    part, key = part + 1, None
                    continue
                query = self._compartment_query(rtype, patient_id, since, count - len(entries))
                query = replace(query, scope_filters=self._scope_filters(rtype, decision))
                hits = self.connector.search(
                    query, decision.patients, after=key, before=None, limit=query.count + 1
                )
                more = len(hits) > query.count
                hits = hits[: query.count]
                entries += self._entries(rtype, hits)
                if more:
                    next_cursor = Cursor(hits[-1].key, True, part)
                    break
                part, key = part + 1, None
            if next_cursor is None and part < len(types) and len(entries) >= count:
                next_cursor = Cursor((0, -1, 0), True, part)
            entries += self._referenced(grant, entries)
        audit.record(
            grant,
            "$everything",
            "Patient",
            outcome="allowed",
            ids=[patient_id],
            patients=[int(patient_id)],
        )
        links = {"next": self.cursors.encode(next_cursor, scope)} if next_cursor else {}
        url = f"{self.base_url}/Patient/{patient_id}/$everything"
        return _bundle_dict(url, used, entries, None, links, self.base_url)

    def _compartment_query(
        self, rtype: str, patient_id: str, since: Any, count: int
    ) -> SearchQuery:
        spec = registry()[rtype]
        criteria = [compartment_criterion(rtype, (patient_id,))]
        if since is not None:
            criteria.append(
                Criterion(spec.params["_lastUpdated"], None, (replace(since, prefix="ge"),))
            )
        return SearchQuery(rtype, tuple(criteria), ("_id", False), count, None)

    def _referenced(self, grant: Grant, entries: list[Entry]) -> list[Entry]:
        """Practitioners, organisations, locations ... the page's resources point at."""
        present = {(e.resource["resourceType"], e.resource.get("id")) for e in entries}
        wanted: dict[str, list[str]] = {}
        for ref in _all_references(e.resource for e in entries if e.mode == "match"):
            rtype, _, rid = ref.partition("/")
            if (
                rtype in registry()
                and rtype not in PATIENT_COMPARTMENT
                and (rtype, rid) not in present
            ):
                present.add((rtype, rid))
                wanted.setdefault(rtype, []).append(rid)
        wanted.pop("Binary", None)
        return self._read_included(grant, wanted)

    # --- Binary -------------------------------------------------------------------------------

    def binary(self, grant: Grant, fhir_id: str) -> tuple[dict[str, Any], Mapping[str, Any]]:
        """The Binary resource and its HIS record (the HTTP layer may send ``content`` raw)."""
        kind, record = self._read_one(grant, "Binary", fhir_id)
        try:
            resource = self._map("Binary", kind, record)
        except InvalidRecord as exc:
            _report(exc)
            raise Unprocessable(f"The hospital file behind Binary/{fhir_id} is malformed") from None
        audit.record(grant, "read", "Binary", outcome="allowed", ids=[fhir_id])
        return resource, record

    # --- bundles ------------------------------------------------------------------------------

    def _bundle(
        self,
        query: SearchQuery,
        entries: list[Entry],
        total: int | None,
        cursors: Mapping[str, str],
        grant: Grant,
        url: str | None = None,
    ) -> dict[str, Any]:
        if query.elements:
            entries = [_subset(e, query.elements) if e.mode == "match" else e for e in entries]
        url = url or f"{self.base_url}/{query.resource_type}"
        bundle = _bundle_dict(url, query.used, entries, total, cursors, self.base_url)
        if query.ignored:
            ignored = ", ".join(sorted(set(query.ignored)))[:200]
            outcome = _entry(_warning(f"Parameters ignored: {ignored}"), "outcome", self.base_url)
            bundle["entry"] = [*bundle.get("entry", []), outcome]
        return bundle


class _HisGuard:
    """Turns an unreachable HIS into 503 with Retry-After."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None and issubclass(exc_type, HisUnreachable):
            raise HisUnavailable(
                "The hospital system is not answering; try again shortly"
            ) from None


#: The parameter of each served type that puts it in a patient's compartment, from
#: http://hl7.org/fhir/R4/compartmentdefinition-patient.html; the definition's other parameters
#: (Observation.performer, DocumentReference.author, QuestionnaireResponse.author) never name a
#: patient in the HIS, and the Patient itself is its own compartment's member (by ``_id``).
COMPARTMENT_PARAM = {
    "Patient": "_id",
    "RelatedPerson": "patient",
    "Encounter": "subject",
    "Observation": "subject",
    "DiagnosticReport": "subject",
    "DocumentReference": "subject",
    "ImagingStudy": "patient",
    "Appointment": "actor",
    "QuestionnaireResponse": "subject",
}


def compartment_criterion(resource_type: str, patient_ids: Sequence[str]) -> Criterion:
    """The criterion matching ``resource_type``'s resources in any of these patients'
    compartments."""
    param = registry()[resource_type].params[COMPARTMENT_PARAM[resource_type]]
    if param.code == "_id":
        return Criterion(param, None, tuple(TokenValue(None, p) for p in patient_ids))
    return Criterion(param, None, tuple(ReferenceValue("Patient", p) for p in patient_ids))


#: Parameters of Patient/$everything (patient-operation-everything.html: ``start``, ``end``) and
#: standard search parameters it does not implement; it takes ``_type``, ``_since``, ``_count``.
EVERYTHING_REFUSED = (STANDARD_COMMON | STANDARD_RESULT | {"start", "end"}) - {
    "_type",
    "_count",
    "_format",
    "_pretty",
}

#: Parameters a search of several types takes besides ``_type`` and ``patient``: those common
#: to every type (search.html#all) and the result parameters that need no type.
SYSTEM_PARAMS = frozenset({"_id", "_lastUpdated", "_count", "_cursor", "_summary", "_total"})


def _system_types(raw: Sequence[str]) -> tuple[str, ...]:
    if not raw:
        raise BadRequest(
            "A search of the whole server needs _type listing the resource types to search "
            "(e.g. _type=Observation,DiagnosticReport); each is then searched as far as the "
            "access granted covers it"
        )
    asked: list[str] = []
    for value in raw:
        for rtype in (t.strip() for t in value.split(",")):
            if rtype and rtype not in asked:
                asked.append(rtype)
    for rtype in asked:
        spec = registry().get(rtype)
        if spec is None or not spec.searchable:
            raise BadRequest(f"_type: '{rtype[:40]}' cannot be searched here")
    if not asked:
        raise BadRequest("_type lists no resource type")
    return tuple(asked)


def _patient_ids(raw: str, base_url: str) -> tuple[str, ...]:
    ids = []
    for part in split_or(raw):
        ref = parse_reference(part, base_url, "Patient")
        if ref.type not in (None, "Patient"):
            raise BadRequest("patient takes Patient references")
        ids.append(ref.id)
    return tuple(ids)


def _standard(types: Iterable[str], code: str) -> bool:
    return any(is_standard(t, code) for t in types)


def _scope(query: SearchQuery, grant: Grant) -> str:
    return f"{query.resource_type}|{urlencode(query.used)}|{grant.fingerprint}"


def _requested_types(raw: str | None) -> tuple[str, ...]:
    if not raw:
        return PATIENT_COMPARTMENT
    asked = {t.strip() for t in raw.split(",") if t.strip()}
    return tuple(t for t in PATIENT_COMPARTMENT if t in asked)


def _report(exc: InvalidRecord) -> None:
    log.warning(
        "malformed HIS record left out",
        extra={
            "record_kind": exc.record_kind,
            "record_id": exc.record_id,
            "problems": exc.problems,
        },
    )


def _left_out(resource_type: str, exc: InvalidRecord) -> dict[str, Any]:
    return _warning(
        f"A {resource_type} could not be produced from hospital record {exc.record_kind} "
        f"{exc.record_id} ({', '.join(exc.problems)}) and was left out; it has been reported"
    )


def _warning(text: str) -> dict[str, Any]:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "warning", "code": "processing", "diagnostics": text}],
    }


def _subset(entry: Entry, elements: Sequence[str]) -> Entry:
    """search.html#elements: keep the asked-for elements plus id and meta, tagged SUBSETTED."""
    r = entry.resource
    keep = {k: r[k] for k in ("resourceType", "id", *elements) if k in r}
    meta = dict(r.get("meta", {}))
    meta["tag"] = [*meta.get("tag", []), SUBSETTED]
    keep["meta"] = meta
    return Entry(keep, entry.mode)


def _references(resources: Iterable[Mapping[str, Any]], path: Sequence[str]) -> Iterator[str]:
    for r in resources:
        yield from _walk(r, path)


def _walk(node: Any, path: Sequence[str]) -> Iterator[str]:
    if isinstance(node, list):
        for item in node:
            yield from _walk(item, path)
    elif isinstance(node, dict):
        if not path:
            ref = node.get("reference")
            if isinstance(ref, str):
                yield ref
        else:
            yield from _walk(node.get(path[0]), path[1:])


def _all_references(resources: Iterable[Any]) -> Iterator[str]:
    stack = list(resources)
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            ref = node.get("reference")
            if isinstance(ref, str):
                yield ref
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def _entry(resource: dict[str, Any], mode: str, base: str) -> dict[str, Any]:
    entry: dict[str, Any] = {}
    if mode != "outcome":
        entry["fullUrl"] = f"{base}/{resource['resourceType']}/{resource['id']}"
    entry["resource"] = resource
    entry["search"] = {"mode": mode}
    return entry


def _bundle_dict(
    url: str,
    used: Sequence[tuple[str, str]],
    entries: Sequence[Entry],
    total: int | None,
    cursors: Mapping[str, str],
    base: str,
) -> dict[str, Any]:
    query = urlencode(used)
    links = [{"relation": "self", "url": f"{url}?{query}" if query else url}]
    for relation in ("next", "previous"):
        if relation in cursors:
            params = urlencode([*used, ("_cursor", cursors[relation])])
            links.append({"relation": relation, "url": f"{url}?{params}"})
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset"}
    if total is not None:
        bundle["total"] = total
    bundle["link"] = links
    if entries:
        bundle["entry"] = [_entry(e.resource, e.mode, base) for e in entries]
    return bundle
