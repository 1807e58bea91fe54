"""Accept parsing and the multipart writer (PS3.18 §8.7), without a server."""

from __future__ import annotations

import pytest

from dicomweb import multipart
from dicomweb.multipart import EXPLICIT_VR_LE, NotAcceptable, choose, parse_accept

OHIF = "application/dicom+json, multipart/related; type=application/octet-stream; transfer-syntax=*"


def test_ohif_accept_header():
    ranges = parse_accept(OHIF)
    assert [r.media_type for r in ranges] == ["application/dicom+json", "multipart/related"]
    assert choose(ranges, "application/octet-stream").transfer_syntax == "*"
    with pytest.raises(NotAcceptable):
        choose(ranges, "application/dicom")


def test_q_values_order_and_zero_drops():
    ranges = parse_accept(
        'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2;q=0.2,'
        ' multipart/related; type="application/dicom"; q=0.8, image/png;q=0'
    )
    assert [r.q for r in ranges] == [0.8, 0.2]
    assert choose(ranges, "application/dicom").transfer_syntax == EXPLICIT_VR_LE


def test_quoted_parameters_keep_commas_and_semicolons():
    (r,) = parse_accept('multipart/related; type="application/dicom; x=1, y"; q=0.5')
    assert r.params["type"] == "application/dicom; x=1, y"
    assert r.q == 0.5


def test_unoffered_syntax_falls_through_to_the_next_range():
    ranges = parse_accept(
        "multipart/related; type=application/dicom; transfer-syntax=1.2.840.10008.1.2.4.50, "
        "multipart/related; type=application/dicom; transfer-syntax=1.2.840.10008.1.2;q=0.5"
    )
    got = choose(ranges, "application/dicom", syntaxes={"1.2.840.10008.1.2"})
    assert got.transfer_syntax == "1.2.840.10008.1.2"


def test_wildcards_and_empty_header():
    assert choose(parse_accept(""), "application/dicom").transfer_syntax == EXPLICIT_VR_LE
    assert choose(parse_accept("*/*"), "application/dicom").part_type == "application/dicom"
    assert choose(parse_accept('multipart/related; type="*/*"'), "application/octet-stream")


def test_writer_and_reader_round_trip_with_a_quoted_boundary():
    bound = multipart.boundary()
    assert bound != multipart.boundary()
    body = b"".join(
        multipart.write(
            bound, [("application/dicom", "http://x/1", b"a\r\n--b"), ("t/x", None, b"")]
        )
    )
    ctype = multipart.content_type(bound, "application/dicom").replace(
        f"boundary={bound}", f'boundary="{bound}"'
    )
    parts = multipart.read(body, ctype)
    assert parts == [
        ({"content-type": "application/dicom", "content-location": "http://x/1"}, b"a\r\n--b"),
        ({"content-type": "t/x"}, b""),
    ]
