"""The operator's steps on the command line (docs/sync.md), SQLite and PostgreSQL: exit codes, one-line errors."""

from __future__ import annotations

import json

import pytest

from safemed_desktop.cli import main
from safemed_desktop.config import load_config
from safemed_desktop.store import KdfParams, Store
from safemed_desktop.store import crypto

from .conftest import PASSPHRASE, PIN, SITE_PASSPHRASE, make_answer


@pytest.fixture
def cli_env(safemed_home, monkeypatch, tmp_path):
    monkeypatch.setattr(crypto.KdfParams, "default", classmethod(lambda cls: cls.fast_for_tests()))
    monkeypatch.setenv("SAFEMED_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("SAFEMED_SITE_PASSPHRASE", SITE_PASSPHRASE)
    monkeypatch.setenv("SAFEMED_PROFILE", "Dr Cli")
    monkeypatch.setenv("SAFEMED_PROFILE_PIN", PIN)
    path = load_config().paths.store_file
    store = Store.create(path, PASSPHRASE, "site-a", kdf_params=KdfParams.fast_for_tests())
    pid = store.add_profile("Dr Cli", "site_admin", PIN)
    store.authenticate(pid, PIN)
    for i in range(3):
        store.save_answer(make_answer(i))
    store.close()
    return tmp_path


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_operator_steps_end_to_end(cli_env, capsys, db_url):
    t = cli_env
    site = str(t / "site")
    db = ["--db", db_url] if db_url else []
    code, out, _ = run(capsys, "site", "init", "--dir", site, "--site-id", "site-a")
    assert code == 0 and "fingerprint:" in out
    fp = out.split("fingerprint: ")[1].split("  ")[0]
    code, out, _ = run(capsys, "sync", "enroll", str(t / "site" / "site-card.json"))
    assert code == 0 and fp in out
    assert run(capsys, "sync", "card", "--out", str(t / "ws-card.json"))[0] == 0
    code, out, _ = run(capsys, "collect", "accept", str(t / "ws-card.json"), "--site", site, *db)
    assert code == 0 and "enrolled" in out
    code, out, _ = run(capsys, "sync", "status", "--json")
    assert code == 0 and json.loads(out)["records_waiting"] == 4  # 3 answers, 1 profile
    code, out, _ = run(capsys, "sync", "export", "--out", str(t / "b1.smb"), "--json")
    assert code == 0 and json.loads(out)["counts"] == {"answers": 3, "profiles": 1}
    (t / "junk.smb").write_bytes(b"not a bundle")
    code, out, err = run(capsys, "collect", "import", str(t / "b1.smb"), str(t / "junk.smb"), "--site", site,
                         "--acks", str(t / "acks"), *db)
    assert code == 2  # one bundle rejected
    assert "merged" in out and err.count("\n") == 1 and "rejected" in err and "junk.smb" in err
    code, out, _ = run(capsys, "collect", "import", str(t / "b1.smb"), "--site", site, "--acks", str(t / "acks"), *db)
    assert code == 0 and "already imported" in out
    code, out, _ = run(capsys, "collect", "stats", "--site", site, "--json", *db)
    assert code == 0 and json.loads(out)["records"] == {"answers": 3, "profiles": 1}
    (ack,) = (t / "acks").iterdir()
    code, out, _ = run(capsys, "sync", "ack", str(ack))
    assert code == 0 and "advanced" in out
    code, out, _ = run(capsys, "sync", "status", "--json")
    st = json.loads(out)
    assert st["records_waiting"] == 0 and st["last_ack"]["bundle_id"] == st["last_export"]["bundle_id"]
    assert run(capsys, "collect", "pack", "--site", site, "--out", str(t / "pack.json"), *db)[0] == 0
    code, out, _ = run(capsys, "sync", "pull", str(t / "pack.json"))
    assert code == 0 and "version 1" in out


def test_cli_errors_are_one_line(cli_env, capsys):
    t = cli_env
    code, _, err = run(capsys, "sync", "export", "--out", str(t / "b.smb"))
    assert code == 2 and err.count("\n") == 1 and "no site is enrolled" in err
    code, _, err = run(capsys, "collect", "stats", "--site", str(t / "nosite"))
    assert code == 2 and err.count("\n") == 1
    code, _, err = run(capsys, "collect", "stats", "--site", str(t), "--db", "mysql://x")
    assert code == 2 and "postgresql://" in err


def test_only_a_site_administrator_enrolls_a_site(cli_env, capsys, monkeypatch):
    """The enrolled site's key decides whose site packs (approved models, guard policy) the workstation accepts."""
    t = cli_env
    assert run(capsys, "site", "init", "--dir", str(t / "site"), "--site-id", "site-a")[0] == 0
    store = Store.open(load_config().paths.store_file)
    store.unlock(PASSPHRASE)
    store.authenticate("Dr Cli", PIN)
    store.add_profile("Dr Clinician", "attending", "pin-2222-3333")
    store.close()
    monkeypatch.setenv("SAFEMED_PROFILE", "Dr Clinician")
    monkeypatch.setenv("SAFEMED_PROFILE_PIN", "pin-2222-3333")
    code, out, err = run(capsys, "sync", "enroll", str(t / "site" / "site-card.json"))
    assert code != 0 and err.count("\n") == 1 and "administrator" in err.lower()
    assert run(capsys, "sync", "status", "--json")[1] and json.loads(run(capsys, "sync", "status", "--json")[1])["site"] is None
    assert run(capsys, "sync", "enroll", "--as", "Dr Cli", str(t / "site" / "site-card.json"))[0] != 0  # PIN is the clinician's
