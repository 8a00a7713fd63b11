"""The conversation list's context menu on the real window (scripted engine): Rename... and Archive run through
the service on the store worker (audited store writes), "Show archived" lists archived conversations and
Unarchive brings one back; and the service's ask assesses a follow-up with its conversation."""

from __future__ import annotations

import threading

import pytest
from PySide6.QtWidgets import QInputDialog

from safemed_desktop.gui.conversation_list import ID_ROLE
from safemed_desktop.records import PatientContext
from safemed_desktop.service import SafeMedService

from .conftest import ask_question as ask, open_workspace
from .fake_engine import DEFAULT_TEXT, FakeEngine

WARFARIN = PatientContext(age=78, egfr=25, medications=("warfarin",))


@pytest.fixture
def engine():
    FakeEngine.text = DEFAULT_TEXT
    FakeEngine.hold_at = None
    FakeEngine.release = threading.Event()
    yield FakeEngine
    FakeEngine.release.set()


def _item(win, cid):
    lst = win.conversation_list.list
    return next((lst.item(i) for i in range(lst.count()) if lst.item(i).data(ID_ROLE) == cid), None)


def _actions(menu) -> dict:
    return {a.text().replace("&", ""): a for a in menu.actions()}


@pytest.mark.gui
def test_rename_archive_and_unarchive_from_the_context_menu(qtbot, make_window, gui_config, engine, monkeypatch):
    win = make_window(gui_config.with_overrides({"max_tokens": 64}, source="test"), engine_factory=engine)
    open_workspace(qtbot, win)
    qtbot.waitUntil(lambda: win.loaded is not None, timeout=30000)
    ask(qtbot, win, "Paracetamol dose for knee pain?")
    win.flow.new_conversation()
    ask(qtbot, win, "Asthma inhaler technique?")
    cl = win.conversation_list
    qtbot.waitUntil(lambda: len(cl.rows) == 2 and all(r["n_turns"] == 1 for r in cl.rows), timeout=10000)
    knee = next(r["id"] for r in cl.rows if r["title"].startswith("Paracetamol"))
    win.flow.open_conversation(knee)
    qtbot.waitUntil(lambda: win.turn_strip.title.text().startswith("Paracetamol"), timeout=10000)

    menu = cl.menu_for(_item(win, knee))
    assert list(_actions(menu)) == ["Rename\u2026", "Archive"]
    assert cl.menu_for(None) is None
    monkeypatch.setattr(QInputDialog, "getText", staticmethod(lambda *a, **k: ("  Mrs K   knee pain ", True)))
    _actions(menu)["Rename\u2026"].trigger()
    qtbot.waitUntil(lambda: any(r["title"] == "Mrs K knee pain" for r in cl.rows), timeout=10000)
    assert win.turn_strip.title.text() == "Mrs K knee pain"  # the open conversation's heading follows
    svc, store = win.service, win.session.store
    assert svc.open_conversation(store, knee).title == "Mrs K knee pain"  # stored

    _actions(cl.menu_for(_item(win, knee)))["Archive"].trigger()
    qtbot.waitUntil(lambda: [r["id"] for r in cl.rows] != [] and knee not in [r["id"] for r in cl.rows],
                    timeout=10000)
    assert cl.count_label.text() == "1 conversation(s)"
    assert svc.open_conversation(store, knee).archived  # hidden, not deleted

    cl.show_archived.setChecked(True)
    qtbot.waitUntil(lambda: knee in [r["id"] for r in cl.rows], timeout=10000)
    assert "archived" in _item(win, knee).text()
    menu = cl.menu_for(_item(win, knee))
    assert list(_actions(menu)) == ["Rename\u2026", "Unarchive"]
    _actions(menu)["Unarchive"].trigger()
    qtbot.waitUntil(lambda: any(r["id"] == knee and not r["archived"] for r in cl.rows), timeout=10000)
    cl.show_archived.setChecked(False)
    qtbot.waitUntil(lambda: knee in [r["id"] for r in cl.rows] and len(cl.rows) == 2, timeout=10000)

    # a cancelled or unchanged rename writes nothing
    monkeypatch.setattr(QInputDialog, "getText", staticmethod(lambda *a, **k: ("Mrs K knee pain", True)))
    seen = []
    cl.rename_requested.connect(lambda *a: seen.append(a))
    cl.ask_rename(knee)
    monkeypatch.setattr(QInputDialog, "getText", staticmethod(lambda *a, **k: ("Other", False)))
    cl.ask_rename(knee)
    assert seen == []


def test_service_ask_screens_a_drugless_follow_up_with_its_conversation(safemed_home, engine):
    svc = SafeMedService(engine_factory=engine)
    svc.load_model()
    screened = []
    history = [("Can I give her ibuprofen for her knee pain?", "Better not.")]
    rec = svc.ask_to_end("And what dose would you use for her?", WARFARIN, history=history,
                         on_screened=lambda sigs, _n: screened.extend(sigs))
    med_q = next(s for s in screened if s.name == "medication_safety")
    assert med_q.level == "alert" and "earlier question in this conversation" in med_q.summary
    med = next(s for s in rec.signals if s.name == "medication_safety")
    assert any(e.rule == "question_renal" and "from the earlier question" in e.detail for e in med.evidence)
    # the same follow-up asked on its own: no question finding, as before
    alone = svc.ask_to_end("And what dose would you use for her?", WARFARIN)
    med = next(s for s in alone.signals if s.name == "medication_safety")
    assert not [e for e in med.evidence if e.target == "question"]
