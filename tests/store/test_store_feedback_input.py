"""Issue 10: `safemed feedback` reads the comment from a file or standard input; `--comment TEXT` warns."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest

from safemed_desktop.cli import main
from safemed_desktop.config import load_config
from safemed_desktop.store import open_store

from .conftest import make_answer

PASS = "correct horse battery staple"
VISIBLE = "visible to other local users"
COMMENT = "Patient Jane Roe: warfarin interaction missed"
DOC_PIN = "resident-pin-4321"


@pytest.fixture
def answer_id(safemed_home, monkeypatch, capsys) -> str:
    monkeypatch.setenv("SAFEMED_PASSPHRASE", PASS)
    assert main(["store", "init"]) == 0
    monkeypatch.setenv("SAFEMED_NEW_PROFILE_PIN", DOC_PIN)
    assert main(["store", "add-profile", "Dr Comment", "--role", "resident"]) == 0
    capsys.readouterr()
    monkeypatch.setenv("SAFEMED_PROFILE", "Dr Comment")  # feedback is given as this resident
    monkeypatch.setenv("SAFEMED_PROFILE_PIN", DOC_PIN)
    rec = make_answer("feedback input question")
    with open_store(load_config()) as s:
        s.unlock(PASS)
        s.authenticate("Dr Comment", DOC_PIN)
        s.save_answer(rec)
    return rec.id


def _comments(answer_id: str) -> list[str | None]:
    with open_store(load_config()) as s:
        s.unlock(PASS)
        s.authenticate("Dr Comment", DOC_PIN)
        return [a["comment"] for a in s.provenance(answer_id)["audits"]]


def test_comment_from_a_file(answer_id, tmp_path, capsys):
    f = tmp_path / "comment.txt"
    f.write_text(COMMENT + "\n", encoding="utf-8")
    assert main(["feedback", answer_id, "--comment-file", str(f), "--score", "medical_correctness=4"]) == 0
    assert VISIBLE not in capsys.readouterr().err
    assert _comments(answer_id) == [COMMENT]


def test_comment_from_stdin(answer_id, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(COMMENT.encode()), encoding="utf-8"))
    assert main(["feedback", answer_id, "--comment-file", "-", "--score", "medical_correctness=4"]) == 0
    assert VISIBLE not in capsys.readouterr().err
    assert _comments(answer_id) == [COMMENT]


def test_comment_as_an_argument_still_works_with_one_warning(answer_id, capsys):
    assert main(["feedback", answer_id, "--comment", COMMENT, "--score", "medical_correctness=4"]) == 0
    err = capsys.readouterr().err
    warnings = [line for line in err.splitlines() if VISIBLE in line]
    assert len(warnings) == 1 and "--comment-file" in warnings[0] and COMMENT not in err
    assert _comments(answer_id) == [COMMENT]


def test_comment_input_errors(answer_id, tmp_path, capsys):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"warfarin \xff missed")
    assert main(["feedback", answer_id, "--comment-file", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not valid UTF-8" in err[0] and "warfarin" not in err[0]
    assert main(["feedback", answer_id, "--comment-file", str(tmp_path / "absent.txt")]) == 2
    assert "not found" in capsys.readouterr().err
    assert main(["feedback", answer_id, "--comment-file", str(bad), "--comment", "x"]) == 2
    assert "once" in capsys.readouterr().err
    assert _comments(answer_id) == []


def test_comment_on_stdin_in_a_subprocess(answer_id, safemed_home):
    env = dict(os.environ, SAFEMED_HOME=str(safemed_home), SAFEMED_PASSPHRASE=PASS)
    proc = subprocess.run([sys.executable, "-m", "safemed_desktop", "feedback", answer_id, "--comment-file", "-",
                           "--score", "medical_correctness=4"],
                          input=COMMENT, capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("feedback ") and proc.stderr == ""
    assert _comments(answer_id) == [COMMENT]
