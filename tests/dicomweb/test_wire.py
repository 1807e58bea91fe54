"""C-FIND requests written by hand (dicomweb.backends.wire): byte for byte what pydicom and
pynetdicom write, used on the gateway's pooled associations, and left to pynetdicom where it
cannot write the request exactly."""

from __future__ import annotations

import time
from io import BytesIO

import pytest
from pynetdicom.dimse_messages import C_FIND_RQ
from pynetdicom.dimse_primitives import C_FIND
from pynetdicom.dsutils import encode

from dicomweb.backends import exchanges as ex
from dicomweb.backends import wire
from dicomweb.backends.contexts import FIND_MODEL, query_contexts
from dicomweb.backends.dimse import DimseBackend
from dicomweb.backends.query import identifier_dataset, identifier_elements
from tests.dicomweb.conftest import StoredStudy

QUERIES = [
    ("STUDY", {}, {}),
    ("STUDY", {"PatientID": "P1", "StudyDate": "20240101-20240131"}, {}),
    ("STUDY", {"PatientName": "Wąs*^Ștefan", "ModalitiesInStudy": ["CT", "MR"]}, {}),
    ("STUDY", {"AccessionNumber": "A1", "StudyInstanceUID": "2.25.1\\2.25.22"}, {}),
    ("STUDY", {"00100030": "19800101", "StudyTime": "0800-", "ReferringPhysicianName": "Do*"}, {}),
    ("SERIES", {"Modality": "CT", "SeriesNumber": "7"}, {"StudyInstanceUID": "2.25.12345"}),
    ("SERIES", {"BodyPartExamined": "CHEST"}, {"StudyInstanceUID": "2.25.123456"}),
    ("IMAGE", {"Rows": "512"}, {"StudyInstanceUID": "2.25.1", "SeriesInstanceUID": "2.25.2"}),
    ("IMAGE", {"InstanceNumber": "12"}, {"StudyInstanceUID": "2.25.1", "SeriesInstanceUID": "2.3"}),
]


@pytest.mark.parametrize("implicit_vr", [True, False], ids=["implicit", "explicit"])
@pytest.mark.parametrize(("level", "query", "uids"), QUERIES)
def test_identifier_bytes_equal_pydicoms(
    level: str, query: dict, uids: dict, implicit_vr: bool
) -> None:
    elements = identifier_elements(level, query, **uids)
    expected = encode(identifier_dataset(elements), implicit_vr, True)
    assert wire.encode_identifier(elements, implicit_vr=implicit_vr) == expected


def test_identifier_with_a_vr_it_does_not_write_is_left_to_pydicom() -> None:
    elements = identifier_elements("IMAGE", {"SliceThickness": "1.5"})
    elements[0x00280030] = ("DS", "0.5\\0.5")  # text: written here
    assert wire.encode_identifier(elements, implicit_vr=True) is not None
    elements[0x00189087] = ("FD", "1000")  # Diffusion b-value, a binary float
    assert wire.encode_identifier(elements, implicit_vr=True) is None
    elements[0x00189087] = ("US", "1\\x")  # not numbers
    assert wire.encode_identifier(elements, implicit_vr=True) is None
    elements[0x00189087] = ("US", "70000")  # out of range for US
    assert wire.encode_identifier(elements, implicit_vr=True) is None
    elements = identifier_elements("STUDY", {})
    elements[0x00081030] = ("LO", "x" * 70_000)  # too long for a 2-byte length
    assert wire.encode_identifier(elements, implicit_vr=False) is None
    assert wire.encode_identifier(elements, implicit_vr=True) is not None


def _pynetdicom_message(msg_id: int, identifier: bytes, max_pdu: int) -> list:
    primitive = C_FIND()
    primitive.MessageID = msg_id
    primitive.AffectedSOPClassUID = FIND_MODEL
    primitive.Priority = wire.MEDIUM
    primitive.Identifier = BytesIO(identifier)
    message = C_FIND_RQ()
    message.primitive_to_message(primitive)
    return [p.presentation_data_value_list for p in message.encode_msg(3, max_pdu)]


@pytest.mark.parametrize("max_pdu", [0, 16384, 40])
@pytest.mark.parametrize("msg_id", [1, 0xFFFF])
def test_message_equals_pynetdicoms_fragment_for_fragment(msg_id: int, max_pdu: int) -> None:
    elements = identifier_elements("SERIES", {"Modality": "CT"}, StudyInstanceUID="2.25.99")
    identifier = wire.encode_identifier(elements, implicit_vr=True)
    assert identifier is not None
    command = wire.c_find_command(msg_id, FIND_MODEL)
    ours = [p.presentation_data_value_list for p in wire.p_data(3, command, identifier, max_pdu)]
    assert ours == _pynetdicom_message(msg_id, identifier, max_pdu)
    if max_pdu == 40:
        assert len(ours) > 2  # both the command and the identifier were fragmented


def test_pooled_find_goes_through_the_wire_path_and_matches_pynetdicoms(
    backend: DimseBackend, stored: dict[str, StoredStudy], monkeypatch: pytest.MonkeyPatch
) -> None:
    ct = stored["CT"].spec
    sent: list[bool] = []
    real = wire.send_find

    def spy(*args: object) -> object:
        responses = real(*args)  # type: ignore[arg-type]
        sent.append(responses is not None)
        return responses

    monkeypatch.setattr(wire, "send_find", spy)
    query = {"PatientID": ct.patient.patient_id, "ModalitiesInStudy": "CT"}
    ours = backend.find_studies(query)
    assert sent == [True]
    monkeypatch.setattr(wire, "send_find", lambda *args: None)  # pynetdicom's send_c_find
    theirs = backend.find_studies(query)
    assert [d.to_json_dict() for d in ours] == [d.to_json_dict() for d in theirs]
    assert ct.study_uid in {str(d.StudyInstanceUID) for d in ours}


def test_request_it_cannot_write_still_reaches_the_pacs(
    backend: DimseBackend, stored: dict[str, StoredStudy]
) -> None:
    ct = stored["CT"].spec
    elements = identifier_elements("STUDY", {"StudyInstanceUID": ct.study_uid})
    elements[0x00189087] = ("FD", "")  # a return key of a VR wire does not write
    lease = backend.pool.acquire(("query",), lambda: (query_contexts(), []))
    try:
        assert wire.send_find(lease.assoc, elements, FIND_MODEL, 7) is None
        found = ex.c_find(lease.assoc, elements, 8, 10.0)
    finally:
        backend.pool.release(lease)
    assert [str(d.StudyInstanceUID) for d in found] == [ct.study_uid]
    assert backend.echo() == 0


def test_idle_pooled_association_waits_with_its_reactor_parked(backend: DimseBackend) -> None:
    backend.echo()
    lease = backend.pool.acquire(("query",), lambda: (query_contexts(), []))
    assoc = lease.assoc
    backend.pool.release(lease)
    deadline = time.monotonic() + 2
    while not assoc._is_paused and time.monotonic() < deadline:
        time.sleep(0.001)
    assert assoc._is_paused
    assert not assoc._reactor_checkpoint.is_set()
    assert backend.find_series("2.25.1", {}) == []  # the parked association serves the request
    assert backend.pool.opened == 1
