"""Session security: opens locked, idle auto-lock on an injectable clock, keys zeroed on lock."""

from __future__ import annotations

import pytest

from safemed_desktop.errors import StoreLockedError
from safemed_desktop.store import KdfParams, Store

from .conftest import ADMIN_PIN, PASSPHRASE, FakeClock, make_answer


@pytest.fixture
def clocked(store_path):
    clock = FakeClock()
    s = Store.create(store_path, PASSPHRASE, "site", kdf_params=KdfParams.fast_for_tests(), idle_lock_minutes=10,
                     clock=clock, admin_pin=ADMIN_PIN)
    yield s, clock
    s.close()


def test_store_opens_locked(store, store_path):
    rec = make_answer()
    store.save_answer(rec)
    store.close()
    s = Store.open(store_path)
    try:
        assert not s.is_unlocked
        for call in (lambda: s.get_answer(rec.id), lambda: s.list_answers(), lambda: s.add_profile("X Y", "nurse", "pin-1234"),
                     lambda: s.provenance(rec.id)):
            with pytest.raises(StoreLockedError, match="locked"):
                call()
        s.unlock(PASSPHRASE)
        s.authenticate("admin", ADMIN_PIN)
        assert s.get_answer(rec.id) == rec
    finally:
        s.close()


def test_idle_lock_after_configured_minutes(clocked):
    s, clock = clocked
    rec = make_answer()
    s.save_answer(rec)
    clock.advance(9 * 60)
    assert s.idle_seconds == pytest.approx(540)
    assert s.check_idle() is False and s.is_unlocked
    s.touch()
    assert s.idle_seconds == 0
    clock.advance(9 * 60)
    s.get_answer(rec.id)  # activity resets the timer too
    clock.advance(9 * 60)
    assert s.check_idle() is False
    clock.advance(60)
    assert s.check_idle() is True
    assert not s.is_unlocked
    with pytest.raises(StoreLockedError):
        s.get_answer(rec.id)


def test_operations_enforce_idle_lock_even_without_check_idle(clocked):
    s, clock = clocked
    clock.advance(11 * 60)
    with pytest.raises(StoreLockedError):
        s.add_profile("Late Nurse", "nurse", "pin-1234")
    assert s._conn.execute("SELECT COUNT(*) FROM profiles").fetchone()[0] == 1  # the site administrator only
    assert s.profile is None  # locking signs the profile out


def test_lock_zeroes_key_buffers(store):
    data_key, kek = store._data_key, store._kek
    assert any(data_key) and any(kek)
    store.lock()
    assert bytes(data_key) == bytes(32) and bytes(kek) == bytes(32)
    assert store._cipher is None and store._signer is None and not store.is_unlocked
