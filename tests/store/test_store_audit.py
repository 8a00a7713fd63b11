"""Audit chain: verify names the first broken link; on-disk tampering is detected and isolated."""

from __future__ import annotations

import sqlite3

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from safemed_desktop.errors import IntegrityError
from safemed_desktop.store import Store
from safemed_desktop.store.audit import checkpoint_message, event_hash, genesis_hash, record_digest

from .conftest import PASSPHRASE, PIN, make_answer


@pytest.fixture
def populated(store, clinician, rubric):
    a = make_answer("Question about amiodarone and digoxin", answer="Halve the digoxin dose; monitor levels.")
    b = make_answer("Question about vancomycin trough", answer="Target AUC-guided dosing.")
    store.save_answers([a, b])
    fa = store.add_feedback(a.id, clinician, rubric, {"medical_correctness": 4}, comment="Comment on amiodarone answer")
    fb = store.add_feedback(b.id, clinician, rubric, {"medical_correctness": 5}, comment="Comment on vancomycin answer")
    store.add_edit(a.id, "Halve the digoxin dose and check levels in 1 week.", clinician)
    return store, a, b, fa, fb


def _reopen(path) -> Store:
    s = Store.open(path)
    s.unlock(PASSPHRASE)
    s.authenticate("Dr Test Attending", PIN)
    return s


def _flip_on_disk(path, needle: bytes, offset: int) -> None:
    data = bytearray(path.read_bytes())
    at = data.find(needle)
    assert at >= 0 and data.find(needle, at + 1) == -1, "needle must occur exactly once on disk"
    data[at + offset] ^= 0x01
    path.write_bytes(bytes(data))


def test_verify_ok_on_a_healthy_store(populated):
    store, *_ = populated
    report = store.verify()
    assert report.ok and report.first_broken is None and report.integrity == "ok"
    assert report.key_authenticated is True
    # 4 meta + key ring + 2 profiles and their credentials + 2 answers + 2 feedback + 1 edit
    assert report.n_events == 14 == report.n_records
    assert report.n_checkpoints == 7  # one signed checkpoint per write transaction
    store.lock()
    locked = store.verify()
    assert locked.ok and locked.key_authenticated is None


def test_ciphertext_byte_changed_on_disk(populated, store_path):
    store, a, b, *_ = populated
    blob = store._conn.execute("SELECT answer_enc FROM answers WHERE id = ?", (a.id,)).fetchone()[0]
    store.close()
    _flip_on_disk(store_path, blob, 20)  # inside the GCM ciphertext
    s = _reopen(store_path)
    try:
        report = s.verify()
        assert not report.ok and report.integrity == "ok"
        assert f"answers/{a.id}): record was altered on disk" in report.first_broken
        with pytest.raises(IntegrityError, match="altered on disk"):
            s.get_answer(a.id)
        assert s.get_answer(b.id) == b  # other records stay readable
        listed = {x["id"]: x for x in s.list_answers()}
        assert "error" in listed[a.id] and listed[b.id]["question"] == b.question
        # the field itself fails authentication too, even bypassing the digest check
        raw = s._conn.execute("SELECT answer_enc FROM answers WHERE id = ?", (a.id,)).fetchone()[0]
        with pytest.raises(IntegrityError, match="failed authentication"):
            s._cipher.decrypt("answers", a.id, "answer_enc", raw)
    finally:
        s.close()


def test_nonce_byte_changed_on_disk(populated, store_path):
    store, a, b, fa, fb = populated
    blob = store._conn.execute("SELECT comment_enc FROM feedback WHERE id = ?", (fa,)).fetchone()[0]
    store.close()
    _flip_on_disk(store_path, blob, 5)  # inside the 96-bit nonce
    s = _reopen(store_path)
    try:
        report = s.verify()
        assert not report.ok and f"feedback/{fa})" in report.first_broken
        prov = s.provenance(a.id)  # shown as failed, with the reason, never with its values
        assert prov["audits"] == [] and [f["id"] for f in prov["integrity"]["failed"]] == [fa]
        assert "altered on disk" in prov["integrity"]["failed"][0]["failed"]
        raw = s._conn.execute("SELECT comment_enc FROM feedback WHERE id = ?", (fa,)).fetchone()[0]
        with pytest.raises(IntegrityError, match="failed authentication"):
            s._cipher.decrypt("feedback", fa, "comment_enc", raw)
        assert s.provenance(b.id)["audits"][0]["comment"] == "Comment on vancomycin answer"
    finally:
        s.close()


def test_metadata_byte_changed_on_disk(populated, store_path):
    store, a, b, fa, fb = populated
    store.close()
    # a clear score: 4 -> 5 (0x34 ^ 0x01 = 0x35)
    _flip_on_disk(store_path, b'{"medical_correctness":4}', len('{"medical_correctness":'))
    s = _reopen(store_path)
    try:
        assert s._conn.execute("SELECT scores FROM feedback WHERE id = ?", (fa,)).fetchone()[0] == \
            '{"medical_correctness":5}'
        report = s.verify()
        assert not report.ok and f"feedback/{fa})" in report.first_broken and "altered" in report.first_broken
        prov = s.provenance(a.id)
        assert prov["audits"] == [] and prov["integrity"]["failed"][0]["failed"].startswith(
            f"feedback record {fa} was altered")
        # the forged 5 is counted nowhere: the track record holds only the other answer's verified 5
        assert prov["track_record"]["overall"]["feedback_count"] == 1
        assert s.get_answer(a.id) == a and s.provenance(b.id)["audits"][0]["scores"] == {"medical_correctness": 5}
    finally:
        s.close()


def _raw(path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), isolation_level=None)
    for t in ("audit", "checkpoints"):
        for op in ("update", "delete"):
            conn.execute(f"DROP TRIGGER {t}_no_{op}")
    return conn


def test_altered_audit_event_is_named(populated, store_path):
    store, *_ = populated
    store.close()
    conn = _raw(store_path)
    conn.execute("UPDATE audit SET actor = 'someone-else' WHERE seq = 7")
    conn.close()
    s = Store.open(store_path)
    try:
        report = s.verify()
        assert not report.ok and report.first_broken.startswith("event #7 ")
        assert "event hash does not match" in report.first_broken
    finally:
        s.close()


def test_deleted_audit_event_and_record_are_detected(populated, store_path):
    store, *_ = populated
    store.close()
    conn = _raw(store_path)
    conn.execute("DELETE FROM audit WHERE seq = 8")
    conn.close()
    s = Store.open(store_path)
    try:
        report = s.verify()
        assert not report.ok and report.first_broken == "event #8 is missing (next event is #9)"
    finally:
        s.close()


def test_recomputed_chain_is_caught_by_checkpoint_signatures(populated, store_path):
    """An attacker edits a score and recomputes every digest and hash; only the signatures give it away."""
    store, a, b, fa, fb = populated
    uuid = store.store_uuid
    store.close()
    conn = _raw(store_path)
    conn.execute("UPDATE feedback SET scores = '{\"medical_correctness\":1}' WHERE id = ?", (fa,))
    _recompute_chain(conn, uuid)
    conn.close()
    s = Store.open(store_path)
    try:
        report = s.verify()
        assert not report.ok and "signature is invalid" in report.first_broken
    finally:
        s.close()


def test_replaced_signing_key_is_caught_when_unlocked(populated, store_path):
    """Forgery with the attacker's own key: a locked verify cannot tell, an unlocked one can."""
    store, a, b, fa, fb = populated
    uuid = store.store_uuid
    store.close()
    conn = _raw(store_path)
    evil = Ed25519PrivateKey.generate()
    pub = evil.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    conn.execute("UPDATE keyring SET sign_public = ?", (pub,))
    conn.execute("UPDATE feedback SET scores = '{\"medical_correctness\":1}' WHERE id = ?", (fa,))
    _recompute_chain(conn, uuid, resign_with=evil)
    conn.close()
    s = Store.open(store_path)
    try:
        assert s.verify().ok  # chain and signatures are self-consistent
        with pytest.raises(IntegrityError):
            s.unlock(PASSPHRASE)  # the encrypted private key is bound to the original public key
    finally:
        s.close()


def _recompute_chain(conn: sqlite3.Connection, store_uuid: str, resign_with=None) -> None:
    events = conn.execute("SELECT seq, ts, actor, action, table_name, row_id, record_digest FROM audit "
                          "ORDER BY seq").fetchall()
    latest = {}
    for e in events:
        latest[(e[4], e[5])] = e[0]
    prev = genesis_hash(store_uuid)
    hashes = {}
    for seq, ts, actor, action, table, row_id, digest in events:
        if latest[(table, row_id)] == seq:
            cur = conn.execute(f"SELECT * FROM {table} WHERE id = ?", (row_id,))
            cols = [d[0] for d in cur.description]
            digest = record_digest(table, dict(zip(cols, cur.fetchone())))
        h = event_hash(prev, seq, ts, actor, action, table, row_id, digest)
        conn.execute("UPDATE audit SET record_digest = ?, prev_hash = ?, hash = ? WHERE seq = ?", (digest, prev, h, seq))
        hashes[seq] = prev = h
    for seq, ts, version, prev_seq in conn.execute("SELECT seq, ts, version, prev_seq FROM checkpoints").fetchall():
        sig = resign_with.sign(checkpoint_message(store_uuid, seq, hashes[seq], ts, prev_seq, version)) \
            if resign_with else None
        if sig is None:
            conn.execute("UPDATE checkpoints SET head_hash = ? WHERE seq = ?", (hashes[seq], seq))
        else:
            conn.execute("UPDATE checkpoints SET head_hash = ?, signature = ? WHERE seq = ?", (hashes[seq], sig, seq))


def test_unsigned_tail_is_reported(populated, store_path):
    store, *_ = populated
    store.close()
    conn = _raw(store_path)
    last = conn.execute("SELECT MAX(seq) FROM checkpoints").fetchone()[0]
    conn.execute("DELETE FROM checkpoints WHERE seq = ?", (last,))
    conn.close()
    s = Store.open(store_path)
    try:
        report = s.verify()
        assert not report.ok and "not covered by a signed checkpoint" in report.first_broken
    finally:
        s.close()


def test_record_inserted_outside_the_app(populated, store_path):
    store, *_ = populated
    store.close()
    conn = sqlite3.connect(str(store_path), isolation_level=None)
    conn.execute("INSERT INTO meta (id, value) VALUES ('injected', 'x')")
    conn.close()
    s = Store.open(store_path)
    try:
        report = s.verify()
        assert not report.ok and "meta/injected has no audit event" in report.first_broken
    finally:
        s.close()
