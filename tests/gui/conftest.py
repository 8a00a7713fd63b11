"""GUI fixtures: an isolated SafeMed home with a user config, and a helper that unlocks a window."""

from __future__ import annotations

import os

import pytest
from PySide6.QtCore import Qt

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from safemed_desktop.config import load_config, write_config_file  # noqa: E402

PASSPHRASE = "correct horse battery"
ADMIN_PIN = "admin-pin-1357"  # the site administrator the lock screen creates the store with
PIN = "clinician-pin-2468"  # the profile open_workspace creates and signs in


@pytest.fixture
def gui_home(safemed_home):
    """SAFEMED_HOME with a user config sized for 2 CPU cores and short answers."""
    cfg = load_config()
    write_config_file(cfg.paths.user_config_file, {"threads": 2, "max_tokens": 48, "context_size": 1024})
    return safemed_home


@pytest.fixture
def gui_config(gui_home):
    return load_config()


@pytest.fixture
def fast_kdf():
    from safemed_desktop.store import KdfParams

    return KdfParams.fast_for_tests()


def open_workspace(qtbot, win, passphrase: str = PASSPHRASE, name: str = "Dr Test", role: str = "attending",
                   timeout: int = 30000) -> None:
    """Drive the real lock screen: first-run store creation, then a new profile."""
    qtbot.waitUntil(lambda: win.service is not None, timeout=timeout)
    ls = win.lock_screen
    assert ls.mode == "create"
    ls.passphrase.setText(passphrase)
    ls.passphrase2.setText(passphrase)
    ls.admin_pin.setText(ADMIN_PIN)
    with qtbot.waitSignal(win.unlocked, timeout=timeout):
        ls.unlock_button.click()
    assert ls.mode == "profile"
    ls.new_name.setText(name)
    ls.new_role.setCurrentText(role)
    ls.new_pin.setText(PIN)
    with qtbot.waitSignal(win.workspace_entered, timeout=timeout):
        ls.create_profile_button.click()
    assert not win.is_locked


def ask_question(qtbot, win, question: str, timeout: int = 30000) -> str:
    """Ask with Ctrl+Enter; wait until this question's answer is shown and saved in the store."""
    win.ask_panel.set_text(question)
    win.activateWindow()  # window shortcuts (Ctrl+Enter) act in the active window
    qtbot.waitUntil(win.isActiveWindow, timeout=5000)
    qtbot.keyClick(win.ask_panel.question, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)

    def saved() -> bool:
        rec = win.answer_view.record
        return rec is not None and rec.question == question.strip() and rec.id in win.test_saved_ids

    qtbot.waitUntil(saved, timeout=timeout)
    return win.answer_view.record.id


@pytest.fixture
def make_window(qtbot, fast_kdf):
    """Factory for real MainWindows; every window is closed (threads joined) at teardown."""
    from safemed_desktop.gui.main_window import MainWindow

    made = []

    def make(config=None, **kwargs):
        kwargs.setdefault("kdf_params", fast_kdf)
        win = MainWindow(config, **kwargs)
        win.test_saved_ids = set()  # answers the window reported saved (its answer_saved signal)
        win.answer_saved.connect(win.test_saved_ids.add)
        made.append(win)
        win.show()
        return win

    yield make
    for win in made:
        win.close()
