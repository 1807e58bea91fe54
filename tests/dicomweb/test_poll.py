"""pynetdicom's network poll: brisk while an association is leased, its own default while idle."""

from __future__ import annotations

import pytest

from dicomweb.backends.contexts import query_contexts
from dicomweb.backends.dimse import DimseBackend
from dicomweb.backends.settings import IDLE_POLL_S, PacsSettings
from tests.dicomweb.conftest import Pacs


def _build() -> tuple[list, list]:
    return query_contexts(), []


def test_a_leased_association_polls_briskly_and_an_idle_one_at_the_default(pacs: Pacs) -> None:
    with DimseBackend(pacs.settings(busy_poll_s=0.00005)) as backend:
        lease = backend.pool.acquire(("query",), _build)
        assert lease.assoc.dul._run_loop_delay == 0.00005
        backend.pool.release(lease)
        assert lease.assoc.dul._run_loop_delay == IDLE_POLL_S
        again = backend.pool.acquire(("query",), _build)
        assert again.assoc is lease.assoc  # the same association, reused: brisk again
        assert again.assoc.dul._run_loop_delay == 0.00005
        backend.pool.release(again)
        assert backend.echo() == 0


@pytest.mark.parametrize("bad", [-0.001, 0.01])
def test_a_poll_interval_outside_zero_to_the_default_is_refused(bad: float) -> None:
    with pytest.raises(ValueError, match="busy_poll_s"):
        PacsSettings(busy_poll_s=bad)
