"""The portal's appointments (F19, F20) against a served gateway and its own HIS: a booking
made by keyboard alone (a service, the doctors and their free times, the confirmation) lands in
the HIS; a time someone else took meanwhile is explained and the list refreshed; a cancellation
frees the slot; a change too close to the start is refused with the gateway's rule in plain
words; a video appointment shows its join link only around its time; filters; another
patient's appointment is 404; axe-core clean in EN and RO in the empty, filled and error
states."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa

from fhir_gateway.his import schema as t
from gateway.settings import Settings, SettingsError
from tests.booking.his import add_slots, appointments_of_slot, slot_facts, utcnow
from tests.portal.care import adults, sqlite_his, tab_to  # noqa: F401 (fixtures)
from tests.portal.conftest import axe_clean, pytestmark, sign_in  # noqa: F401
from tests.smart_auth.accounts.conftest import Inbox

EN = {"Accept-Language": "en"}


def service_code(his: str, slot: int) -> str:
    engine = sa.create_engine(his)
    with engine.connect() as conn:
        code = conn.execute(
            sa.select(t.service.c.code).where(t.service.c.id == slot_facts(his, slot).service_id)
        ).scalar_one()
    engine.dispose()
    return str(code)


def specialty(his: str, slot: int) -> str:
    engine = sa.create_engine(his)
    with engine.connect() as conn:
        code = conn.execute(
            sa.select(t.service.c.specialty_code).where(
                t.service.c.id == slot_facts(his, slot).service_id
            )
        ).scalar_one()
    engine.dispose()
    return str(code)


def set_slot(his: str, slot: int, status: str) -> None:
    engine = sa.create_engine(his)
    with engine.begin() as conn:
        conn.execute(sa.update(t.slot).where(t.slot.c.id == slot).values(status=status))
    engine.dispose()


def test_book_by_keyboard_lost_race_cancel_video_and_refusals(
    served: dict[str, Any],
    browser: Any,
    inbox: Inbox,
    adults: list[Any],  # noqa: F811
    sqlite_his: str,  # noqa: F811
) -> None:
    his, portal = sqlite_his, served["portal"]
    person, other = adults[0], adults[1]
    slots = add_slots(his, 3, first=(utcnow() + dt.timedelta(days=3)).replace(hour=8, minute=0))
    code = service_code(his, slots[0])
    context = browser.new_context(locale="en-GB")
    page = context.new_page()
    sign_in(page, served, person, inbox)

    # the list: nothing upcoming yet for this patient in the future of the generated HIS
    page.goto(f"{portal}/appointments")
    assert page.get_by_role("heading", level=1).inner_text() == "Appointments"
    upcoming_before = page.locator("#appointments tbody tr").count()

    # booking by keyboard alone: the service, a time of a doctor, the confirmation
    page.goto(f"{portal}/appointments/book")
    tab_to(page, "#service")
    for _ in range(200):
        if page.locator("#service").input_value() == code:
            break
        page.keyboard.press("ArrowDown")
    assert page.locator("#service").input_value() == code
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{portal}/appointments/book/times?*")
    assert page.locator(f"#slot-{slots[0]}").count() == 1
    axe_clean(page, "appointments-times-en")
    tab_to(page, "input[name=slot]")
    for _ in range(300):
        if page.evaluate("document.activeElement.value") == str(slots[0]):
            break
        page.keyboard.press("ArrowDown")
    page.keyboard.press("Space")
    assert page.locator(f"#slot-{slots[0]}").is_checked()
    tab_to(page, "#times button[type=submit]")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{portal}/appointments/book/confirm?*")
    assert "Confirm the booking" in page.get_by_role("heading", level=1).inner_text()
    axe_clean(page, "appointments-confirm-en")
    tab_to(page, "#confirm")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{portal}/appointments/*?done=booked")
    assert page.locator("#done").inner_text() == "Your appointment is booked."
    assert page.locator("#status").inner_text() == "Booked"
    booked = appointments_of_slot(his, slots[0])
    assert [(a.patient_id, a.status) for a in booked] == [(person.id, "booked")]
    appointment_id = page.url.split("/appointments/")[1].split("?")[0]
    assert appointment_id == str(booked[0].id)
    axe_clean(page, "appointment-booked-en")

    # the upcoming list holds it; a filter by type that excludes it: the empty state
    page.goto(f"{portal}/appointments")
    assert page.locator("#appointments tbody tr").count() == upcoming_before + 1
    assert page.locator(f"a[href='/appointments/{appointment_id}']").count() == 1
    axe_clean(page, "appointments-upcoming-en")
    page.locator("#type").select_option("video")
    page.locator("#filters button").click()
    assert page.locator(f"a[href='/appointments/{appointment_id}']").count() == 0
    page.goto(f"{portal}/appointments?when=all&service=NO-SUCH-SERVICE")
    assert page.locator("#no-appointments").is_visible()
    axe_clean(page, "appointments-empty-en")

    # by specialty: the same free times among those of every service of the specialty
    page.goto(f"{portal}/appointments/book/times?specialty={specialty(his, slots[1])}")
    assert page.locator(f"#slot-{slots[1]}").count() == 1
    assert page.locator(f"#slot-{slots[0]}").count() == 0  # booked: no longer proposed
    page.goto(f"{portal}/appointments/book/times?specialty={specialty(his, slots[1])}&type=video")
    assert page.locator(f"#slot-{slots[1]}").count() == 0  # in person: not among video visits

    # a lost race: another patient takes the time between the choice and the confirmation
    page.goto(f"{portal}/appointments/book/confirm?service={code}&slot={slots[1]}")
    set_slot(his, slots[1], "busy")
    page.locator("#confirm").click()
    assert "Someone else booked this time" in page.locator(".nhsuk-error-summary").inner_text()
    assert page.locator(f"#slot-{slots[1]}").count() == 0  # the list, refreshed
    assert page.locator(f"#slot-{slots[2]}").count() == 1
    assert appointments_of_slot(his, slots[1]) == []
    axe_clean(page, "appointments-lost-en")

    # cancelling: a confirmation, then the slot is free again in the HIS
    page.goto(f"{portal}/appointments/{appointment_id}")
    page.locator("#cancel").click()
    page.get_by_role("button", name="Yes, cancel the appointment").click()
    assert page.locator("#done").inner_text() == "Your appointment is cancelled."
    assert page.locator("#status").inner_text() == "Cancelled"
    assert appointments_of_slot(his, slots[0])[0].status == "cancelled"
    assert slot_facts(his, slots[0]).status == "free"

    # a video consultation in ten minutes: the join link is there; a change is refused
    soon = add_slots(his, 1, telemedicine=True, first=utcnow() + dt.timedelta(minutes=10))
    video = service_code(his, soon[0])
    page.goto(f"{portal}/appointments/book/confirm?service={video}&slot={soon[0]}")
    page.locator("#confirm").click()
    page.wait_for_url(f"{portal}/appointments/*?done=booked")
    video_id = page.url.split("/appointments/")[1].split("?")[0]
    join = page.get_by_role("link", name="Join the video consultation")
    assert join.get_attribute("href").startswith("https://meet.hospital.example/")
    axe_clean(page, "appointment-video-en")
    page.locator("#cancel").click()
    page.get_by_role("button", name="Yes, cancel the appointment").click()
    summary = page.locator(".nhsuk-error-summary")
    assert "can no longer be changed or cancelled here" in summary.inner_text()
    assert appointments_of_slot(his, soon[0])[0].status == "booked"
    axe_clean(page, "appointment-refused-en")

    # the filter by type finds it among the video appointments only
    page.goto(f"{portal}/appointments?type=video")
    assert page.locator(f"a[href='/appointments/{video_id}']").count() == 1
    page.goto(f"{portal}/appointments?type=in-person")
    assert page.locator(f"a[href='/appointments/{video_id}']").count() == 0
    page.goto(f"{portal}/appointments/{video_id}")

    # a video consultation in three days: no link yet, a word on when it comes
    later = add_slots(
        his, 1, telemedicine=True, first=(utcnow() + dt.timedelta(days=3)).replace(hour=11)
    )
    page.goto(f"{portal}/appointments/book/confirm?service={video}&slot={later[0]}")
    page.locator("#confirm").click()
    page.wait_for_url(f"{portal}/appointments/*?done=booked")
    assert page.locator("#join").count() == 0
    assert page.locator("#join-later").is_visible()

    # moving it to another time of the same service
    moved_id = page.url.split("/appointments/")[1].split("?")[0]
    more = add_slots(
        his, 1, telemedicine=True, first=(utcnow() + dt.timedelta(days=4)).replace(hour=11)
    )
    page.locator("#change").click()
    page.locator(f"#slot-{more[0]}").check()
    page.get_by_role("button", name="Move my appointment to this time").click()
    assert page.locator("#done").inner_text() == "Your appointment has a new time."
    assert [a.id for a in appointments_of_slot(his, more[0])] == [int(moved_id)]

    # another patient's appointment through the portal's URLs: 404, none of their data
    engine = sa.create_engine(his)
    with engine.connect() as conn:
        theirs = conn.execute(
            sa.select(t.appointment).where(t.appointment.c.patient_id == other.id).limit(1)
        ).one()
    engine.dispose()
    for path in (f"/appointments/{theirs.id}", f"/appointments/{theirs.id}/change"):
        answer = page.request.get(f"{portal}{path}", headers=EN)
        assert answer.status == 404
        assert "does not exist" in answer.text()
    token = page.locator("input[name=csrf_token]").first.input_value()
    answer = page.request.post(
        f"{portal}/appointments/{theirs.id}/cancel", form={"csrf_token": token}, headers=EN
    )
    assert answer.status == 404
    with sa.create_engine(his).connect() as conn:
        assert (
            conn.execute(
                sa.select(t.appointment.c.status).where(t.appointment.c.id == theirs.id)
            ).scalar_one()
            == theirs.status
        )

    # Romanian: the list and an appointment
    page.goto(f"{portal}/appointments?when=all")
    page.get_by_role("button", name="Română").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Programări"
    axe_clean(page, "appointments-all-ro")
    page.goto(f"{portal}/appointments/{moved_id}")
    axe_clean(page, "appointment-ro")
    page.goto(f"{portal}/appointments/book")
    axe_clean(page, "appointments-book-ro")
    context.close()


def test_the_hospitals_time_zone_must_be_a_known_one() -> None:
    assert Settings.from_mapping({"portal_time_zone": "Europe/Warsaw"}).portal_time_zone == (
        "Europe/Warsaw"
    )
    with pytest.raises(SettingsError, match="PORTAL_TIME_ZONE"):
        Settings.from_mapping({"portal_time_zone": "Mars/Olympus"})
