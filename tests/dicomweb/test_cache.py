"""The on-disk instance cache: limits, LRU eviction, several processes writing at once."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import pytest

from dicomweb.cache import Entry, InstanceCache, check_uid

STUDY, SERIES = "1.2.3", "1.2.3.1"


def _sop(n: int) -> str:
    return f"1.2.3.1.{n}"


def test_put_get_round_trip(tmp_path):
    cache = InstanceCache(tmp_path, 10_000)
    cache.put(STUDY, SERIES, _sop(1), b"x" * 100)
    assert cache.get(STUDY, SERIES, _sop(1)) == b"x" * 100
    assert cache.get(STUDY, SERIES, _sop(2)) is None
    assert cache.get("9.9", SERIES, _sop(1)) is None  # keyed by study too
    assert cache.total_bytes() == 100
    assert cache.find(STUDY, _sop(1)) == Entry(STUDY, SERIES, _sop(1))
    assert not [p for p in tmp_path.rglob(".tmp-*")]


def test_uids_never_become_other_paths(tmp_path):
    cache = InstanceCache(tmp_path, 10_000)
    for bad in ("../x", "1.2/3", "", "1." * 40, "1.2.a"):
        with pytest.raises(ValueError, match="not a DICOM UID"):
            check_uid(bad)
        assert cache.get(bad, SERIES, _sop(1)) is None
    with pytest.raises(ValueError, match="not a DICOM UID"):
        cache.put("../../etc", SERIES, _sop(1), b"x")


def test_least_recently_used_goes_first(tmp_path):
    cache = InstanceCache(tmp_path, 350)
    for n in range(3):
        cache.put(STUDY, SERIES, _sop(n), b"a" * 100)
    assert cache.get(STUDY, SERIES, _sop(0)) is not None  # 0 is now the most recent
    cache.put(STUDY, SERIES, _sop(3), b"b" * 100)
    assert cache.total_bytes() <= 350
    assert cache.get(STUDY, SERIES, _sop(1)) is None
    assert not cache.path(STUDY, SERIES, _sop(1)).exists()
    for n in (0, 2, 3):
        assert cache.get(STUDY, SERIES, _sop(n)) is not None


def test_completeness_is_dropped_when_a_member_is_evicted(tmp_path):
    cache = InstanceCache(tmp_path, 1000)
    entries = [Entry(STUDY, SERIES, _sop(n)) for n in range(3)]
    for e in entries:
        cache.put(e.study, e.series, e.sop, b"a" * 300)
    cache.mark_complete(STUDY, "", entries)
    assert cache.complete(STUDY) == entries
    cache.put("4.5.6", "4.5.6.1", "4.5.6.1.1", b"b" * 300)  # evicts the oldest member
    assert cache.complete(STUDY) is None
    cache.mark_complete(STUDY, "", entries[1:])
    cache.invalidate(STUDY)
    assert cache.complete(STUDY) is None


def test_invalidate_drops_the_stored_instances_and_a_retrieval_begun_before(tmp_path):
    cache = InstanceCache(tmp_path, 10_000)
    entries = [Entry(STUDY, SERIES, _sop(n)) for n in range(3)]
    for e in entries:
        cache.put(e.study, e.series, e.sop, b"a" * 100)
    cache.mark_complete(STUDY, SERIES, entries)
    before = cache.generation(STUDY)  # a retrieval of the study starts here ...
    cache.invalidate(STUDY, [_sop(1), "9.9.9"])  # ... a store into it happens ...
    cache.mark_complete(STUDY, "", entries, before)  # ... and it ends with the old listing
    assert cache.complete(STUDY) is None
    assert cache.complete(STUDY, SERIES) is None
    assert cache.get(STUDY, SERIES, _sop(1)) is None
    assert not cache.path(STUDY, SERIES, _sop(1)).exists()
    assert cache.total_bytes() == 200
    assert cache.get(STUDY, SERIES, _sop(0)) == b"a" * 100  # the others stay cached
    # a retrieval begun after the store may mark the study complete again
    cache.put(STUDY, SERIES, _sop(1), b"c" * 100)
    cache.mark_complete(STUDY, "", entries, cache.generation(STUDY))
    assert cache.complete(STUDY) == entries
    # another process's view of the same directory agrees
    other = InstanceCache(tmp_path, 10_000)
    assert other.generation(STUDY) == before + 1
    assert other.complete(STUDY) == entries


def _writer(root: str, worker: int, limit: int) -> None:
    cache = InstanceCache(root, limit)
    for n in range(40):
        # every worker writes shared instances (same key) and its own ones
        sop = _sop(n) if n % 2 else f"1.2.3.1.{worker}.{n}"
        cache.put(STUDY, SERIES, sop, bytes([worker]) * 1000)
        cache.get(STUDY, SERIES, _sop(max(1, n - 1) | 1))
    cache.close()


def test_several_processes_write_at_once(tmp_path):
    limit = 30_000
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), w, limit)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    cache = InstanceCache(tmp_path, limit)
    assert cache.total_bytes() <= limit
    files = {p for p in Path(tmp_path).rglob("*.dcm")}
    rows = cache._db().execute("SELECT study, series, sop FROM instance").fetchall()
    assert {cache.path(*row) for row in rows} == files  # index and disk agree
    for path in files:
        assert os.path.getsize(path) == 1000  # no torn file: one writer's bytes whole
        assert len(set(path.read_bytes())) == 1
    assert not list(Path(tmp_path).rglob(".tmp-*"))
