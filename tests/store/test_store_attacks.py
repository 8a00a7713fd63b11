"""Issue 10: the attacks, each reproduced against a real store file, each refused or detected.

The attacker holds a copy of the database file and no passphrase: they can change any byte, drop the
append-only triggers, recompute digests and hashes, but cannot sign. Every test checks the outcome the
issue asks for: the next ordinary write is refused (and nothing is written), or ``verify`` fails and names
the break, and reads show the forged record as failed, never with its values.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import time

import pytest

from safemed_desktop.errors import (AuthenticationError, IntegrityError, PermissionDeniedError, SafeMedError,
                                    StoreLockedError)
from safemed_desktop.store import Store
from safemed_desktop.store.audit import event_hash, record_digest
from safemed_desktop.store.credentials import credential_row
from safemed_desktop.store.crypto import KdfParams

from .conftest import ADMIN_PIN, PASSPHRASE, PIN, add_profile, make_answer, sign_in

SCORES = {"medical_correctness": 4, "medication_safety": 4}


# ---------------------------------------------------------------------------------------------- helpers
def raw(path) -> sqlite3.Connection:
    """The attacker's connection: plain SQLite, append-only and no-delete triggers dropped."""
    conn = sqlite3.connect(str(path), isolation_level=None)
    for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
        conn.execute(f'DROP TRIGGER "{name}"')
    return conn


def row_of(conn, table: str, row_id: str) -> dict:
    cur = conn.execute(f"SELECT * FROM {table} WHERE id = ?", (row_id,))
    cols = [d[0] for d in cur.description]
    return dict(zip(cols, cur.fetchone()))


def append_hashed_event(conn, store_uuid: str, table: str, row_id: str, actor: str = "attacker",
                        action: str = "insert") -> int:
    """A correctly hashed (but unsigned) audit event for the row as it now is, after the current head."""
    seq, prev = conn.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    seq += 1
    ts = time.time()
    digest = record_digest(table, row_of(conn, table, row_id))
    h = event_hash(prev, seq, ts, actor, action, table, row_id, digest)
    conn.execute("INSERT INTO audit (seq, ts, actor, action, table_name, row_id, record_digest, prev_hash, hash) "
                 "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", (seq, ts, actor, action, table, row_id, digest, prev, h))
    return seq


def reopen(path, anchor_dir, who: str | None = None, pin: str = PIN) -> Store:
    s = Store.open(path, anchor_dir=anchor_dir)
    s.unlock(PASSPHRASE)
    if who is not None:
        s.authenticate(who, pin)
    return s


def counts(path) -> dict:
    conn = sqlite3.connect(str(path))
    try:
        return {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                for t in ("feedback", "audit", "checkpoints", "profiles", "keyring")}
    finally:
        conn.close()


@pytest.fixture
def world(store, clinician, rubric, store_path, anchor_dir):
    """A store with an answer and an attending's feedback on it; closed, as an attacker finds it."""
    rec = make_answer()
    store.save_answer(rec)
    fid = store.add_feedback(rec.id, clinician, rubric, SCORES, comment="genuine")
    uuid = store.store_uuid
    store.close()
    return {"path": store_path, "anchors": anchor_dir, "answer": rec, "fid": fid, "doc": clinician, "uuid": uuid,
            "rubric": rubric}


# ---------------------------------------------------------------------------------------------- laundering
def test_forged_score_with_hashed_event_is_not_laundered_by_the_next_write(world):
    """The issue's first attack: change a clear score, append a hashed unsigned event, wait for a write."""
    w = world
    conn = raw(w["path"])
    conn.execute("UPDATE feedback SET scores = ? WHERE id = ?", ('{"medical_correctness":1,"medication_safety":1}',
                                                                  w["fid"]))
    append_hashed_event(conn, w["uuid"], "feedback", w["fid"], actor=w["doc"], action="update")
    conn.close()
    before = counts(w["path"])
    s = reopen(w["path"], w["anchors"], w["doc"])
    try:
        with pytest.raises(IntegrityError, match="refusing to write: audit events #.* not covered by a valid signed"):
            s.add_feedback(w["answer"].id, w["doc"], w["rubric"], SCORES)
        with pytest.raises(IntegrityError, match="refusing to write"):
            s.save_answer(make_answer("another"))
        assert counts(w["path"]) == before  # nothing written, nothing signed
        report = s.verify()
        assert not report.ok and "not covered by a signed checkpoint" in report.first_broken
        prov = s.provenance(w["answer"].id)  # the forged 1s are shown as failed, never as scores
        assert prov["audits"] == []
        assert "not covered by a valid signed checkpoint" in prov["integrity"]["failed"][0]["failed"]
        assert prov["track_record"]["overall"]["feedback_count"] == 0 and prov["strikes"]["count"] == 0
    finally:
        s.close()


def test_inserted_fake_feedback_with_hashed_event_is_refused_by_the_cli(world, monkeypatch, capsys, tmp_path):
    """A whole fake feedback row plus a hashed unsigned event: `safemed feedback` refuses; verify names it."""
    from safemed_desktop.cli import main

    w = world
    conn = raw(w["path"])
    fake = dict(row_of(conn, "feedback", w["fid"]), id="fake-feedback", scores='{"medical_correctness":5}',
                comment_enc=None)
    conn.execute(f"INSERT INTO feedback ({', '.join(fake)}) VALUES ({', '.join('?' * len(fake))})", list(fake.values()))
    append_hashed_event(conn, w["uuid"], "feedback", "fake-feedback", actor=w["doc"])
    conn.close()
    # point the CLI at this store and anchor folder
    monkeypatch.setenv("SAFEMED_HOME", str(tmp_path / "home"))
    from safemed_desktop.config import load_config

    cfg = load_config()
    cfg.paths.store_file.parent.mkdir(parents=True)
    shutil.copy(w["path"], cfg.paths.store_file)
    shutil.copytree(w["anchors"], cfg.paths.user_config_dir / "anchors")
    for var, value in (("SAFEMED_PASSPHRASE", PASSPHRASE), ("SAFEMED_PROFILE", "Dr Test Attending"),
                       ("SAFEMED_PROFILE_PIN", PIN)):
        monkeypatch.setenv(var, value)
    before = counts(cfg.paths.store_file)
    assert main(["feedback", w["answer"].id, "--score", "medical_correctness=3"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "refusing to write" in err and "not covered by a valid signed checkpoint" in err
    assert counts(cfg.paths.store_file) == before
    assert main(["store", "verify"]) == 2
    assert "first broken link" in capsys.readouterr().err


def test_rekey_and_passphrase_change_on_a_forged_chain_are_refused(world):
    w = world
    conn = raw(w["path"])
    conn.execute("UPDATE feedback SET scores = '{\"medical_correctness\":2}' WHERE id = ?", (w["fid"],))
    conn.close()  # no new event at all: only the whole-store check before a rekey can see this
    s = reopen(w["path"], w["anchors"], "admin", ADMIN_PIN)
    try:
        before = counts(w["path"])
        gen = s.stats()["key_generation"]
        with pytest.raises(IntegrityError, match="rekey refused: .*altered on disk"):
            s.rekey()
        with pytest.raises(IntegrityError, match="passphrase change refused"):
            s.change_passphrase(PASSPHRASE, "a brand new passphrase")
        assert counts(w["path"]) == before and s.stats()["key_generation"] == gen
    finally:
        s.close()
    s = reopen(w["path"], w["anchors"])  # the old passphrase still opens it: nothing was re-wrapped
    s.close()


def test_rewritten_history_below_the_signed_head_fails_verify_forever(world):
    """Recomputing the chain cannot be re-signed: a later write adds a valid checkpoint, verify still fails."""
    w = world
    conn = raw(w["path"])
    conn.execute("UPDATE feedback SET scores = '{\"medical_correctness\":1}' WHERE id = ?", (w["fid"],))
    conn.close()
    s = reopen(w["path"], w["anchors"], w["doc"])
    try:
        s.add_feedback(w["answer"].id, w["doc"], w["rubric"], SCORES)  # the chain itself is intact and signed
        report = s.verify()
        assert not report.ok and f"feedback/{w['fid']}): record was altered on disk" in report.first_broken
        assert [f["id"] for f in s.provenance(w["answer"].id)["integrity"]["failed"]] == [w["fid"]]
    finally:
        s.close()


# ---------------------------------------------------------------------------------------------- rollback
def test_tail_cut_is_detected_through_the_anchor(world):
    """Delete the newest feedback with its audit event and last checkpoint: the chain alone looks fine."""
    w = world
    conn = raw(w["path"])
    seq = conn.execute("SELECT MAX(seq) FROM audit").fetchone()[0]
    conn.execute("DELETE FROM feedback WHERE id = ?", (w["fid"],))
    conn.execute("DELETE FROM audit WHERE seq = ?", (seq,))
    conn.execute("DELETE FROM checkpoints WHERE seq = ?", (seq,))
    conn.close()
    s = reopen(w["path"], w["anchors"], w["doc"])
    try:
        report = s.verify()
        assert not report.ok
        assert report.first_broken.startswith(f"the store is older than its anchor: the anchor records audit event "
                                              f"#{seq}, the store ends at #{seq - 1}")
        before = counts(w["path"])
        with pytest.raises(IntegrityError, match="refusing to write: the store is older than its anchor"):
            s.add_feedback(w["answer"].id, w["doc"], w["rubric"], SCORES)
        assert counts(w["path"]) == before
    finally:
        s.close()
    locked = Store.open(w["path"], anchor_dir=w["anchors"])  # a locked verify sees it too
    try:
        assert not locked.verify().ok
    finally:
        locked.close()


def test_restoring_an_older_copy_is_detected(store, clinician, rubric, store_path, anchor_dir, tmp_path):
    rec = make_answer()
    store.save_answer(rec)
    store.close()
    old = tmp_path / "old-copy.db"
    shutil.copy(store_path, old)  # WAL checkpointed on close: the file is the whole store
    s = reopen(store_path, anchor_dir, clinician)
    s.add_feedback(rec.id, clinician, rubric, SCORES)
    s.close()
    for suffix in ("-wal", "-shm"):
        store_path.with_name(store_path.name + suffix).unlink(missing_ok=True)
    shutil.copy(old, store_path)
    s = reopen(store_path, anchor_dir, clinician)
    try:
        report = s.verify()
        assert not report.ok and "older than its anchor" in report.first_broken and "older copy" in report.first_broken
        with pytest.raises(IntegrityError, match="older than its anchor"):
            s.add_edit(rec.id, "an edit onto a rolled-back store", clinician)
    finally:
        s.close()


def newest_anchor(anchor_dir):
    """(path, record) of the anchor slot holding the newest head."""
    slots = []
    for p in anchor_dir.iterdir():
        try:
            slots.append((p, json.loads(p.read_text())))
        except ValueError:  # a torn or emptied slot
            continue
    return max(slots, key=lambda s: s[1]["seq"])


def test_forged_anchor_is_reported(world):
    w = world
    path, doc = newest_anchor(w["anchors"])
    doc["seq"] = 1  # pretend the head was much older, to hide a later cut
    path.write_text(json.dumps(doc))
    s = reopen(w["path"], w["anchors"], w["doc"])
    try:
        assert "head anchor is not signed by this store's key" in s.verify().first_broken
        with pytest.raises(IntegrityError, match="refusing to write: the head anchor"):
            s.add_feedback(w["answer"].id, w["doc"], w["rubric"], SCORES)
    finally:
        s.close()


def test_the_anchor_follows_every_commit_and_is_private(store, clinician, rubric, anchor_dir):
    rec = make_answer()
    store.save_answer(rec)
    store.add_feedback(rec.id, clinician, rubric, SCORES)
    path, doc = newest_anchor(anchor_dir)
    head = store._conn.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    assert (doc["seq"], doc["head"], doc["store_uuid"]) == (head[0], head[1], store.store_uuid)
    assert sorted(p.name for p in anchor_dir.iterdir()) == [f"{store.store_uuid}.anchor.a", f"{store.store_uuid}.anchor.b"]
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in anchor_dir.iterdir())
    assert anchor_dir.stat().st_mode & 0o777 == 0o700


def test_an_anchor_slot_torn_by_a_crash_is_no_false_alarm(world):
    """A crash mid-write spoils one slot: the other holds the previous head (a lag, never an alarm); with both
    gone the store is re-anchored at its verified head, as on first use."""
    w = world
    path, _ = newest_anchor(w["anchors"])
    path.write_bytes(b'{"format": "safemed-anchor-v1", "store_u')  # torn
    s = reopen(w["path"], w["anchors"], w["doc"])
    try:
        assert s.verify().ok
        s.add_feedback(w["answer"].id, w["doc"], w["rubric"], SCORES)
        head = s._conn.execute("SELECT MAX(seq) FROM audit").fetchone()[0]
        assert newest_anchor(w["anchors"])[1]["seq"] == head
    finally:
        s.close()
    for p in w["anchors"].iterdir():
        p.write_bytes(b"")
    s = reopen(w["path"], w["anchors"], w["doc"])
    try:
        assert s.verify().ok and newest_anchor(w["anchors"])[1]["seq"] == head  # re-anchored on unlock
    finally:
        s.close()


# ---------------------------------------------------------------------------------------------- checkpoints
def test_checkpoint_timestamp_is_covered_by_the_signature(world):
    w = world
    conn = raw(w["path"])
    first, last = conn.execute("SELECT MIN(seq), MAX(seq) FROM checkpoints").fetchone()
    conn.execute("UPDATE checkpoints SET ts = ts - 86400 WHERE seq = ?", (first,))
    conn.close()
    s = reopen(w["path"], w["anchors"], w["doc"])
    try:
        assert f"checkpoint at event #{first}: signature is invalid" in s.verify().first_broken
    finally:
        s.close()
    conn = raw(w["path"])
    conn.execute("UPDATE checkpoints SET ts = ts + 1 WHERE seq = ?", (last,))  # the newest one
    conn.close()
    s = reopen(w["path"], w["anchors"], w["doc"])
    try:
        with pytest.raises(IntegrityError, match="refusing to write"):
            s.add_feedback(w["answer"].id, w["doc"], w["rubric"], SCORES)
    finally:
        s.close()


def test_deleted_intermediate_checkpoint_is_detected(world):
    w = world
    conn = raw(w["path"])
    seqs = [r[0] for r in conn.execute("SELECT seq FROM checkpoints ORDER BY seq")]
    conn.execute("DELETE FROM checkpoints WHERE seq = ?", (seqs[1],))
    conn.close()
    s = reopen(w["path"], w["anchors"])
    try:
        assert f"checkpoint at event #{seqs[2]}: the checkpoint before it" in s.verify().first_broken
    finally:
        s.close()


# ---------------------------------------------------------------------------------------------- verified reads
def test_forged_role_is_shown_failed_and_never_used(world):
    """A clinician's role changed to site_admin on disk: listed as failed, cannot sign in, grants nothing."""
    w = world
    conn = raw(w["path"])
    conn.execute("UPDATE profiles SET role = 'site_admin' WHERE id = ?", (w["doc"],))
    conn.close()
    s = reopen(w["path"], w["anchors"])
    try:
        listed = {p["id"]: p for p in s.list_profiles()}
        assert listed[w["doc"]]["role"] == "failed" and "altered on disk" in listed[w["doc"]]["failed"]
        assert listed[w["doc"]]["display_name"] == "[record failed verification]"
        with pytest.raises(IntegrityError, match=f"profiles record {w['doc']} was altered"):
            s.authenticate(w["doc"], PIN)
        assert s.profile is None
        with pytest.raises(IntegrityError, match="altered"):  # nor does the forged role flow into new feedback
            s._profile_role(w["doc"])
    finally:
        s.close()


def test_forged_acknowledgement_and_deleted_feedback_are_shown_failed_or_missing(store, clinician, rubric, store_path,
                                                                                 anchor_dir):
    rec = make_answer()
    store.save_answer(rec)
    ack = store.record_acknowledgement(rec.id, clinician, "medication_safety")
    fid = store.add_feedback(rec.id, clinician, rubric, SCORES)
    store.close()
    conn = raw(store_path)
    conn.execute("UPDATE acknowledgements SET signal_name = 'confidence' WHERE id = ?", (ack,))
    conn.execute("DELETE FROM feedback WHERE id = ?", (fid,))
    conn.close()
    s = reopen(store_path, anchor_dir, clinician)
    try:
        prov = s.provenance(rec.id)
        assert prov["acknowledgements"] == []  # an acknowledgement that fails does not acknowledge
        failed = {f["id"]: f["failed"] for f in prov["integrity"]["failed"]}
        assert "altered on disk" in failed[ack]
        missing = {m["id"]: m["missing"] for m in prov["integrity"]["missing"]}
        assert missing == {fid: f"feedback record {fid} is missing (deleted); audit event #"
                                f"{s._conn.execute('SELECT MAX(seq) FROM audit').fetchone()[0]} records it"}
        assert prov["audits"] == [] and prov["track_record"]["overall"]["feedback_count"] == 0
        report = s.verify()
        assert not report.ok and any(f"feedback/{fid}): record is missing" in p for p in report.problems)
    finally:
        s.close()


def test_forged_score_elsewhere_does_not_reach_this_answers_track_record(store, clinician, rubric, store_path,
                                                                         anchor_dir):
    a, b = make_answer("a"), make_answer("b")
    store.save_answers([a, b])
    fa = store.add_feedback(a.id, clinician, rubric, {"medical_correctness": 4})
    store.add_feedback(b.id, clinician, rubric, {"medical_correctness": 2})
    store.close()
    conn = raw(store_path)
    conn.execute("UPDATE feedback SET scores = '{\"medical_correctness\":1}', strike = 1 WHERE id = ?", (fa,))
    conn.close()
    s = reopen(store_path, anchor_dir, clinician)
    try:
        prov = s.provenance(b.id)
        assert prov["track_record"]["overall"]["mean_scores"] == {"medical_correctness": 2.0}
        assert prov["strikes"]["count"] == 0
        assert [f["id"] for f in prov["integrity"]["failed"]] == [fa]
    finally:
        s.close()


# ---------------------------------------------------------------------------------------------- credentials
def test_forged_credential_cannot_sign_in(world):
    """The attacker seals the admin's identity under their own PIN and appends a hashed event for it."""
    w = world
    conn = raw(w["path"])
    admin = conn.execute("SELECT id FROM profiles WHERE role = 'site_admin'").fetchone()[0]
    forged = credential_row(admin, "attacker-pin", w["uuid"], KdfParams.fast_for_tests(), time.time())
    cols = [c for c in forged if c != "id"]
    conn.execute(f"UPDATE profile_credentials SET {', '.join(c + ' = ?' for c in cols)} WHERE id = ?",
                 [forged[c] for c in cols] + [admin])
    s = reopen(w["path"], w["anchors"])
    try:
        with pytest.raises(IntegrityError, match="profile_credentials record .* was altered"):
            s.authenticate("admin", "attacker-pin")
    finally:
        s.close()
    append_hashed_event(conn, w["uuid"], "profile_credentials", admin, action="set_credential")
    conn.close()
    s = reopen(w["path"], w["anchors"])
    try:
        with pytest.raises(IntegrityError, match="not covered by a valid signed checkpoint"):
            s.authenticate("admin", "attacker-pin")
        assert s.profile is None
    finally:
        s.close()


def test_wrong_pin_is_one_line_and_signs_nobody_in(store, clinician):
    store.sign_out()
    with pytest.raises(AuthenticationError) as exc:
        store.authenticate("Dr Test Attending", "not-the-pin")
    assert str(exc.value) == "wrong PIN for profile 'Dr Test Attending'" and store.profile is None
    with pytest.raises(AuthenticationError, match="no profile named 'Dr Nobody'"):
        store.authenticate("Dr Nobody", PIN)
    assert store.authenticate("dr test attending", PIN)["id"] == clinician  # names match case-insensitively


def test_wrong_pin_on_the_cli(safemed_home, monkeypatch, capsys):
    from safemed_desktop.cli import main

    monkeypatch.setenv("SAFEMED_PASSPHRASE", PASSPHRASE)
    assert main(["store", "init", "--admin", "Site Admin"]) == 0
    assert "site administrator Site Admin" in capsys.readouterr().out
    monkeypatch.setenv("SAFEMED_PROFILE_PIN", "wrong-pin-0")
    assert main(["store", "unlock-check", "--as", "Site Admin"]) == 2
    assert capsys.readouterr().err == "safemed: error: wrong PIN for profile 'Site Admin'\n"


# ---------------------------------------------------------------------------------------------- roles
def test_roles_are_enforced_in_the_core(store, clinician, rubric):
    rec = make_answer()
    store.save_answer(rec)
    # a clinician: no profiles, no rekey, no passphrase change, no reviewer decisions, no acting as someone else
    with pytest.raises(PermissionDeniedError, match="attending may not"):
        store.add_profile("Dr Sneaky", "reviewer", "pin-9999")
    with pytest.raises(PermissionDeniedError):
        store.rekey()
    with pytest.raises(PermissionDeniedError):
        store.change_passphrase(PASSPHRASE, "another long passphrase")
    with pytest.raises(PermissionDeniedError, match="only a reviewer may"):
        store.close_model_review(rec.model.sha256)
    other = add_profile(store, "Dr Other", "resident")
    sign_in(store, clinician)
    with pytest.raises(PermissionDeniedError, match="only be recorded as the signed-in profile"):
        store.add_feedback(rec.id, other, rubric, SCORES)
    with pytest.raises(PermissionDeniedError):
        store.record_acknowledgement(rec.id, other, "medication_safety")
    with pytest.raises(PermissionDeniedError):
        store.add_edit(rec.id, "text", other)
    # the audit actor of every write is the signed-in profile
    fid = store.add_feedback(rec.id, clinician, rubric, SCORES)
    actors = dict(store._conn.execute("SELECT row_id, actor FROM audit WHERE table_name IN ('feedback', 'answers')"))
    assert actors == {fid: clinician, rec.id: clinician}  # the answer was saved while the attending was signed in
    # nobody signed in: nothing clinical is read or written
    store.sign_out()
    for call in (lambda: store.get_answer(rec.id), lambda: store.provenance(rec.id), lambda: store.list_answers(),
                 lambda: store.save_answer(make_answer("x"))):
        with pytest.raises(AuthenticationError, match="no profile is signed in"):
            call()


def test_a_reviewer_closes_a_model_review(store, rubric):
    doc = add_profile(store, "Dr Strikes", "attending")
    rev = add_profile(store, "Dr Panel", "reviewer")
    sign_in(store, doc)
    answers = [make_answer(f"q{i}") for i in range(5)]
    store.save_answers(answers)
    for a in answers:
        store.add_feedback(a.id, doc, rubric, {"medical_correctness": 1})
    assert store.provenance(answers[0].id)["strikes"]["under_review"]
    sign_in(store, rev)
    store.close_model_review(answers[0].model.sha256)
    assert store._conn.execute("SELECT status FROM model_reviews").fetchone()[0] == "closed"
    assert store._conn.execute("SELECT actor FROM audit WHERE action = 'close_review'").fetchone()[0] == rev
    with pytest.raises(SafeMedError, match="no open review"):
        store.close_model_review(answers[0].model.sha256)
    assert store.verify().ok


def test_first_profile_must_be_an_admin_and_then_only_admins_add(store_path, anchor_dir):
    s = Store.create(store_path, PASSPHRASE, "site", kdf_params=KdfParams.fast_for_tests(), anchor_dir=anchor_dir)
    try:
        with pytest.raises(PermissionDeniedError, match="first profile of a store must be its site administrator"):
            s.add_profile("Dr First", "attending", PIN)
        admin = s.add_profile("The Admin", "site_admin", ADMIN_PIN)
        with pytest.raises(AuthenticationError, match="no profile is signed in"):
            s.add_profile("Another Admin", "site_admin", ADMIN_PIN)  # the bootstrap is over
        s.authenticate(admin, ADMIN_PIN)
        s.add_profile("Dr Second", "nurse", PIN)
        s.lock()
        with pytest.raises(StoreLockedError):
            s.add_profile("Dr Third", "nurse", PIN)
    finally:
        s.close()


def test_only_a_site_admin_sets_the_guard_policy_through_the_service(safemed_home, tmp_path):
    from safemed_desktop.config import load_config
    from safemed_desktop.service import SafeMedService

    svc = SafeMedService(load_config())
    with svc.create_store(PASSPHRASE, kdf_params=KdfParams.fast_for_tests(), admin_pin=ADMIN_PIN) as store:
        doc, _ = svc.add_profile(store, "Dr Policy", "attending", PIN)
        svc.authenticate(store, doc, PIN)
        with pytest.raises(PermissionDeniedError):
            svc.set_guard_policy(store, {"red_flags": "warn"})
        assert not svc.config.paths.site_config_file.exists()
        svc.authenticate(store, "admin", ADMIN_PIN)
        cfg = svc.set_guard_policy(store, {"red_flags": "warn"})
        assert cfg.guard_action("red_flags") == "warn" and load_config().guard_action("red_flags") == "warn"
