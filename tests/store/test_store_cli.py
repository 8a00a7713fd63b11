"""``safemed store ...`` and ``safemed feedback ...`` end to end (real Argon2id defaults, real files)."""

from __future__ import annotations

import json
import sqlite3


from safemed_desktop.cli import main
from safemed_desktop.config import load_config
from safemed_desktop.store import open_store

TEST_PROFILE_PIN = "test-pin-2468"  # tests/conftest.py: the PIN of the admin `store init` creates
from .conftest import make_answer

PASS = "cli site passphrase"
DOC_PIN = "resident-pin-97"


def act_as(monkeypatch, name: str, pin: str) -> None:
    monkeypatch.setenv("SAFEMED_PROFILE", name)
    monkeypatch.setenv("SAFEMED_PROFILE_PIN", pin)


def test_store_cli_lifecycle(safemed_home, monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("SAFEMED_PASSPHRASE", PASS)
    assert main(["store", "init", "--site-id", "pilot-7"]) == 0
    cfg = load_config()
    assert cfg.paths.store_file.is_file()
    assert "pilot-7" in capsys.readouterr().out
    assert main(["store", "init"]) == 2  # refuses to overwrite
    assert "already exists" in capsys.readouterr().err

    monkeypatch.setenv("SAFEMED_NEW_PROFILE_PIN", DOC_PIN)
    assert main(["store", "add-profile", "Dr CLI", "--role", "resident"]) == 0  # as the site admin (env)
    clinician = capsys.readouterr().out.strip()
    rec = make_answer("cli question", steps=("first", "second", "third"))
    with open_store(cfg) as s:
        s.unlock(PASS)
        s.authenticate("Dr CLI", DOC_PIN)
        assert s.save_answer(rec) == rec.id
    act_as(monkeypatch, "Dr CLI", DOC_PIN)

    edit = tmp_path / "edit.txt"
    edit.write_text("edited by the CLI\n", encoding="utf-8")
    assert main(["feedback", rec.id, "--score", "medical_correctness=2", "--score", "medication_safety=1",
                 "--step", "2:reasoning_structure=3", "--flag", "unsafe", "--comment", "from a script",
                 "--edit-file", str(edit)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("feedback ") and "edit version 1" in out
    assert main(["feedback", rec.id, "--score", "medical_correctness=9"]) == 2
    assert "between 1 and 5" in capsys.readouterr().err
    assert main(["feedback", rec.id, "--score", "nonsense"]) == 2
    assert main(["feedback", rec.id, "--step", "9:reasoning_structure=3", "--score", "clinical_utility=3",
                 "--clinician", clinician]) == 2
    assert "step 9 does not exist" in capsys.readouterr().err

    with open_store(cfg) as s:
        s.unlock(PASS)
        s.authenticate(clinician, DOC_PIN)
        p = s.provenance(rec.id)
    assert len(p["audits"]) == 1
    a = p["audits"][0]
    assert (a["clinician_id"], a["scores"], a["step_scores"], a["flags"], a["comment"]) == \
        (clinician, {"medical_correctness": 2, "medication_safety": 1}, {2: {"reasoning_structure": 3}},
         ["unsafe"], "from a script")
    assert p["edit_history"][1]["text"] == "edited by the CLI\n"

    assert main(["store", "unlock-check"]) == 0
    assert "ok: the passphrase unlocks" in capsys.readouterr().out
    assert main(["store", "verify", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and report["key_authenticated"] is True and report["integrity"] == "ok"
    assert main(["store", "stats", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["records"]["feedback"] == 1 and stats["site_id"] == "pilot-7" and stats["kdf"]["time_cost"] == 3

    # a resident may not rekey nor add profiles; the site administrator may (--as)
    assert main(["store", "rekey"]) == 2
    assert "may not" in capsys.readouterr().err
    assert main(["store", "add-profile", "Dr Evil", "--role", "reviewer"]) == 2
    assert "may not" in capsys.readouterr().err
    monkeypatch.setenv("SAFEMED_PROFILE_PIN", TEST_PROFILE_PIN)
    assert main(["store", "rekey", "--as", "admin"]) == 0
    assert "generation 2" in capsys.readouterr().out
    act_as(monkeypatch, "admin", TEST_PROFILE_PIN)
    monkeypatch.setenv("SAFEMED_NEW_PASSPHRASE", "the next passphrase")
    assert main(["store", "change-passphrase"]) == 0
    assert main(["store", "unlock-check"]) == 2
    assert "wrong passphrase" in capsys.readouterr().err
    monkeypatch.setenv("SAFEMED_PASSPHRASE", "the next passphrase")
    assert main(["store", "unlock-check"]) == 0
    capsys.readouterr()

    # tamper with a score on disk: verify fails, naming the broken link, with exit code 2
    conn = sqlite3.connect(str(cfg.paths.store_file))
    conn.execute("UPDATE feedback SET scores = '{\"medical_correctness\":5}'")
    conn.commit()
    conn.close()
    assert main(["store", "verify", "--locked"]) == 2
    assert "first broken link: event #" in capsys.readouterr().err


def test_cli_prompts_for_a_new_passphrase_twice(safemed_home, monkeypatch, capsys):
    answers = iter(["first passphrase", "different passphrase"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    assert main(["store", "init"]) == 2
    assert "differ" in capsys.readouterr().err
    assert not load_config().paths.store_file.exists()
    answers = iter(["same passphrase", "same passphrase", "same passphrase"])
    assert main(["store", "init"]) == 0
    assert main(["store", "unlock-check"]) == 0


def test_cli_without_a_store(safemed_home, monkeypatch, capsys):
    monkeypatch.setenv("SAFEMED_PASSPHRASE", PASS)
    assert main(["store", "stats"]) == 2
    assert "safemed store init" in capsys.readouterr().err
