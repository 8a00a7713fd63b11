"""Issue 10's smaller store defects: verify/stats respect the idle lock; a failed init leaves nothing behind."""

from __future__ import annotations

import errno
import os

import pytest

from safemed_desktop.cli import main
from safemed_desktop.errors import DiskFullError, StoreError
from safemed_desktop.store import KdfParams, Store
from safemed_desktop.store import store as store_module

from .conftest import ADMIN_PIN, PASSPHRASE, FakeClock, make_answer


@pytest.fixture
def clocked(store_path):
    clock = FakeClock()
    s = Store.create(store_path, PASSPHRASE, "site", kdf_params=KdfParams.fast_for_tests(), idle_lock_minutes=10,
                     clock=clock, admin_pin=ADMIN_PIN)
    s.save_answer(make_answer())
    yield s, clock
    s.close()


def test_verify_applies_the_idle_lock(clocked):
    s, clock = clocked
    assert s.verify().key_authenticated is True  # unlocked and active: the key is checked
    clock.advance(10 * 60)
    report = s.verify()
    assert not s.is_unlocked, "verify ran past the idle lock"
    assert report.ok and report.key_authenticated is None  # verified as a locked store


def test_stats_applies_the_idle_lock(clocked):
    s, clock = clocked
    assert s.stats()["unlocked"] is True
    clock.advance(10 * 60 + 1)
    assert s.stats()["unlocked"] is False
    assert not s.is_unlocked


def test_verify_and_stats_before_the_idle_limit_keep_the_store_unlocked(clocked):
    s, clock = clocked
    clock.advance(9 * 60)
    s.verify()
    s.stats()
    assert s.is_unlocked


def _store_files(home):
    data = home / "data"
    return sorted(p.name for p in data.iterdir()) if data.exists() else []


def test_failed_store_init_leaves_nothing_and_a_later_init_works(safemed_home, monkeypatch, capsys):
    monkeypatch.setenv("SAFEMED_PASSPHRASE", PASSPHRASE)

    def full_disk(self, *args, **kwargs):
        raise DiskFullError("the disk holding the store is full; the write was rolled back")

    with monkeypatch.context() as m:
        m.setattr(Store, "_initialise", full_disk)
        assert main(["store", "init"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) >= 1 and "disk" in err[0] and "full" in err[0]
    assert _store_files(safemed_home) == []  # no safemed.db, -wal, -shm or -journal

    assert main(["store", "init"]) == 0
    assert "created encrypted store" in capsys.readouterr().out
    assert "safemed.db" in _store_files(safemed_home)
    assert main(["store", "unlock-check"]) == 0


def test_disk_full_creating_the_store_file_is_one_line_and_leaves_nothing(safemed_home, monkeypatch, capsys):
    monkeypatch.setenv("SAFEMED_PASSPHRASE", PASSPHRASE)
    real_open = os.open

    def no_space(path, flags, mode=0o777, *a, **kw):
        if str(path).endswith("safemed.db"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_open(path, flags, mode, *a, **kw)

    with monkeypatch.context() as m:
        m.setattr(store_module.os, "open", no_space)
        assert main(["store", "init"]) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    assert "full" in captured.err.splitlines()[0]
    assert _store_files(safemed_home) == []
    assert main(["store", "init"]) == 0


def test_create_never_overwrites_an_existing_file(store_path):
    store_path.parent.mkdir(parents=True, exist_ok=True)
    store_path.write_bytes(b"not mine")
    with pytest.raises(StoreError, match="already exists"):
        Store.create(store_path, PASSPHRASE, "site", kdf_params=KdfParams.fast_for_tests())
    assert store_path.read_bytes() == b"not mine"
