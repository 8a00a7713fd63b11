"""From the command line: ``safemed ask --conversation`` continues a stored conversation on the real model
(earlier turns read, the turn stored in it); ``safemed doctor`` checks the Qt xcb platform plugin's libraries
and names a missing one with its Debian and RHEL packages."""

from __future__ import annotations

import json

import pytest

from safemed_desktop.service.qt_platform import check_qt_platform, install_hint, missing_from_ldd

PASS, PIN = "cli conversation passphrase", "cli-pin-2468"


def _ask(tmp_path, capsys, question: str, *extra: str) -> dict:
    from safemed_desktop.cli import main

    qfile = tmp_path / "question.txt"
    qfile.write_text(question, encoding="utf-8")
    assert main(["ask", "--file", str(qfile), "--json", *extra]) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_ask_conversation_new_then_continue_on_the_real_model(cli_store, capsys, tmp_path, demo_model_path):
    first = _ask(tmp_path, capsys, "What is the usual adult dose of paracetamol?", "--conversation", "new")
    cid = first["conversation"]["id"]
    assert first["stored"] and first["conversation"]["turn"] == 1
    second = _ask(tmp_path, capsys, "And for a child of 20 kg?", "--conversation", cid)
    assert second["conversation"] == {"id": cid, "turn": 2, "earlier_turns_left_out": 0}

    from safemed_desktop.service import SafeMedService

    svc = SafeMedService()
    store = svc.unlock_store(PASS)
    try:
        svc.authenticate(store, "Dr Admin", PIN)
        conv = svc.open_conversation(store, cid)
    finally:
        store.close()
    assert [t.question for t in conv.turns] == ["What is the usual adult dose of paracetamol?", "And for a child of 20 kg?"]
    assert [t.id for t in conv.turns] == [first["id"], second["id"]]
    from safemed_desktop.cli import main

    (tmp_path / "q.txt").write_text("Follow-up?", encoding="utf-8")
    assert main(["ask", "--file", str(tmp_path / "q.txt"), "--conversation", "no-such-conversation"]) != 0
    err = capsys.readouterr().err
    assert "no conversation with id no-such-conversation" in err and len(err.strip().splitlines()) == 1


def test_doctor_parses_missing_libraries_and_names_their_packages():
    ldd = ("\tlibxcb-cursor.so.0 => not found\n\tlibxcb.so.1 => /lib/x86_64-linux-gnu/libxcb.so.1 (0x1)\n"
           "\tlibxcb-icccm.so.4 => not found\n\tlibxcb-cursor.so.0 => not found\n")
    missing = missing_from_ldd(ldd)
    assert missing == ["libxcb-cursor.so.0", "libxcb-icccm.so.4"]
    hint = install_hint(missing)
    assert "apt-get install libxcb-cursor0 libxcb-icccm4" in hint and "dnf install xcb-util-cursor xcb-util-wm" in hint


def test_doctor_reports_the_plugin_on_this_machine(tmp_path, capsys, safemed_home):
    report = check_qt_platform()
    assert report["status"] in ("ok", "missing_libraries") and report["plugin"].endswith("libqxcb.so")
    # a loader that reports a missing library: the report names it and its packages, and says it cannot load
    fake = tmp_path / "ldd"
    fake.write_text("#!/bin/sh\necho '\tlibxcb-keysyms.so.1 => not found'\n")
    fake.chmod(0o700)
    broken = check_qt_platform(ldd=str(fake))
    assert broken["status"] == "missing_libraries" and broken["missing"] == ["libxcb-keysyms.so.1"]
    assert "libxcb-keysyms1" in broken["message"] and "xcb-util-keysyms" in broken["message"]

    from safemed_desktop.cli import main

    main(["doctor"])
    out = capsys.readouterr().out
    assert "desktop window   Qt xcb plugin: " in out
