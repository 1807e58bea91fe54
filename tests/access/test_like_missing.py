"""How the contract compares a 404 (or an empty answer) with the one of its missing twin: the
two may differ by the id asked and nothing else, wherever else that id's characters occur."""

from __future__ import annotations

from tests.access.contract import _unlike
from tests.access.world import MISSING

LINK = "/share/Kq2Zx-2_0aB2"


def page(path: str, message: str = "Nothing is shared under this address.") -> bytes:
    """The shape of the share pages' 404: the address asked comes back in the language links."""
    return (
        f'<a href="/account/language/en?next={path}">English</a>'
        f'<a href="/account/language/fr?next={path.replace("/", "%2F")}">Français</a>'
        f"<p>{message}</p>"
    ).encode()


def test_an_id_also_inside_the_link_id_is_no_difference() -> None:
    real, twin = f"{LINK}/files/2", f"{LINK}/files/{MISSING}"
    assert _unlike(page(real), page(twin), "2", MISSING) == []


def test_the_same_digits_elsewhere_in_both_pages_are_no_difference() -> None:
    real, twin = f"{LINK}/files/2", f"{LINK}/files/{MISSING}"
    left = "2 attempts are left."
    assert _unlike(page(real, left), page(twin, left), "2", MISSING) == []


def test_an_id_echoed_in_a_diagnostic_is_no_difference() -> None:
    body = b'{"issue":[{"diagnostics":"Binary/%s is not known"}]}'
    assert _unlike(body % b"2", body % MISSING.encode(), "2", MISSING) == []


def test_a_uid_at_the_end_of_a_sentence_is_no_difference() -> None:
    uid, other = "1.2.826.0.1.3680043.2.1125", "1.2.826.0.1.9"
    body = b"No study %s."
    assert _unlike(body % uid.encode(), body % other.encode(), uid, other) == []


def test_another_wording_for_a_real_id_is_found() -> None:
    real, twin = f"{LINK}/files/2", f"{LINK}/files/{MISSING}"
    shown = page(real, "This file is not part of the share.")
    assert _unlike(shown, page(twin), "2", MISSING)


def test_an_id_named_only_when_it_exists_is_found() -> None:
    body = b'{"issue":[{"diagnostics":"%s"}]}'
    assert _unlike(body % b"Binary/2 is of another patient", body % b"not known", "2", MISSING)


def test_the_link_changed_by_the_answer_is_found() -> None:
    real, twin = f"{LINK}/files/2", f"/share/Kq3Zx-2_0aB2/files/{MISSING}"
    assert _unlike(page(real), page(twin), "2", MISSING)
