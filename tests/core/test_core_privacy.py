"""Issue 10: nothing clinical outside the store. What SafeMed creates is 0700/0600 whatever the umask;
an error names the field, not the patient's value."""

from __future__ import annotations

import json
import os
import stat

import pytest

from safemed_desktop import model_registry
from safemed_desktop.cli import main
from safemed_desktop.config import load_config, write_config_file
from safemed_desktop.paths import make_dir, write_file_atomic
from safemed_desktop.service import SafeMedService
from safemed_desktop.store import KdfParams

PASS = "correct horse battery staple"


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _modes(root) -> dict[str, int]:
    return {str(p.relative_to(root)): stat.S_IMODE(p.stat().st_mode) for p in sorted(root.rglob("*"))}


def test_every_path_the_app_creates_is_private(safemed_home, umask_022, tmp_path):
    cfg = load_config()
    service = SafeMedService(cfg)
    write_config_file(cfg.paths.user_config_file, {"threads": 2})
    model = tmp_path / "tiny.gguf"
    model.write_bytes(b"GGUF" + bytes(64))
    model_registry.file_sha256(cfg, model)  # writes the hash cache
    with service.create_store(PASS, kdf_params=KdfParams.fast_for_tests(), admin_pin="admin-pin-1") as store:
        store.add_profile("Dr Modes", "nurse", "nurse-pin-2")
        names = {p.name for p in cfg.paths.data_dir.iterdir()}
        assert {"safemed.db", "safemed.db-wal", "safemed.db-shm"} <= names  # checked while SQLite holds them
        modes = _modes(safemed_home)
    for expected in ("config", "config/user.toml", "cache", "cache/model_hashes.json", "data", "data/safemed.db"):
        assert expected in modes
    for rel, mode in modes.items():
        want = 0o700 if (safemed_home / rel).is_dir() else 0o600
        assert mode == want, f"{rel} is {mode:o}, not {want:o}"


def test_store_init_from_the_cli_is_private(safemed_home, umask_022, monkeypatch, capsys):
    monkeypatch.setenv("SAFEMED_PASSPHRASE", PASS)
    assert main(["store", "init"]) == 0
    modes = _modes(safemed_home)
    assert modes["data"] == 0o700 and modes["data/safemed.db"] == 0o600
    assert all(m == 0o600 for rel, m in modes.items() if rel.startswith("data/safemed.db"))


def test_make_dir_creates_missing_parents_private_and_leaves_existing_ones(tmp_path, umask_022):
    tmp_path.chmod(0o755)
    make_dir(tmp_path / "a" / "b" / "c")
    assert stat.S_IMODE(tmp_path.stat().st_mode) == 0o755  # not ours: untouched
    for rel in ("a", "a/b", "a/b/c"):
        assert stat.S_IMODE((tmp_path / rel).stat().st_mode) == 0o700
    write_file_atomic(tmp_path / "a" / "f.txt", "x")
    assert stat.S_IMODE((tmp_path / "a" / "f.txt").stat().st_mode) == 0o600
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["b", "f.txt"]  # no temporary file left


@pytest.mark.parametrize("patient, field, value", [
    ({"age": 987}, "age", "987"),
    ({"egfr": "forty-two"}, "egfr", "forty-two"),
    ({"sex": "hermaphroditic"}, "sex", "hermaphroditic"),
])
def test_cli_errors_name_the_field_not_the_patient_value(safemed_home, tmp_path, capsys, patient, field, value):
    f = tmp_path / "in.json"
    f.write_text(json.dumps({"question": "q?", "answer": "a.", "patient": patient}), encoding="utf-8")
    assert main(["signals", "--json", "--file", str(f)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"patient {field}" in err[0] and value not in err[0]
