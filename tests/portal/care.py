"""What the appointments and questionnaires tests of the portal share: a HIS of their own
(booking and answering change it), its adults, and moving the focus by keyboard alone."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from fhir_gateway.his.schema import guardian_link, patient
from tests.booking.his import generated


@pytest.fixture(scope="module")
def sqlite_his(tmp_path_factory: pytest.TempPathFactory) -> str:
    """This module's own generated HIS (its tests write appointments and answers)."""
    return generated(f"sqlite:///{tmp_path_factory.mktemp('care-his') / 'his.sqlite'}")


@pytest.fixture(scope="module")
def adults(sqlite_his: str) -> list[sa.Row]:
    """Patients of that HIS who are nobody's ward, with a CNP and an email address."""
    engine = sa.create_engine(sqlite_his)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(patient)
            .where(patient.c.national_id_kind == "CNP", patient.c.email.is_not(None))
            .where(patient.c.id.not_in(sa.select(guardian_link.c.ward_id)))
            .order_by(patient.c.id)
        ).all()
    engine.dispose()
    assert len(rows) >= 2
    return list(rows)


def tab_to(page: Any, selector: str, limit: int = 150) -> None:
    """Press Tab until the focus is on the element ``selector`` names."""
    for _ in range(limit):
        if page.evaluate(f"document.activeElement.matches({selector!r})"):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached {selector}")
