"""AES-256-GCM per field, key wrapping, Argon2id (real defaults once), passphrase change and rekey."""

from __future__ import annotations

import json
import sqlite3

import pytest

from safemed_desktop.errors import (AuthenticationError, InputError, IntegrityError, PermissionDeniedError,
                                    StoreLockedError, WrongPassphraseError)
from safemed_desktop.store import KdfParams, Store
from safemed_desktop.store.crypto import NONCE_BYTES, FieldCipher, derive_kek, new_data_key, unwrap_key, wrap_key

from .conftest import ADMIN_PIN, PASSPHRASE, add_profile, make_answer, sign_in


def test_field_cipher_roundtrip_random_nonce_and_aad_binding():
    c = FieldCipher(new_data_key())
    a = c.encrypt("answers", "id-1", "question_enc", "Is ibuprofen safe with eGFR 25?")
    b = c.encrypt("answers", "id-1", "question_enc", "Is ibuprofen safe with eGFR 25?")
    assert a != b and a[1:1 + NONCE_BYTES] != b[1:1 + NONCE_BYTES]  # fresh 96-bit nonce each time
    assert len(a) == 1 + 12 + len("Is ibuprofen safe with eGFR 25?") + 16
    assert c.decrypt("answers", "id-1", "question_enc", a) == "Is ibuprofen safe with eGFR 25?"
    for table, row, col in (("feedback", "id-1", "question_enc"), ("answers", "id-2", "question_enc"),
                            ("answers", "id-1", "answer_enc")):
        with pytest.raises(IntegrityError, match="failed authentication"):
            c.decrypt(table, row, col, a)  # moved to another table, row or column
    tampered = bytearray(a)
    tampered[3] ^= 0x01  # a nonce byte
    with pytest.raises(IntegrityError):
        c.decrypt("answers", "id-1", "question_enc", bytes(tampered))
    with pytest.raises(IntegrityError, match="truncated"):
        c.decrypt("answers", "id-1", "question_enc", a[:10])
    assert c.encrypt("t", "r", "c", None) is None and c.decrypt("t", "r", "c", None) is None


def test_other_data_key_cannot_decrypt():
    blob = FieldCipher(new_data_key()).encrypt("t", "r", "c", "secret")
    with pytest.raises(IntegrityError):
        FieldCipher(new_data_key()).decrypt("t", "r", "c", blob)


def test_wrap_unwrap_and_wrong_kek():
    params = KdfParams.fast_for_tests()
    kek = derive_kek("passphrase one", params)
    assert len(kek) == 32 and derive_kek("passphrase one", params) == kek
    key = new_data_key()
    nonce, wrapped = wrap_key(kek, key, b"aad")
    assert unwrap_key(kek, nonce, wrapped, b"aad") == key
    with pytest.raises(WrongPassphraseError):
        unwrap_key(derive_kek("passphrase two", params), nonce, wrapped, b"aad")
    with pytest.raises(WrongPassphraseError):
        unwrap_key(kek, nonce, wrapped, b"other aad")


def test_scrypt_fallback_derives_a_key():
    p = KdfParams("scrypt", 10, 8, 1).with_new_salt()
    assert len(derive_kek("pass phrase", p)) == 32
    assert derive_kek("pass phrase", p) != derive_kek("pass phrasE", p)


def test_default_argon2id_parameters_create_and_unlock(tmp_path):
    """The real defaults: Argon2id t=3, m=64 MiB, p=2, stored next to the wrapped key."""
    path = tmp_path / "real.db"
    s = Store.create(path, PASSPHRASE, "site-real", admin_pin=ADMIN_PIN)
    try:
        kdf = json.loads(s._conn.execute("SELECT kdf FROM keyring").fetchone()[0])
        assert (kdf["algorithm"], kdf["time_cost"], kdf["memory_cost_kib"], kdf["parallelism"]) == \
            ("argon2id", 3, 65536, 2)
        assert len(bytes.fromhex(kdf["salt_hex"])) == 16
        rec = make_answer()
        s.save_answer(rec)
        s.lock()
        with pytest.raises(WrongPassphraseError):
            s.unlock("not the passphrase")
        s.unlock(PASSPHRASE)
        with pytest.raises(AuthenticationError):  # the passphrase opens the data, a profile must still sign in
            s.get_answer(rec.id)
        s.authenticate("admin", ADMIN_PIN)
        assert s.get_answer(rec.id) == rec
    finally:
        s.close()


def _files(path):
    return {p.name: p.read_bytes() for p in sorted(path.parent.iterdir()) if p.name.startswith(path.name)}


def test_wrong_passphrase_raises_and_writes_nothing(store, store_path):
    rec = make_answer()
    store.save_answer(rec)
    store.close()
    before = _files(store_path)
    s = Store.open(store_path)
    try:
        with pytest.raises(WrongPassphraseError, match="wrong passphrase"):
            s.unlock("a wrong passphrase")
        assert not s.is_unlocked
        with pytest.raises(StoreLockedError):
            s.get_answer(rec.id)
        # 4 meta + key ring + the admin's profile and credential + answer
        assert s._conn.execute("SELECT COUNT(*) FROM audit").fetchone()[0] == 8
    finally:
        s.close()
    assert _files(store_path) == before


def test_change_passphrase_keeps_every_record(store, store_path, clinician, rubric):
    recs = [make_answer(f"question {i}") for i in range(3)]
    store.save_answers(recs)
    fid = store.add_feedback(recs[0].id, clinician, rubric, {"medical_correctness": 4}, comment="kept comment")
    with pytest.raises(PermissionDeniedError):  # an attending may not change the site passphrase
        store.change_passphrase(PASSPHRASE, "brand new passphrase")
    sign_in(store, "admin", ADMIN_PIN)
    with pytest.raises(WrongPassphraseError):
        store.change_passphrase("wrong old passphrase", "brand new passphrase")
    with pytest.raises(InputError, match="at least 8"):
        store.change_passphrase(PASSPHRASE, "short")
    store.change_passphrase(PASSPHRASE, "brand new passphrase")
    store.close()
    s = Store.open(store_path)
    try:
        with pytest.raises(WrongPassphraseError):
            s.unlock(PASSPHRASE)
        s.unlock("brand new passphrase")
        sign_in(s, clinician)
        assert [s.get_answer(r.id) for r in recs] == recs
        assert s.provenance(recs[0].id)["audits"][0]["comment"] == "kept comment"
        assert s.provenance(recs[0].id)["audits"][0]["id"] == fid
        assert s.verify().ok
    finally:
        s.close()


def test_rekey_reencrypts_every_field_without_losing_a_record(store, store_path, clinician, rubric):
    recs = [make_answer(f"question {i}") for i in range(5)]
    store.save_answers(recs)
    store.add_feedback(recs[1].id, clinician, rubric, {"medication_safety": 2}, comment="rekey comment")
    store.add_edit(recs[1].id, "an edited answer", clinician)
    old_blobs = dict(store._conn.execute("SELECT id, question_enc FROM answers").fetchall())
    old_wrapped = store._conn.execute("SELECT wrapped_key FROM keyring").fetchone()[0]
    with pytest.raises(PermissionDeniedError):  # an attending may not rekey
        store.rekey()
    sign_in(store, "admin", ADMIN_PIN)
    store.rekey()
    new_blobs = dict(store._conn.execute("SELECT id, question_enc FROM answers").fetchall())
    assert all(old_blobs[i] != new_blobs[i] for i in old_blobs)
    assert store._conn.execute("SELECT wrapped_key FROM keyring").fetchone()[0] != old_wrapped
    assert store.stats()["key_generation"] == 2
    store.close()
    s = Store.open(store_path)
    try:
        s.unlock(PASSPHRASE)
        sign_in(s, clinician)
        assert [s.get_answer(r.id) for r in recs] == recs
        assert s.edit_history(recs[1].id)[1]["text"] == "an edited answer"
        assert s.provenance(recs[1].id)["audits"][0]["comment"] == "rekey comment"
        report = s.verify()
        assert report.ok, report.problems
        # the old ciphertexts no longer decrypt under the new key
        with pytest.raises(IntegrityError):
            s._cipher.decrypt("answers", recs[0].id, "question_enc", old_blobs[recs[0].id])
    finally:
        s.close()


def test_rekey_refuses_when_a_record_was_tampered(store, clinician, rubric):
    rec = make_answer()
    store.save_answer(rec)
    conn = store._conn
    conn.execute("UPDATE answers SET category = 'tampered' WHERE id = ?", (rec.id,))
    sign_in(store, "admin", ADMIN_PIN)
    with pytest.raises(IntegrityError, match="rekey refused"):
        store.rekey()
    assert store.stats()["key_generation"] == 1
    assert store._conn.execute("SELECT category FROM answers").fetchone()[0] == "tampered"  # rolled back, not laundered


def test_rekey_in_another_process_forces_relock(store, store_path, clinician):
    other = Store.open(store_path)
    try:
        other.unlock(PASSPHRASE)
        sign_in(other, "admin", ADMIN_PIN)
        other.rekey()
    finally:
        other.close()
    with pytest.raises(StoreLockedError, match="re-keyed by another process"):
        store.add_edit(make_answer().id, "text", clinician)
    assert not store.is_unlocked
    store.unlock(PASSPHRASE)
    pid = add_profile(store, "Nurse After Rekey", "nurse")
    assert any(p["id"] == pid for p in store.list_profiles())


def test_keyring_kdf_downgrade_is_detected(store, store_path):
    store.close()
    conn = sqlite3.connect(str(store_path), isolation_level=None)
    kdf = json.loads(conn.execute("SELECT kdf FROM keyring").fetchone()[0])
    kdf["time_cost"] = 1
    conn.execute("UPDATE keyring SET kdf = ?", (json.dumps(kdf),))
    conn.close()
    s = Store.open(store_path)
    try:
        with pytest.raises(IntegrityError, match="keyring record data was altered"):
            s.unlock(PASSPHRASE)
        assert not s.verify().ok
    finally:
        s.close()
