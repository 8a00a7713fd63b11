"""Screenshot of the real main window mid-answer, on the real demo model (for docs/).

``xvfb-run -a python -m safemed_desktop.gui.screenshot docs/screenshot-main-window.png``

In a real X11 session with a window manager (``tools/screenshots.sh`` starts Xvfb and openbox at a given
screen size): ``python -m safemed_desktop.gui.screenshot --x11 docs/screenshots/window-1024x700.png``.

A temporary store and profile, one finished answer (so badges, feedback and provenance are filled),
then a second question captured while its tokens stream in.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

FIRST = "What is the usual adult dose of paracetamol for fever?"
SECOND = "Can this patient take ibuprofen for knee pain, given her kidney function and warfarin?"


def take(out: Path, *, theme: str = "light", font_scale: float = 1.0, mid_tokens: int = 40) -> Path:
    from PySide6.QtWidgets import QApplication

    from ..config import load_config
    from ..records.patient import PatientContext
    from .eventloop import run_until as wait_until
    from .main_window import MainWindow
    from .theme import apply_theme

    app = QApplication.instance() or QApplication(["safemed-desktop"])
    apply_theme(app, theme, font_scale)
    config = load_config().with_overrides({"threads": min(2, os.cpu_count() or 1), "max_tokens": 64},
                                          source="screenshot")
    win = MainWindow(config)
    win.resize(1500, 940)
    win.show()

    def run_until(pred, timeout_s: float = 400) -> None:
        wait_until(pred, timeout_s, "screenshot")

    try:
        run_until(lambda: win.service is not None)
        win.lock_screen.passphrase.setText("screenshot-passphrase")
        win.lock_screen.passphrase2.setText("screenshot-passphrase")
        win.lock_screen.admin_pin.setText("screenshot-pin")
        win.lock_screen.unlock_button.click()
        run_until(lambda: win.lock_screen.mode == "profile")
        win.lock_screen.new_name.setText("Dr. A. Example")
        win.lock_screen.new_role.setCurrentText("attending")
        win.lock_screen.new_pin.setText("screenshot-pin")
        win.lock_screen.create_profile_button.click()
        run_until(lambda: not win.is_locked and win.loaded is not None and win.rubric is not None)
        win.patient_panel.set_patient(PatientContext(age=72, sex="female", weight_kg=58, egfr=28,
                                                     allergies=("penicillin",), medications=("warfarin", "metformin")))
        done: list = []
        win.answer_saved.connect(done.append)
        win.ask_panel.set_text(FIRST)
        win.ask_panel.ask_button.click()
        run_until(lambda: bool(done))
        run_until(lambda: win.provenance_panel.prov is not None)
        win.side_tabs.setCurrentWidget(win.history_panel)
        win.ask_panel.set_text(SECOND)
        win.ask_panel.ask_button.click()
        run_until(lambda: win.answer_view.n_tokens >= mid_tokens or win.answer_view.record is not None)
        win.answer_view.flush()
        app.processEvents()
        out.parent.mkdir(parents=True, exist_ok=True)
        if not win.grab().save(str(out)):
            raise RuntimeError(f"could not write {out}")
        win.flow.stop()
        run_until(lambda: not win.controller.busy)
    finally:
        win.close()
    return out


def take_conversation_x11(out: Path, *, turns: tuple[str, ...] = (SECOND, "And what can she take instead?"),
                          max_tokens: int = 48) -> Path:
    """The real window maximized in a real X11 session (Xvfb + a window manager, ``DISPLAY`` set): a
    conversation of ``turns`` on the real demo model for a 78-year-old on warfarin with eGFR 25, captured
    from the X server's root window (``import -window root``, ImageMagick), so the window manager's frame and
    the screen's real size are in the picture."""
    import subprocess

    from PySide6.QtWidgets import QApplication

    from ..config import load_config
    from ..records.patient import PatientContext
    from .eventloop import run_until as wait_until
    from .main_window import MainWindow
    from .theme import apply_theme

    app = QApplication.instance() or QApplication(["safemed-desktop"])
    apply_theme(app, "light", 1.0)
    config = load_config().with_overrides({"threads": min(2, os.cpu_count() or 1), "max_tokens": max_tokens,
                                           "temperature": 0.0}, source="screenshot")
    win = MainWindow(config)
    win.showMaximized()

    def run_until(pred, timeout_s: float = 400) -> None:
        wait_until(pred, timeout_s, "screenshot")

    try:
        run_until(lambda: win.service is not None)
        ls = win.lock_screen
        ls.passphrase.setText("screenshot-passphrase")
        ls.passphrase2.setText("screenshot-passphrase")
        ls.admin_pin.setText("screenshot-admin-pin")
        ls.unlock_button.click()
        run_until(lambda: ls.mode == "profile")
        ls.new_name.setText("Dr Jane Tester")
        ls.new_role.setCurrentText("attending")
        ls.new_pin.setText("screenshot-pin")
        ls.create_profile_button.click()
        run_until(lambda: not win.is_locked and win.loaded is not None and win.rubric is not None)
        win.patient_panel.set_patient(PatientContext(age=78, sex="female", weight_kg=58, egfr=25,
                                                     medications=("warfarin",)))
        for q in turns:
            saved: list = []
            win.answer_saved.connect(saved.append)
            win.ask_panel.set_text(q)
            win.ask_panel.ask_button.click()
            run_until(lambda: bool(saved))
            win.answer_saved.disconnect(saved.append)
        run_until(lambda: win.turn_strip.list.count() == len(turns) and win.provenance_panel.prov is not None)
        run_until(lambda: len(win.conversation_list.rows) == 1, 30)
        win.answer_view.flush()
        for _ in range(20):
            app.processEvents()
        out.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["import", "-window", "root", str(out)], check=True, timeout=60)
    finally:
        win.close()
    return out


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] == "--x11":  # python -m safemed_desktop.gui.screenshot --x11 OUT.png (DISPLAY set)
        out = Path(args[1]).resolve()
        with tempfile.TemporaryDirectory(prefix="safemed-shot-") as home:
            os.environ["SAFEMED_HOME"] = home
            take_conversation_x11(out)
        print(out)
        return 0
    out = Path(args[0] if args else "docs/screenshot-main-window.png").resolve()
    with tempfile.TemporaryDirectory(prefix="safemed-shot-") as home:
        os.environ["SAFEMED_HOME"] = home
        take(out)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
