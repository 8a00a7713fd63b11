"""The main window: lock screen <-> workspace (ask, patient, answer, feedback, provenance, history).

The window keeps the layout, the menus, the status bar and the one error path. Who is at the
workstation (store, profile, lock) is the :class:`SessionController`'s; asking, recording and
feedback are the :class:`AnswerFlow`'s; the model lives on the model worker. Store work runs as
operations (``ops``) that report what changed, and :meth:`MainWindow.on_changes` is the one place
that refreshes panels after a change.
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QApplication, QGroupBox, QLabel, QMainWindow, QMessageBox, QProgressBar,
                               QScrollArea, QSplitter, QStackedWidget, QTabWidget, QVBoxLayout, QWidget)

from ..config import Config, load_config
from ..errors import SafeMedError, StoreLockedError
from .answer_flow import AnswerFlow
from .answer_view import AnswerView
from .ask_panel import AskPanel
from .feedback_panel import FeedbackPanel
from .history import HistoryPanel
from .lock_screen import LockScreen
from .ops import Changes, StoreOps
from .patient_panel import PatientPanel
from .provenance_panel import ProvenancePanel
from .session import SessionController
from .settings_dialog import SettingsDialog
from .theme import THEMES, apply_theme, icon
from .workers import ModelController, StoreExecutor

if TYPE_CHECKING:
    from ..service import LoadedModel, Rubric, SafeMedService, Store, VerifyReport

ACTIVITY_EVENTS = {QEvent.Type.KeyPress, QEvent.Type.MouseButtonPress, QEvent.Type.MouseMove, QEvent.Type.Wheel}


class ActivityFilter(QObject):
    """Application-wide event filter: user input resets the store's idle timer (at most once a second)."""

    def __init__(self, window: "MainWindow"):
        super().__init__(window)
        self.window = window
        self._last = 0.0

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt API)
        if event.type() in ACTIVITY_EVENTS:
            now = time.monotonic()
            if now - self._last >= 1.0:
                self._last = now
                self.window.user_activity()
        return False


class MainWindow(QMainWindow):
    shown = Signal()  # first time the window is on screen
    service_ready = Signal()
    model_ready = Signal(object)  # LoadedModel
    model_failed = Signal(str)
    unlocked = Signal()
    workspace_entered = Signal()
    locked = Signal(str)  # reason: "manual" | "idle"
    token_received = Signal(object)  # TokenEvent, on the GUI thread (after the view got it)
    answer_finished = Signal(object)  # AnswerRecord (shown)
    answer_saved = Signal(str)
    feedback_saved = Signal(str)  # answer id
    provenance_updated = Signal(str)  # answer id
    history_updated = Signal(int)
    acknowledged = Signal(str)
    error_shown = Signal(str, str)  # title, text

    def __init__(self, config: Config | None = None, *, engine_factory: Any = None, kdf_params: Any = None,
                 idle_check_ms: int = 1000, autostart: bool = True, report_errors_to_stderr: bool = False):
        super().__init__()
        # The model worker's Python loop holds the GIL in slices of this length; shorter slices let the
        # GUI thread in sooner while tokens stream (default 5 ms).
        sys.setswitchinterval(0.001)
        self.config = config or load_config()
        self.kdf_params = kdf_params
        self.report_errors_to_stderr = report_errors_to_stderr
        self.service: SafeMedService | None = None  # built on the model worker, then handed over
        self.loaded: LoadedModel | None = None  # shown only; the model worker alone uses it
        self.last_error_box: QMessageBox | None = None
        self.settings_dialog: SettingsDialog | None = None
        self._shown_once = False

        self.setWindowTitle("SafeMed Desktop")
        self.setWindowIcon(icon("app"))
        self.resize(1360, 860)
        self.executor = StoreExecutor(self)
        self.executor.error.connect(lambda exc: self.show_error("Store error", exc))
        self.ops = StoreOps(self.executor, self)
        self.ops.failed.connect(self.show_error)
        self.ops.changed.connect(self.on_changes)
        self.session = SessionController(self, kdf_params)
        self.flow = AnswerFlow(self)
        self.controller = ModelController(engine_factory, self)
        w = self.controller.worker
        w.service_ready.connect(self._on_service_ready)
        w.progress.connect(self._on_progress)
        w.loaded.connect(self._on_loaded)
        w.load_failed.connect(self._on_load_failed)
        w.token.connect(self.flow.on_token)
        w.finished.connect(self.flow.on_finished)
        w.failed.connect(self.flow.on_failed)
        self.session.unlocked.connect(self.unlocked)
        self.session.locked.connect(self._on_locked)
        self.session.profile_entered.connect(self._enter_workspace)
        for name in ("token_received", "answer_finished", "answer_saved", "feedback_saved", "acknowledged"):
            getattr(self.flow, name).connect(getattr(self, name))

        self._build_ui()
        self._build_menus()
        self._build_status_bar()
        self.activity_filter = ActivityFilter(self)
        app = QApplication.instance()
        if app is not None:
            app.installEventFilter(self.activity_filter)
        self.idle_timer = QTimer(self)
        self.idle_timer.setInterval(idle_check_ms)
        self.idle_timer.timeout.connect(self.session.check_idle)
        self.idle_timer.start()
        if autostart:
            self.start_backend()

    # ------------------------------------------------------------------ UI
    def _build_ui(self) -> None:
        self.stack = QStackedWidget()
        self.setCentralWidget(self.stack)
        self.lock_screen = LockScreen()
        self.lock_screen.unlock_requested.connect(self.session.unlock)
        self.lock_screen.create_requested.connect(self.session.create_store)
        self.lock_screen.profile_chosen.connect(self.session.choose_profile)
        self.lock_screen.profile_create_requested.connect(self.session.create_profile)
        self.stack.addWidget(self.lock_screen)

        self.workspace = QWidget()
        wl = QVBoxLayout(self.workspace)
        self.demo_banner = QLabel("Demo model \u2014 not clinically validated. Do not use its answers for patient care.")
        self.demo_banner.setObjectName("banner_demo")
        self.demo_banner.setAccessibleName("Demo model warning")
        self.demo_banner.setWordWrap(True)
        self.demo_banner.hide()
        self.unapproved_banner = QLabel("UNAPPROVED model: no site manifest names this model file.")
        self.unapproved_banner.setObjectName("banner_unapproved")
        self.unapproved_banner.setAccessibleName("Unapproved model warning")
        self.unapproved_banner.setWordWrap(True)
        self.unapproved_banner.hide()
        wl.addWidget(self.demo_banner)
        wl.addWidget(self.unapproved_banner)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        self.ask_panel = AskPanel()
        self.ask_panel.ask_requested.connect(self.flow.ask)
        self.ask_panel.stop_requested.connect(self.flow.stop)
        ll.addWidget(self.ask_panel, 2)
        pbox = QGroupBox("Patient context (optional)")
        pl = QVBoxLayout(pbox)
        pscroll = QScrollArea()
        pscroll.setWidgetResizable(True)
        self.patient_panel = PatientPanel()
        pscroll.setWidget(self.patient_panel)
        pl.addWidget(pscroll)
        ll.addWidget(pbox, 3)
        splitter.addWidget(left)

        self.answer_view = AnswerView()
        self.answer_view.step_selected.connect(self._on_step_selected)
        self.answer_view.acknowledge_requested.connect(self.flow.acknowledge)
        self.answer_view.tokens_per_second.connect(lambda r: self.tps_label.setText(f"{r:.1f} tokens/s"))
        splitter.addWidget(self.answer_view)

        self.side_tabs = QTabWidget()
        self.side_tabs.setAccessibleName("Feedback, provenance and history")
        self.feedback_panel = FeedbackPanel()
        self.feedback_panel.submitted.connect(self.flow.submit_feedback)
        self.provenance_panel = ProvenancePanel()
        self.history_panel = HistoryPanel()
        self.history_panel.search_requested.connect(self.refresh_history)
        self.history_panel.open_requested.connect(self.flow.open_answer)
        self.side_tabs.addTab(self.feedback_panel, "&Feedback")
        self.side_tabs.addTab(self.provenance_panel, "P&rovenance")
        self.side_tabs.addTab(self.history_panel, "&History")
        splitter.addWidget(self.side_tabs)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 5)
        splitter.setStretchFactor(2, 4)
        splitter.setSizes([380, 560, 420])
        wl.addWidget(splitter, 1)
        self.stack.addWidget(self.workspace)
        self.stack.setCurrentWidget(self.lock_screen)
        self.setTabOrder(self.ask_panel.question, self.ask_panel.ask_button)
        self.setTabOrder(self.ask_panel.ask_button, self.ask_panel.stop_button)

    def _build_menus(self) -> None:
        mb = self.menuBar()
        file_menu = mb.addMenu("&File")
        self.act_load_patient = QAction("&Load patient context...", self, shortcut=QKeySequence("Ctrl+O"),
                                        triggered=self.patient_panel.choose_file)
        self.act_lock = QAction("Loc&k now", self, shortcut=QKeySequence("Ctrl+L"), triggered=self.session.lock_now)
        self.act_quit = QAction("&Quit", self, shortcut=QKeySequence.StandardKey.Quit, triggered=self.close)
        for a in (self.act_load_patient, self.act_lock, self.act_quit):
            file_menu.addAction(a)
        view = mb.addMenu("&View")
        for theme in THEMES:
            view.addAction(QAction(f"{theme.capitalize()} theme", self, triggered=lambda _=False, t=theme: self.set_theme(t)))
        view.addSeparator()
        view.addAction(QAction("&Larger text", self, shortcut=QKeySequence.StandardKey.ZoomIn,
                               triggered=lambda: self.scale_font(+0.25)))
        view.addAction(QAction("&Smaller text", self, shortcut=QKeySequence.StandardKey.ZoomOut,
                               triggered=lambda: self.scale_font(-0.25)))
        view.addAction(QAction("&Normal text size", self, shortcut=QKeySequence("Ctrl+0"),
                               triggered=lambda: self.scale_font(None)))
        tools = mb.addMenu("&Tools")
        self.act_settings = QAction("&Settings...", self, shortcut=QKeySequence("Ctrl+,"), triggered=self.open_settings)
        self.act_verify = QAction("&Verify store integrity", self, triggered=self.verify_store)
        tools.addAction(self.act_settings)
        tools.addAction(self.act_verify)
        for key, tab in (("Alt+1", 0), ("Alt+2", 1), ("Alt+3", 2)):
            self.addAction(QAction(self, shortcut=QKeySequence(key),
                                   triggered=lambda _=False, t=tab: self.side_tabs.setCurrentIndex(t)))

    def _build_status_bar(self) -> None:
        sb = self.statusBar()
        self.model_label = QLabel("Model: starting...")
        self.model_label.setAccessibleName("Model status")
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setMaximumWidth(180)
        self.progress.setAccessibleName("Model loading progress")
        self.tps_label = QLabel("")
        self.tps_label.setAccessibleName("Tokens per second")
        self.store_label = QLabel("Store: locked")
        self.store_label.setAccessibleName("Store status")
        sb.addWidget(self.model_label, 1)
        sb.addPermanentWidget(self.progress)
        sb.addPermanentWidget(self.tps_label)
        sb.addPermanentWidget(self.store_label)

    def showEvent(self, event: Any) -> None:  # noqa: N802
        super().showEvent(event)
        if not self._shown_once:
            self._shown_once = True
            self.shown.emit()

    # ------------------------------------------------------------------ errors
    def show_error(self, title: str, error: BaseException | str) -> QMessageBox | None:
        """A non-blocking message box with the error's one-line message (the app stays usable).

        A store that locked itself (idle) while a call was queued sends the clinician to the lock
        screen instead: the drafts stay, unsaved answers are retried after the next unlock.
        """
        if isinstance(error, StoreLockedError) and self.store is not None:
            if not self.is_locked:
                self.session.show_locked("idle")
            self.lock_screen.message.setText(f"{title}: {error}. Unlock to continue; your drafts are kept.")
            return None
        text = str(error)
        if isinstance(error, BaseException) and not isinstance(error, SafeMedError):
            text = f"{type(error).__name__}: {error}"
        if self.report_errors_to_stderr:
            print(f"safemed-desktop: {title}: {text}", file=sys.stderr)
            tb = getattr(error, "safemed_traceback", None)
            if tb and not isinstance(error, SafeMedError):
                print(tb, file=sys.stderr)
        box = QMessageBox(QMessageBox.Icon.Critical, title, text, QMessageBox.StandardButton.Ok, self)
        box.setAccessibleName(title)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        self.last_error_box = box
        self.error_shown.emit(title, text)
        return box

    # ------------------------------------------------------------------ model
    def start_backend(self) -> None:
        self.controller.start(self.config)

    def _on_service_ready(self, service: SafeMedService) -> None:
        self.service = service
        self.patient_panel.set_service(service)
        if self.store is None:
            self.lock_screen.set_mode("unlock" if service.store_exists() else "create")
        self.service_ready.emit()

    def _on_progress(self, stage: str, frac: float) -> None:
        self.progress.show()
        self.progress.setValue(int(frac * 100))
        self.model_label.setText(f"Model: {stage}...")

    def _on_loaded(self, service: SafeMedService, loaded: LoadedModel) -> None:
        self.service = service
        self.loaded = loaded
        ident = loaded.identity
        name = loaded.name
        self.provenance_panel.set_model_name(name)
        self.demo_banner.setVisible(bool(ident.demo))
        self.unapproved_banner.setVisible(not ident.approved)
        plan = loaded.plan
        how = (f"GPU {plan.n_gpu_layers} of {plan.n_layers} layers" if plan.n_gpu_layers > 0
               else f"CPU, {self.config.threads or 'all'} threads")
        self.model_label.setText(f"Model: {name} ({ident.sha256[:12]}) - {how}: {plan.reason}")
        self.model_label.setToolTip(f"{loaded.load_note}\nWhy: {plan.reason}")
        self.progress.hide()
        self.ask_panel.set_model_ready(True)
        self.model_ready.emit(loaded)

    def _on_load_failed(self, exc: BaseException) -> None:
        if self.service is not None:  # the previous service (and its model and config) stays in use
            self.config = self.service.config
        self.progress.hide()
        if self.loaded is not None:
            self.model_label.setText(self.model_label.text().replace("Model: ", "Model (unchanged): ", 1))
        else:
            self.model_label.setText("Model: not loaded (see Tools > Settings)")
        self.ask_panel.set_model_ready(self.loaded is not None)
        self.show_error("The model could not be loaded", exc)
        self.model_failed.emit(str(exc))

    def open_settings(self) -> SettingsDialog:
        try:
            manifests = self.service.list_manifests() if self.service is not None else []
        except SafeMedError as exc:
            self.show_error("Cannot list models", exc)
            manifests = []
        dlg = SettingsDialog(self.config, manifests, self)
        dlg.accepted.connect(lambda: self.apply_config(dlg.new_config))
        dlg.open()
        self.settings_dialog = dlg
        return dlg

    def apply_config(self, config: Config | None) -> None:
        """Use a new effective config: idle lock now, model (re)load on the worker thread."""
        if config is None:
            return
        self.config = config
        if self.store is not None:
            self.store.idle_lock_minutes = config.idle_lock_minutes
        self.ask_panel.set_model_ready(False)
        self.model_label.setText("Model: reloading...")
        self.controller.reload(config)

    # ------------------------------------------------------------------ session
    @property
    def store(self) -> Store | None:
        return self.session.store

    @property
    def clinician_id(self) -> str | None:
        return self.session.clinician_id

    @property
    def rubric(self) -> Rubric | None:
        return self.flow.rubric

    def user_activity(self) -> None:
        self.session.user_activity()

    def _enter_workspace(self) -> None:
        self.stack.setCurrentWidget(self.workspace)
        self.ask_panel.question.setFocus()
        self.flow.load_rubric()
        self.flow.flush_pending_saves()
        self.refresh_history()
        self.workspace_entered.emit()

    def _on_locked(self, reason: str) -> None:
        self.stack.setCurrentWidget(self.lock_screen)
        self.locked.emit(reason)

    @property
    def is_locked(self) -> bool:
        return self.stack.currentWidget() is self.lock_screen

    def _on_step_selected(self, index: int) -> None:
        self.feedback_panel.select_step(index)
        self.side_tabs.setCurrentWidget(self.feedback_panel)

    # ------------------------------------------------------------------ the one refresh
    def on_changes(self, changes: Changes) -> None:
        """Refresh what shows the records an operation changed (the only place panels refresh)."""
        if changes.history:
            self.refresh_history()
        if changes.answer_id is not None:
            rec = self.answer_view.record
            if rec is not None and rec.id == changes.answer_id:
                self.flow.refresh_provenance(changes.answer_id)

    def refresh_history(self, search: str | None = None) -> None:
        service, store = self.service, self.session.store
        if service is None or not self.session.is_unlocked:
            return
        text = self.history_panel.search.text().strip() if search is None else search

        def done(rows: list[dict[str, Any]]) -> None:
            self.history_panel.set_rows(rows)
            self.history_updated.emit(len(rows))

        self.ops.run(service.list_answers, store, text or None, on_done=done, error_title="Cannot search the history")

    def verify_store(self) -> None:
        if self.store is None or self.service is None:
            return

        def done(report: VerifyReport) -> None:
            text = (f"Store verified: {report.n_events} audit events, chain intact." if report.ok
                    else f"Store verification FAILED at {report.first_broken}.")
            box = QMessageBox(QMessageBox.Icon.Information if report.ok else QMessageBox.Icon.Critical,
                              "Store integrity", text, QMessageBox.StandardButton.Ok, self)
            box.open()
            self.last_error_box = box

        self.ops.run(self.service.verify_store, self.store, on_done=done, error_title="Verify failed")

    # ------------------------------------------------------------------ look
    def set_theme(self, theme: str) -> None:
        app = QApplication.instance()
        apply_theme(app, theme, float(app.property("safemed_font_scale") or 1.0))

    def scale_font(self, delta: float | None) -> None:
        app = QApplication.instance()
        scale = 1.0 if delta is None else float(app.property("safemed_font_scale") or 1.0) + delta
        apply_theme(app, str(app.property("safemed_theme") or "light"), max(0.75, min(2.5, scale)))

    # ------------------------------------------------------------------ shutdown
    def closeEvent(self, event: Any) -> None:  # noqa: N802
        self.idle_timer.stop()
        app = QApplication.instance()
        if app is not None:
            app.removeEventFilter(self.activity_filter)
        self.controller.shutdown()
        store = self.store
        if store is not None:
            self.executor.submit(store.close)
        self.executor.shutdown()
        super().closeEvent(event)

