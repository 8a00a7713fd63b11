"""``safemed-desktop --selftest``: the real window, offscreen, end to end, on a temporary store.

Steps: create a temporary store (first-run screen), create a profile, wait for the demo model, ask one
question, score the answer (whole answer, a reasoning step if any, an edit), submit, then verify the
store: audit chain intact, the answer and its feedback read back, the question not in clear on disk.
Exit 0 on success; otherwise non-zero with the reason on stderr.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

QUESTION = "What is the usual adult dose of paracetamol for fever?"
PASSPHRASE = "selftest-passphrase-1"


class SelfTestFailure(Exception):
    pass


def run_selftest(timeout_s: float = 300.0) -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    with tempfile.TemporaryDirectory(prefix="safemed-selftest-") as tmp:
        os.environ["SAFEMED_HOME"] = tmp
        for var in ("SAFEMED_MODEL", "SAFEMED_GPU_LAYERS", "SAFEMED_PASSPHRASE"):
            os.environ.pop(var, None)
        try:
            return _run(Path(tmp), timeout_s)
        except SelfTestFailure as exc:
            print(f"safemed-desktop selftest: FAILED: {exc}", file=sys.stderr)
            return 1


def _run(home: Path, timeout_s: float) -> int:
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from ..config import load_config
    from ..errors import SafeMedError
    from .main_window import MainWindow
    from .theme import apply_theme

    app = QApplication.instance() or QApplication(["safemed-desktop", "--selftest"])
    apply_theme(app, "light", 1.0)
    t0 = time.monotonic()
    try:
        config = load_config().with_overrides({"threads": min(2, os.cpu_count() or 1), "max_tokens": 96},
                                              source="selftest")
    except SafeMedError as exc:
        raise SelfTestFailure(f"configuration: {exc}") from exc
    win = MainWindow(config, report_errors_to_stderr=True)
    errors: list[str] = []
    win.error_shown.connect(lambda title, text: errors.append(f"{title}: {text}"))
    win.show()

    def wait_for(what: str, signal: Any, action: Callable[[], None] | None = None,
                 ready: Callable[[], bool] | None = None) -> list[Any]:
        """Run the event loop until ``signal`` fires (or ``ready()`` is already true)."""
        got: list[Any] = []
        loop = QEventLoop()

        def on(*args: Any) -> None:
            got.append(args)
            loop.quit()

        def on_error(title: str, text: str) -> None:
            loop.quit()

        signal.connect(on)
        win.error_shown.connect(on_error)
        left_ms = int((timeout_s - (time.monotonic() - t0)) * 1000)
        if left_ms <= 0:
            raise SelfTestFailure(f"timed out before: {what}")
        timer = QTimer()
        timer.setSingleShot(True)
        timer.timeout.connect(loop.quit)
        timer.start(left_ms)
        try:
            if ready is not None and ready():
                return [()]
            if action is not None:
                action()
            if not got:
                loop.exec()
        finally:
            signal.disconnect(on)
            win.error_shown.disconnect(on_error)
            timer.stop()
        if errors:
            raise SelfTestFailure(f"{what}: {errors[-1]}")
        if not got:
            raise SelfTestFailure(f"timed out waiting for: {what}")
        return got[0]

    try:
        wait_for("the window to show", win.shown, ready=lambda: win.isVisible())
        wait_for("the service to start", win.service_ready, ready=lambda: win.service is not None)
        if win.lock_screen.mode != "create":
            raise SelfTestFailure(f"expected the first-run screen on a new store, got {win.lock_screen.mode!r}")

        def create() -> None:
            win.lock_screen.passphrase.setText(PASSPHRASE)
            win.lock_screen.passphrase2.setText(PASSPHRASE)
            win.lock_screen.admin_pin.setText(PASSPHRASE)  # the site administrator's PIN
            win.lock_screen.unlock_button.click()

        wait_for("the store to be created", win.unlocked, create)

        def profile() -> None:
            win.lock_screen.new_name.setText("Selftest Reviewer")
            win.lock_screen.new_role.setCurrentText("reviewer")
            win.lock_screen.new_pin.setText(PASSPHRASE)
            win.lock_screen.create_profile_button.click()

        wait_for("the profile", win.workspace_entered, profile)
        wait_for("the demo model to load", win.model_ready, ready=lambda: win.loaded is not None)
        if not win.loaded.identity.demo or win.demo_banner.isHidden():
            raise SelfTestFailure("the demo model is loaded but the demo banner is not shown")

        tokens: list[Any] = []
        win.token_received.connect(lambda ev: tokens.append(ev))

        def ask() -> None:
            win.ask_panel.set_text(QUESTION)
            win.ask_panel.ask_button.click()

        (answer_id,) = wait_for("the answer to be generated and saved", win.answer_saved, ask)
        record = win.answer_view.record
        if record is None or record.id != answer_id:
            raise SelfTestFailure("the answer view does not show the saved answer")
        if record.blocked:
            raise SelfTestFailure(f"the selftest question was blocked by the guard: {record.block_reason}")
        if not tokens:
            raise SelfTestFailure("no tokens streamed")
        if len(win.answer_view.badges.badges) != len(record.signals) or not record.signals:
            raise SelfTestFailure("the trust-signal badges are missing")
        wait_for("the rubric", win.provenance_updated, ready=lambda: win.rubric is not None and
                 win.feedback_panel.isEnabled())

        fp = win.feedback_panel
        for key in fp.groups:
            fp.set_score(key, 4)
        if record.reasoning_steps and fp.step_combos:
            fp.set_step_score(0, next(iter(fp.step_combos)), 3)
        fp.comment.setPlainText("selftest feedback")
        fp.set_edited_text((record.answer or "(no answer)") + "\n[edited by selftest]")
        wait_for("the feedback to be saved", win.feedback_saved, fp.submit)
        if win.provenance_panel.audit_count() != 1:
            raise SelfTestFailure("the provenance panel does not show the new audit")

        store = win.store
        fut = win.executor.submit(lambda: (store.verify(), store.get_answer(answer_id), store.provenance(answer_id)))
        while not fut.done():  # earlier store calls settle first
            wait_for("the store to be verified", win.executor.settled, ready=fut.done)
        report, back, prov = fut.result()
        if not report.ok:
            raise SelfTestFailure(f"store verification failed at {report.first_broken}")
        if back.question != QUESTION:
            raise SelfTestFailure("the stored answer does not read back")
        if len(prov["audits"]) != 1 or len(prov["edit_history"]) != 2:
            raise SelfTestFailure(f"expected 1 audit and 2 answer versions, got {len(prov['audits'])} and "
                                  f"{len(prov['edit_history'])}")
        raw = b"".join(p.read_bytes() for p in win.service.store_path.parent.glob("safemed.db*"))
        if QUESTION.encode() in raw:
            raise SelfTestFailure("the question is stored in clear text")
        print(f"safemed-desktop selftest: OK ({len(tokens)} tokens, {len(record.signals)} signals, "
              f"answer {answer_id[:8]}, {report.n_events} audit events, {time.monotonic() - t0:.1f} s)")
        return 0
    finally:
        win.close()
        app.processEvents()
