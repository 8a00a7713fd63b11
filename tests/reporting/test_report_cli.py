"""``safemed report`` and ``safemed export training`` from the command line, on the fixture store."""

from __future__ import annotations

import json

from safemed_desktop.cli import main

from .conftest import PASSPHRASE, PIN


def _cli(capsys, *args):
    capsys.readouterr()
    rc = main(list(args))
    out, err = capsys.readouterr()
    return rc, out, err


def test_report_and_export_commands(fixture_store, tmp_path, monkeypatch, capsys):
    service, store, ids = fixture_store
    monkeypatch.setenv("SAFEMED_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("SAFEMED_PROFILE_PIN", PIN)
    rc, out, err = _cli(capsys, "report", "--out", str(tmp_path / "rep"), "--no-pdf", "--as", "Dr Att", "--json")
    assert rc == 0, err
    data = json.loads(out)
    assert data["counts"]["feedback"] == 5 and (tmp_path / "rep" / "index.html").is_file()
    rc, out, err = _cli(capsys, "report", "--out", str(tmp_path / "rep2"), "--as", "Dr R1")
    assert rc != 0 and "may not" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "rep2").exists()
    rc, out, err = _cli(capsys, "report", "--out", str(tmp_path / "rep3"), "--db", "postgresql://x/y")
    assert rc != 0 and "--db needs --site" in err
    rc, out, err = _cli(capsys, "export", "training", "--format", "sft", "--out", str(tmp_path / "sft.jsonl"),
                        "--as", "Admin", "--json")
    assert rc == 0, err
    assert json.loads(out) == {"format": "sft", "out": str(tmp_path / "sft.jsonl"), "n": 1, "threshold": 4,
                               "patient_context": False}
    (line,) = (tmp_path / "sft.jsonl").read_text().splitlines()
    assert json.loads(line)["provenance"]["answer_id"] == ids["a2"]
    rc, out, err = _cli(capsys, "export", "training", "--format", "dpo", "--out", str(tmp_path / "d.jsonl"),
                        "--as", "Dr Att")
    assert rc != 0 and "may not" in err and not (tmp_path / "d.jsonl").exists()
