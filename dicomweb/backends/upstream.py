"""A PACS backend over an upstream DICOMweb server (PS3.18), with requests.

* search: QIDO-RS (PS3.18 §10.6) at ``/studies``, ``/studies/{s}/series``, ``.../instances``;
  results converted from the DICOM JSON model (PS3.18 Annex F), matched again, sorted and sliced
  exactly as the DIMSE backend does (:mod:`dicomweb.backends.query`, ``matching``).
* retrieve: WADO-RS (PS3.18 §10.4) ``multipart/related; type="application/dicom"`` with
  ``transfer-syntax=*`` (the stored syntax), streamed part by part: each part is one Part-10
  instance, passed on without being decoded; memory holds one instance.
* store: STOW-RS (PS3.18 §10.5); the Store Instances Response becomes a :class:`StoreResult`.

Query values are sent as the characters DICOM uses (``*``, ``,``, ``-``) without
percent-encoding them: Orthanc's DICOMweb plugin 1.7 does not URL-decode QIDO values
(``PatientName=DOE%5EJOHN`` matches nothing); ``^``, which requests and urllib3 always encode,
is sent as the wildcard ``*`` and the results matched again exactly. Every request has a
connect and read timeout; a refused connection raises :class:`PacsUnavailable`, a timeout
:class:`PacsTimeout`; every request opens or reuses a pooled connection, so the backend
recovers once the server is back.
"""

from __future__ import annotations

import io
import re
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from urllib.parse import quote

import requests
from pydicom import dcmwrite
from pydicom.dataset import Dataset

from dicomweb import stow  # the multipart reader; used at call time (stow imports base)
from dicomweb.backends.base import InstanceStatus, Query, RetrieveOutcome, StoreResult
from dicomweb.backends.matching import filter_matches, tag_of, values_of
from dicomweb.backends.query import LEVEL_KEYS, page, sort_results
from dicomweb.errors import PacsError, PacsTimeout, PacsUnavailable

ACCEPT_PART10 = 'multipart/related; type="application/dicom"; transfer-syntax=*'
MAX_STREAM = 1 << 62
SAFE = "^*,.-_?:\\"


def _call(send: Callable[[], requests.Response]) -> requests.Response:
    try:
        resp = send()
    except requests.Timeout:
        raise PacsTimeout("the upstream DICOMweb server did not answer in time") from None
    except requests.RequestException:
        raise PacsUnavailable("the upstream DICOMweb server cannot be reached") from None
    if resp.status_code in (502, 503, 504):
        resp.close()
        raise PacsUnavailable(f"the upstream DICOMweb server answered {resp.status_code}")
    return resp


class PartRetrieval:
    """A :class:`~dicomweb.backends.base.Retrieval` over a streamed multipart WADO-RS answer."""

    def __init__(self, resp: requests.Response | None) -> None:
        self._resp = resp
        self._parts = self._iter() if resp is not None else iter(())
        self.received = 0
        self._outcome: RetrieveOutcome | None = None if resp is not None else RetrieveOutcome(0)

    def _iter(self) -> Iterator[bytes]:
        assert self._resp is not None
        try:
            boundary = stow.boundary_of(self._resp.headers.get("Content-Type"))
            for _, body in stow.iter_parts(self._resp.raw, boundary, MAX_STREAM):
                yield body
        except stow.StowError:
            raise PacsError("the upstream DICOMweb server sent a malformed multipart") from None
        except requests.RequestException:
            raise PacsUnavailable("the upstream DICOMweb server broke off") from None

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        try:
            part = next(self._parts)
        except StopIteration:
            self._finish(0x0000)
            raise
        except PacsError:
            self._finish(0xC000)
            raise
        self.received += 1
        return part

    def _finish(self, status: int | None) -> None:
        if self._outcome is None:
            n = self.received
            self._outcome = RetrieveOutcome(status, completed=n, received=n)
        if self._resp is not None:
            self._resp.close()

    @property
    def outcome(self) -> RetrieveOutcome | None:
        return self._outcome

    def close(self) -> None:
        self._finish(None)


class UpstreamDicomwebBackend:
    """A :class:`~dicomweb.backends.base.PacsBackend` in front of a DICOMweb server."""

    def __init__(
        self, base_url: str, *, user: str = "", password: str = "", timeout_s: float = 30.0
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = (min(timeout_s, 10.0), timeout_s)
        self.session = requests.Session()
        if user:
            self.session.auth = (user, password)

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> UpstreamDicomwebBackend:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def echo(self) -> int:
        """Any answer to a one-study QIDO means the server is alive (PS3.18 §10.6)."""
        resp = _call(
            lambda: self.session.get(self.base_url + "/studies?limit=1", timeout=self.timeout)
        )
        resp.close()
        return 0x0000 if resp.ok else 0xC000

    # -- QIDO-RS ---------------------------------------------------------------------------

    def _search(self, path: str, level: str, query: Query) -> list[Dataset]:
        params = [f"includefield={k}" for k in LEVEL_KEYS[level]]
        for key, value in query.items():
            values = [v for v in values_of(value) if v != ""]
            if not values:
                params.append(f"includefield={quote(key, safe=SAFE)}")
                continue
            tag_of(key)  # unknown keys are the caller's ValueError
            sent = ",".join(_widened(v) for v in values)
            params.append(f"{quote(key, safe=SAFE)}={quote(sent, safe=SAFE)}")
        url = f"{self.base_url}{path}?{'&'.join(params)}"
        resp = _call(
            lambda: self.session.get(
                url, headers={"Accept": "application/dicom+json"}, timeout=self.timeout
            )
        )
        with resp:
            if resp.status_code in (204, 404):
                return []
            if not resp.ok:
                raise PacsError(f"the upstream QIDO-RS answered {resp.status_code}")
            items: list[dict[str, Any]] = resp.json() or []
        return filter_matches((Dataset.from_json(i) for i in items), query)

    def find_studies(
        self, query: Query, *, limit: int | None = None, offset: int = 0
    ) -> list[Dataset]:
        found = self._search("/studies", "STUDY", query)
        return page(sort_results("STUDY", found), limit, offset)

    def find_series(
        self, study_uid: str, query: Query, *, limit: int | None = None, offset: int = 0
    ) -> list[Dataset]:
        found = self._search(f"/studies/{quote(study_uid)}/series", "SERIES", query)
        return page(sort_results("SERIES", found), limit, offset)

    def find_instances(
        self,
        study_uid: str,
        series_uid: str | None,
        query: Query,
        *,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[Dataset]:
        path = f"/studies/{quote(study_uid)}"
        if series_uid is not None:
            path += f"/series/{quote(series_uid)}"
        found = sort_results("IMAGE", self._search(path + "/instances", "IMAGE", query))
        if series_uid is None:
            # a study's instances series by series, as the DIMSE backend reads them
            series = self._search(path + "/series", "SERIES", {})
            order = {
                str(se.get("SeriesInstanceUID", "")): n
                for n, se in enumerate(sort_results("SERIES", series))
            }
            unknown = len(order)
            found.sort(key=lambda ds: order.get(str(ds.get("SeriesInstanceUID", "")), unknown))
        return page(found, limit, offset)

    # -- WADO-RS ---------------------------------------------------------------------------

    def _retrieve(self, path: str) -> PartRetrieval:
        url = self.base_url + path
        resp = _call(
            lambda: self.session.get(
                url, headers={"Accept": ACCEPT_PART10}, stream=True, timeout=self.timeout
            )
        )
        if resp.status_code in (204, 404):
            resp.close()
            return PartRetrieval(None)
        if not resp.ok:
            resp.close()
            raise PacsError(f"the upstream WADO-RS answered {resp.status_code}")
        return PartRetrieval(resp)

    def retrieve_study(self, study_uid: str) -> PartRetrieval:
        return self._retrieve(f"/studies/{quote(study_uid)}")

    def retrieve_series(self, study_uid: str, series_uid: str) -> PartRetrieval:
        return self._retrieve(f"/studies/{quote(study_uid)}/series/{quote(series_uid)}")

    def retrieve_instance(
        self, study_uid: str, series_uid: str, sop_instance_uid: str
    ) -> PartRetrieval:
        return self._retrieve(
            f"/studies/{quote(study_uid)}/series/{quote(series_uid)}"
            f"/instances/{quote(sop_instance_uid)}"
        )

    # -- STOW-RS ---------------------------------------------------------------------------

    def store(self, datasets: Iterable[Dataset]) -> StoreResult:
        """STOW-RS of the batch in one request, the body streamed instance by instance."""
        boundary = uuid.uuid4().hex
        sent: list[Dataset] = []

        def body() -> Iterator[bytes]:
            for ds in datasets:
                out = io.BytesIO()
                dcmwrite(out, ds, enforce_file_format=True)
                sent.append(ds)
                yield f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode()
                yield out.getvalue() + b"\r\n"
            yield f"--{boundary}--\r\n".encode()

        content_type = f'multipart/related; type="application/dicom"; boundary={boundary}'
        resp = _call(
            lambda: self.session.post(
                self.base_url + "/studies",
                data=body(),
                headers={"Content-Type": content_type, "Accept": "application/dicom+json"},
                timeout=self.timeout,
            )
        )
        with resp:
            answer = Dataset.from_json(resp.json()) if resp.content else Dataset()
        return StoreResult(_statuses(answer, sent, resp.status_code))


def _widened(value: str) -> str:
    """A matching value as the upstream can match it: ``^`` (the PN component separator)
    becomes the wildcard ``*``. requests and urllib3 percent-encode ``^`` whatever the caller
    does (RFC 3986 does not allow it in a query), and Orthanc's QIDO does not decode it, so
    ``PatientName=Test^*`` matched nothing; ``Test*`` matches at least the same names, and
    every result is matched again against the exact query (``filter_matches``)."""
    if "^" not in value:
        return value
    return re.sub(r"\*+", "*", value.replace("^", "*"))


def _statuses(answer: Dataset, sent: list[Dataset], http: int) -> tuple[InstanceStatus, ...]:
    out: dict[str, InstanceStatus] = {}
    for item in answer.get("ReferencedSOPSequence", []):
        uid = str(item.ReferencedSOPInstanceUID)
        status = int(item.get("WarningReason", 0))
        out[uid] = InstanceStatus(str(item.ReferencedSOPClassUID), uid, status)
    for item in answer.get("FailedSOPSequence", []):
        uid = str(item.ReferencedSOPInstanceUID)
        status = int(item.get("FailureReason", 0xC000))
        out[uid] = InstanceStatus(str(item.ReferencedSOPClassUID), uid, status, "upstream")
    for ds in sent:  # anything the answer does not mention did not reach the PACS
        uid = str(ds.get("SOPInstanceUID", ""))
        if uid not in out:
            reason = f"not in the upstream STOW-RS answer (HTTP {http})"
            out[uid] = InstanceStatus(str(ds.get("SOPClassUID", "")), uid, 0x0110, reason)
    return tuple(out.values())
