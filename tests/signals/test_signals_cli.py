"""``safemed signals --json``: input from a file or stdin, exact output shape, bad input -> exit 2."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from safemed_desktop.cli import main
from safemed_desktop.signals.pipeline import SIGNAL_ORDER

DOC = {
    "question": "What is the first-line treatment for uncomplicated cystitis in a 30-year-old woman?",
    "answer": "Ciprofloxacin 500 mg twice daily for 3 days.",
    "patient": {"age": 30, "sex": "female"},
}


def run_file(tmp_path, capsys, payload: bytes, *extra):
    f = tmp_path / "in.json"
    f.write_bytes(payload)
    code = main(["signals", "--json", "--file", str(f), *extra])
    return code, capsys.readouterr()


def test_file_input_prints_exactly_the_signals(safemed_home, tmp_path, capsys):
    code, cap = run_file(tmp_path, capsys, json.dumps(DOC).encode())
    assert code == 0
    out = json.loads(cap.out)
    assert list(out) == ["signals"]
    assert [s["name"] for s in out["signals"]] == list(SIGNAL_ORDER)
    for s in out["signals"]:
        assert set(s) == {"name", "level", "score", "summary", "evidence", "source"}
    by = {s["name"]: s for s in out["signals"]}
    assert by["confidence"]["level"] == "not_assessed"  # nothing was generated
    g = by["guideline_consistency"]
    assert g["level"] == "caution" and g["evidence"][0]["text"] == "Ciprofloxacin"


def test_stdin_input(safemed_home, capsys, monkeypatch):
    doc = {"question": "Which antibiotic is first-line for acute otitis media?", "answer": "Amoxicillin 90 mg/kg/day."}
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(json.dumps(doc).encode())))
    assert main(["signals", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert next(s for s in out["signals"] if s["name"] == "guideline_consistency")["level"] == "ok"


def test_reasoning_field_feeds_reasoning_consistency(safemed_home, tmp_path, capsys):
    doc = {"question": "Which is first-line for type 2 diabetes? A) insulin B) metformin",
           "answer": "A) insulin", "reasoning": "Metformin is first-line. So the answer is B."}
    code, cap = run_file(tmp_path, capsys, json.dumps(doc).encode())
    rc = next(s for s in json.loads(cap.out)["signals"] if s["name"] == "reasoning_consistency")
    assert code == 0 and rc["level"] == "alert"


def test_text_output_lists_every_signal(safemed_home, tmp_path, capsys):
    f = tmp_path / "in.json"
    f.write_text(json.dumps(DOC))
    assert main(["signals", "--file", str(f)]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in SIGNAL_ORDER) and "CAUTION" in out


@pytest.mark.parametrize("payload,message", [
    (b'{"question": "caf\xe9"}', "not valid UTF-8"),
    (b'{"question": ', "not valid JSON"),
    (b'{"answer": "x"}', 'no "question"'),
    (b'{"question": "   "}', "question is empty"),
    (b'["question"]', "JSON object"),
    (b'{"question": "q?", "answer": 5}', '"answer" must be text'),
    (b'{"question": "q?", "patient": {"age": "old"}}', "patient age must be a number"),
    (b'{"question": "q?", "colour": "red"}', "unknown field(s): colour"),
])
def test_bad_input_is_a_clear_error(safemed_home, tmp_path, capsys, payload, message):
    code, cap = run_file(tmp_path, capsys, payload)
    assert code == 2 and cap.out == ""
    assert message in cap.err and len(cap.err.strip().splitlines()) == 1


def test_missing_file(safemed_home, tmp_path, capsys):
    assert main(["signals", "--json", "--file", str(tmp_path / "absent.json")]) == 2
    assert "input file not found" in capsys.readouterr().err


def test_subprocess_stdin(safemed_home):
    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, SAFEMED_NETGUARD="1")
    proc = subprocess.run([sys.executable, "-m", "safemed_desktop", "signals", "--json"], input=json.dumps(DOC).encode(),
                          capture_output=True, cwd=root, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode()
    out = json.loads(proc.stdout)
    assert [s["name"] for s in out["signals"]] == list(SIGNAL_ORDER)
    bad = subprocess.run([sys.executable, "-m", "safemed_desktop", "signals", "--json"], input=b"\xff\xfe",
                         capture_output=True, cwd=root, env=env, timeout=120)
    assert bad.returncode == 2 and b"not valid UTF-8" in bad.stderr
