"""The forked import (``prepare.ForkedParts``): the sequential import's result and refusals, on SQLite and
PostgreSQL; a failed or dead helper refuses the import and changes nothing; no helper outlives its import.

Every import in this module forks (the size threshold is lifted) and its parts travel in tiny chunks, so that
several chunks per type and per event run cross the pipe. The refusal and round-trip tests of the other
modules are collected here once more, to run on the forked path.
"""

from __future__ import annotations

import dataclasses
import os
import textwrap
import time
from pathlib import Path

import pytest

from safemed_desktop.errors import BundleError
from safemed_desktop.sync import collection as collection_mod
from safemed_desktop.sync import prepare
from safemed_desktop.sync.bundle import build_bundle, read_bundle_file

from .conftest import SECRET, Site
from .test_sync_bad_input import \
    test_a_bundle_that_skips_part_of_the_chain_is_refused as test_forked_a_bundle_that_skips_part_of_the_chain
from .test_sync_bad_input import \
    test_a_byte_flipped_anywhere_is_refused_and_changes_nothing as test_forked_a_byte_flipped_anywhere
from .test_sync_bad_input import \
    test_duplicate_with_different_content_is_rejected_whole as test_forked_duplicate_with_different_content
from .test_sync_bad_input import \
    test_manifest_counts_that_disagree_with_the_payload_roll_back as test_forked_manifest_counts_roll_back
from .test_sync_bad_input import test_manifest_hashes_must_match_the_payload as test_forked_manifest_hashes
from .test_sync_formats import \
    test_a_bundle_whose_records_are_not_sorted_imports_the_same as test_forked_unsorted_bundle
from .test_sync_kill import SCRIPT, kill_mid_merge
from .test_sync_property import \
    test_mutated_bundles_change_nothing_and_the_valid_one_imports as test_forked_mutated_bundles
from .test_sync_roundtrip import test_export_import_ack_and_incremental as test_forked_export_import_ack
from .test_sync_roundtrip import \
    test_overlapping_exports_before_ack_merge_without_duplicates_in_either_order as test_forked_overlapping_exports
from .test_sync_roundtrip import test_reimport_is_a_replay_and_changes_nothing as test_forked_reimport_is_a_replay
from .test_sync_roundtrip import \
    test_sensitive_fields_sealed_at_rest_clear_fields_queryable as test_forked_sensitive_fields_sealed
from .test_sync_roundtrip import \
    test_two_workstations_in_either_order_same_final_state as test_forked_two_workstations_either_order

STREAMS: list = []  # the ``ForkedParts`` of the running test



def _state(pid: int) -> str | None:
    """The process's state letter, None once it is gone (``Z``: exited, not yet reaped)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return None


@pytest.fixture(autouse=True)
def helpers(request, monkeypatch):
    """Every import forks, in tiny chunks; the helpers' pids, each checked gone after the test. Each test
    collected from another module imports a bundle that decrypts, so it must have forked."""
    if not hasattr(os, "fork") or not Path("/proc/self/stat").exists():
        pytest.skip("the forked import needs Linux")  # it is not used elsewhere either (``prepare.can_fork``)
    monkeypatch.setattr(collection_mod, "MIN_FORK_BYTES", 0)
    monkeypatch.setattr(collection_mod, "can_fork", lambda: True)
    monkeypatch.setattr(prepare, "CHUNK", 2)
    monkeypatch.setattr(prepare, "EVENT_CHUNK", 3)
    pids: list[int] = []
    real = prepare.ForkedParts.__init__
    STREAMS.clear()

    def init(self, *a, **kw):
        real(self, *a, **kw)
        pids.append(self.pid)
        STREAMS.append(self)

    monkeypatch.setattr(prepare.ForkedParts, "__init__", init)
    yield pids
    assert [p for p in pids if _state(p) is not None] == []  # reaped by ``close()``
    if request.node.originalname.startswith("test_forked_"):
        assert pids, "this test's imports never took the forked path"


def _import_both(site: Site, seq: Site, files: list[Path]) -> dict[bool, list]:
    out = {}
    for target, parallel in ((site, True), (seq, False)):
        keys = target.keys()
        try:
            with target.collection() as coll:
                out[parallel] = [coll.import_bundle(read_bundle_file(f), keys, parallel=parallel) for f in files]
        finally:
            keys.close()
    return out


def test_forked_and_sequential_imports_agree(tmp_path, enrolled, another_db, helpers):
    site, ws = enrolled
    ws.add(4, category="dosing")
    b1 = ws.export("b1.smb")
    ws.add(3)
    b2 = ws.export("b2.smb")  # not acknowledged: overlaps b1, whose records are then identical duplicates
    seq = Site.clone(site, tmp_path / "seq", another_db())
    seq.accept(ws)
    res = _import_both(site, seq, [b1, b2])
    assert len(helpers) == 2
    assert [dataclasses.asdict(r) for r in res[True]] == [dataclasses.asdict(r) for r in res[False]]
    assert res[True][1].skipped == res[True][0].new_records > 0 and res[True][1].new_records > 0
    assert site.snapshot() == seq.snapshot()
    with site.collection() as a, seq.collection() as b:
        fb = [r for r in a.clear_rows("feedback")]
        assert len(fb) == 7
        ka, kb = site.keys(), seq.keys()
        try:
            for rid, _, _ in fb:  # sealed under the same site key, each with its own nonce
                assert a.unseal(ka, "feedback", rid) == b.unseal(kb, "feedback", rid)
                assert SECRET in a.unseal(ka, "feedback", rid)["comment_enc"]
        finally:
            ka.close()
            kb.close()


def test_parts_that_overflow_the_arena_travel_on_the_pipe(tmp_path, enrolled, another_db, monkeypatch, helpers):
    """An arena too small for the parts (a bundle larger than its estimate): they follow on the pipe instead."""
    site, ws = enrolled
    ws.add(5)
    bundle = ws.export()
    seq = Site.clone(site, tmp_path / "seq", another_db())
    seq.accept(ws)
    monkeypatch.setattr(prepare, "ARENA_FACTOR", 0)
    monkeypatch.setattr(prepare, "ARENA_EXTRA", 700)  # room for a part or two; the rest goes on the pipe
    res = _import_both(site, seq, [bundle])
    assert len(helpers) == 1 and res[True][0].new_records == res[False][0].new_records == 11
    assert STREAMS[0].parts_on_pipe > 0 and STREAMS[0].parts_in_arena > 0
    assert site.snapshot() == seq.snapshot()


def _tampered(site: Site, ws) -> Path:
    """A bundle signed by its workstation that both breaks the audit chain and alters a record the site holds."""
    (held,) = ws.add(1)
    assert site.import_(ws.export("b1.smb"))[0]["ok"]
    ws.add(1)
    batch = ws.store.export_since(0)
    (i,) = [i for i, r in enumerate(batch.records) if r[:2] == ("answers", held)]
    t, rid, clear, sens = batch.records[i]
    batch.records[i] = (t, rid, dict(clear, category="forged"), sens)
    last = list(batch.events[-1])
    last[6] = "0" * 64  # the record digest of the newest event: its hash no longer follows
    batch.events[-1] = tuple(last)
    card = ws.sync.site()
    raw, _ = build_bundle(batch, card.enc_public, card.site_id, card.fingerprint, ws.store.sign_sync)
    path = ws.root / "tampered.smb"
    path.write_bytes(raw)
    return path


def test_a_verification_error_outranks_what_the_merge_met_first(enrolled, helpers):
    site, ws = enrolled
    bad = _tampered(site, ws)
    before = site.snapshot()
    messages = {}
    for parallel in (False, True):
        keys = site.keys()
        try:
            with site.collection() as coll, pytest.raises(BundleError) as err:
                coll.import_bundle(read_bundle_file(bad), keys, parallel=parallel)
        finally:
            keys.close()
        messages[parallel] = str(err.value)
    assert helpers  # the second import forked
    assert messages[True] == messages[False]
    assert "audit chain is broken" in messages[True]
    assert site.snapshot() == before


def test_a_helper_that_dies_refuses_the_import_and_changes_nothing(enrolled, monkeypatch, helpers):
    site, ws = enrolled
    ws.add(2)
    bundle = ws.export()
    before = site.snapshot()
    with monkeypatch.context() as m:
        m.setattr(prepare, "_helper", lambda *a: os._exit(0))  # leaves before a single part
        (out,) = site.import_(bundle)
    assert not out["ok"] and "ended without a verdict" in out["error"] and "\n" not in out["error"]
    assert site.snapshot() == before
    (out,) = site.import_(bundle)
    assert out["ok"] and out["new_records"] == 5


def test_a_helper_that_fails_is_reported_by_type_only(enrolled, monkeypatch, helpers):
    site, ws = enrolled
    ws.add(2)
    bundle = ws.export()
    before = site.snapshot()

    def boom(*a, **kw):
        raise RuntimeError(SECRET)  # an unexpected failure, holding clinical text

    with monkeypatch.context() as m:
        m.setattr(prepare, "verify_records", boom)  # after every part was sent: the merge has run
        (out,) = site.import_(bundle)
    assert not out["ok"] and "RuntimeError" in out["error"] and SECRET not in out["error"]
    assert site.snapshot() == before
    assert site.import_(bundle)[0]["ok"]


FORK_PATCHES = textwrap.dedent("""
    import time
    from safemed_desktop.sync import collection, prepare

    collection.MIN_FORK_BYTES = 0
    collection.can_fork = lambda: True
    prepare.CHUNK = prepare.EVENT_CHUNK = 1
    real = prepare.check_chain
    def slow_check(*a, **kw):  # in the helper: still at work when the importer is killed
        time.sleep(300)
        return real(*a, **kw)
    prepare.check_chain = slow_check
    real_init = prepare.ForkedParts.__init__
    def init(self, *a, **kw):
        real_init(self, *a, **kw)
        print("HELPER", self.pid, flush=True)
    prepare.ForkedParts.__init__ = init
""")


def test_sigkill_of_the_importer_takes_its_helper_and_changes_nothing(enrolled):
    site, ws = enrolled
    ws.add(3)
    bundle = ws.export()
    before = site.snapshot()

    def at_work(lines):
        assert lines and lines[0].startswith("HELPER "), lines
        assert _state(int(lines[0].split()[1])) not in (None, "Z")

    (helper,) = kill_mid_merge(site, bundle, FORK_PATCHES + SCRIPT, at_work)
    pid = int(helper.split()[1])
    deadline = time.monotonic() + 30
    while _state(pid) not in (None, "Z") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _state(pid) in (None, "Z")  # killed with its importer (PR_SET_PDEATHSIG), not left running
    assert site.snapshot() == before
    (out,) = site.import_(bundle)
    assert out["ok"] and out["new_records"] == 7
