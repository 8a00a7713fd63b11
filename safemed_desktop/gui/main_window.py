"""The main window: lock screen <-> workspace (ask, patient, answer, feedback, provenance, history).

The window holds no clinical logic: it sends questions to the service on the model worker thread,
shows what comes back, and writes to the encrypted store through the single-worker store executor.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QApplication, QGroupBox, QLabel, QMainWindow, QMessageBox, QProgressBar,
                               QScrollArea, QSplitter, QStackedWidget, QTabWidget, QVBoxLayout, QWidget)

from ..answer import AnswerRecord
from ..config import Config, load_config
from ..errors import InputError, SafeMedError, StoreLockedError
from .answer_view import AnswerView
from .ask_panel import AskPanel
from .feedback_panel import FeedbackDraft, FeedbackPanel
from .history import HistoryPanel
from .lock_screen import LockScreen, profile_label
from .patient_panel import PatientPanel
from .provenance_panel import ProvenancePanel
from .settings_dialog import SettingsDialog
from .theme import THEMES, apply_theme, icon
from .workers import ModelController, StoreExecutor

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
        self.service: Any = None
        self.loaded: Any = None
        self.store: Any = None
        self.rubric: Any = None
        self.clinician_id: str | None = None
        self.profile: dict[str, Any] | None = None
        self.profiles: list[dict[str, Any]] = []
        self.pending_saves: list[AnswerRecord] = []
        self.acknowledged_answers: set[str] = set()
        self.saved_ids: set[str] = set()
        self.last_error_box: QMessageBox | None = None
        self.settings_dialog: SettingsDialog | None = None
        self._shown_once = False
        self._locking = False
        self._model_loading = False

        self.setWindowTitle("SafeMed Desktop")
        self.setWindowIcon(icon("app"))
        self.resize(1360, 860)
        self.executor = StoreExecutor(self)
        self.executor.error.connect(lambda exc: self.show_error("Store error", exc))
        self.controller = ModelController(engine_factory, self)
        w = self.controller.worker
        w.service_ready.connect(self._on_service_ready)
        w.progress.connect(self._on_progress)
        w.loaded.connect(self._on_loaded)
        w.load_failed.connect(self._on_load_failed)
        w.token.connect(self._on_token)
        w.finished.connect(self._on_finished)
        w.failed.connect(self._on_failed)

        self._build_ui()
        self._build_menus()
        self._build_status_bar()
        self.activity_filter = ActivityFilter(self)
        app = QApplication.instance()
        if app is not None:
            app.installEventFilter(self.activity_filter)
        self.idle_timer = QTimer(self)
        self.idle_timer.setInterval(idle_check_ms)
        self.idle_timer.timeout.connect(self._check_idle)
        self.idle_timer.start()
        if autostart:
            self.start_backend()

    # ------------------------------------------------------------------ UI
    def _build_ui(self) -> None:
        self.stack = QStackedWidget()
        self.setCentralWidget(self.stack)
        self.lock_screen = LockScreen()
        self.lock_screen.unlock_requested.connect(self.unlock)
        self.lock_screen.create_requested.connect(self.create_store)
        self.lock_screen.profile_chosen.connect(self.choose_profile)
        self.lock_screen.profile_create_requested.connect(self.create_profile)
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
        self.ask_panel.ask_requested.connect(self.ask)
        self.ask_panel.stop_requested.connect(self.stop)
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
        self.answer_view.acknowledge_requested.connect(self.acknowledge)
        self.answer_view.tokens_per_second.connect(lambda r: self.tps_label.setText(f"{r:.1f} tokens/s"))
        splitter.addWidget(self.answer_view)

        self.side_tabs = QTabWidget()
        self.side_tabs.setAccessibleName("Feedback, provenance and history")
        self.feedback_panel = FeedbackPanel()
        self.feedback_panel.submitted.connect(self.submit_feedback)
        self.provenance_panel = ProvenancePanel()
        self.history_panel = HistoryPanel()
        self.history_panel.search_requested.connect(self.refresh_history)
        self.history_panel.open_requested.connect(self.open_answer)
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
        self.act_lock = QAction("Loc&k now", self, shortcut=QKeySequence("Ctrl+L"), triggered=self.lock_now)
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
                self._show_locked("idle")
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
        self._model_loading = True
        self.controller.start(self.config)

    def _on_service_ready(self, service: Any) -> None:
        self.service = service
        if self.store is None:
            self.lock_screen.set_mode("unlock" if service.store_exists() else "create")
        self.service_ready.emit()

    def _on_progress(self, stage: str, frac: float) -> None:
        self.progress.show()
        self.progress.setValue(int(frac * 100))
        self.model_label.setText(f"Model: {stage}...")

    def _on_loaded(self, service: Any, loaded: Any) -> None:
        self._model_loading = False
        self.service = service
        self.loaded = loaded
        ident = loaded.identity
        manifest = getattr(loaded.resolved, "manifest", None)
        name = manifest.name if manifest is not None else ident.id
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
        self._model_loading = False
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
        from ..model_registry import list_manifests

        try:
            manifests = list_manifests(self.config)
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
        self._model_loading = True
        self.ask_panel.set_model_ready(False)
        self.model_label.setText("Model: reloading...")
        self.controller.reload(config)

    # ------------------------------------------------------------------ store: unlock and profiles
    def _store_kwargs(self) -> dict[str, Any]:
        return {"kdf_params": self.kdf_params} if self.kdf_params is not None else {}

    def create_store(self, passphrase: str) -> None:
        if self.service is None:
            return
        self.lock_screen.set_busy(True, "Creating the encrypted store...")
        service, kwargs = self.service, self._store_kwargs()

        def work() -> tuple[Any, list]:
            store = service.create_store(passphrase, **kwargs)
            return store, store.list_profiles()

        self.executor.submit(work, on_done=self._on_unlocked, on_error=self._on_unlock_failed)

    def unlock(self, passphrase: str) -> None:
        if self.service is None:
            return
        self.lock_screen.set_busy(True, "Unlocking...")
        service, store = self.service, self.store

        def work() -> tuple[Any, list]:
            s = store if store is not None else service.open_store()
            s.unlock(passphrase)
            return s, s.list_profiles()

        self.executor.submit(work, on_done=self._on_unlocked, on_error=self._on_unlock_failed)

    def _on_unlocked(self, result: tuple[Any, list]) -> None:
        self.store, self.profiles = result
        self.store.idle_lock_minutes = self.config.idle_lock_minutes
        self._locking = False
        self.lock_screen.set_busy(False)
        self.lock_screen.set_profiles(self.profiles, select=self.clinician_id)
        self.lock_screen.set_mode("profile", "Drafts are kept." if self.clinician_id else "")
        self.store_label.setText("Store: unlocked")
        self.unlocked.emit()

    def _on_unlock_failed(self, exc: BaseException) -> None:
        self.lock_screen.set_busy(False)
        self.lock_screen.set_mode(self.lock_screen.mode, str(exc))
        if not isinstance(exc, SafeMedError):
            self.show_error("Cannot open the store", exc)

    def create_profile(self, name: str, role: str) -> None:
        store = self.store
        self.lock_screen.set_busy(True)

        def work() -> tuple[str, list]:
            pid = store.add_profile(name, role)
            return pid, store.list_profiles()

        def done(res: tuple[str, list]) -> None:
            self.lock_screen.set_busy(False)
            self.profiles = res[1]
            self.lock_screen.new_name.clear()
            self.choose_profile(res[0])

        def failed(exc: BaseException) -> None:
            self.lock_screen.set_busy(False)
            self.lock_screen.message.setText(str(exc))

        self.executor.submit(work, on_done=done, on_error=failed)

    def choose_profile(self, profile_id: str) -> None:
        self.clinician_id = profile_id
        self.profile = next((p for p in self.profiles if p["id"] == profile_id), None)
        who = profile_label(self.profile) if self.profile else profile_id[:8]
        self.store_label.setText(f"Store: unlocked - {who}")
        self.stack.setCurrentWidget(self.workspace)
        self.ask_panel.question.setFocus()
        if self.rubric is None:
            self.executor.submit(_load_rubric, on_done=self._on_rubric)
        self._flush_pending_saves()
        self.refresh_history()
        self.workspace_entered.emit()

    def _on_rubric(self, rubric: Any) -> None:
        self.rubric = rubric
        self.feedback_panel.set_rubric(rubric)
        rec = self.answer_view.record
        if rec is not None and not rec.blocked:
            self.feedback_panel.set_answer(rec.id, rec.answer, len(rec.reasoning_steps))

    # ------------------------------------------------------------------ lock
    def user_activity(self) -> None:
        if self.store is not None and self.store.is_unlocked:
            self.store.touch()

    def _check_idle(self) -> None:
        store = self.store
        if store is None or self._locking or not store.is_unlocked or self.executor.pending:
            return
        self._locking = True

        def done(locked_now: bool) -> None:
            self._locking = False
            if locked_now:
                self._show_locked("idle")

        def failed(exc: BaseException) -> None:
            self._locking = False
            self.show_error("Store error", exc)

        self.executor.submit(store.check_idle, on_done=done, on_error=failed)

    def lock_now(self) -> None:
        if self.store is None or not self.store.is_unlocked:
            return
        self.executor.submit(self.store.lock, on_done=lambda _r: self._show_locked("manual"))

    def _show_locked(self, reason: str) -> None:
        """Back to the lock screen; the workspace (question, patient, feedback drafts) is kept as is."""
        minutes = self.config.idle_lock_minutes
        msg = (f"Locked after {minutes} idle minute(s). Your question and feedback drafts are kept." if reason == "idle"
               else "Locked. Your question and feedback drafts are kept.")
        self.stack.setCurrentWidget(self.lock_screen)
        self.lock_screen.set_mode("unlock", msg)
        self.store_label.setText("Store: locked")
        self.locked.emit(reason)

    @property
    def is_locked(self) -> bool:
        return self.stack.currentWidget() is self.lock_screen

    # ------------------------------------------------------------------ ask
    def ask(self, question: str) -> None:
        if self.controller.busy:
            return
        try:
            patient = self.patient_panel.patient()
        except InputError as exc:
            self.show_error("Patient context is not valid", exc)
            return
        if not question.strip():
            self.show_error("Nothing to ask", InputError("the question is empty"))
            return
        self.answer_view.begin(question)
        self.feedback_panel.setEnabled(False)
        self.provenance_panel.clear()
        self.ask_panel.set_busy(True)
        self.tps_label.setText("")
        self.controller.ask(question, patient)

    def stop(self) -> None:
        self.controller.stop()
        self.answer_view.status.setText("Stopping...")

    def _on_token(self, ev: Any) -> None:
        self.answer_view.add_token(ev)
        self.token_received.emit(ev)

    def _on_finished(self, record: AnswerRecord) -> None:
        self.ask_panel.set_busy(False)
        self.answer_view.flush()
        self.show_answer(record)
        if record.timings is not None:
            self.tps_label.setText(f"{record.timings.tokens_per_s:.1f} tokens/s")
        self.answer_finished.emit(record)
        self.save_answer(record)

    def _on_failed(self, exc: BaseException) -> None:
        self.ask_panel.set_busy(False)
        self.answer_view.flush()
        self.answer_view.status.setText(f"Failed: {exc}")
        self.show_error("The question could not be answered", exc)

    def show_answer(self, record: AnswerRecord, prov: dict[str, Any] | None = None) -> None:
        self.answer_view.show_record(record, acknowledged=record.id in self.acknowledged_answers)
        self.provenance_panel.show_record(record)
        if prov is not None:
            self.provenance_panel.show_provenance(prov)
        if self.rubric is not None and not record.blocked:
            self.feedback_panel.set_answer(record.id, record.answer, len(record.reasoning_steps))
        else:
            self.feedback_panel.setEnabled(False)

    def _on_step_selected(self, index: int) -> None:
        self.feedback_panel.select_step(index)
        self.side_tabs.setCurrentWidget(self.feedback_panel)

    # ------------------------------------------------------------------ store writes
    def save_answer(self, record: AnswerRecord) -> None:
        if self.store is None or not self.store.is_unlocked:
            self.pending_saves.append(record)
            return
        store = self.store

        def done(answer_id: str) -> None:
            self.saved_ids.add(answer_id)
            self.answer_saved.emit(answer_id)
            self.refresh_provenance(answer_id)
            self.refresh_history()

        def failed(exc: BaseException) -> None:
            self.pending_saves.append(record)  # kept; retried after the next unlock
            self.show_error("The answer could not be saved", exc)

        self.executor.submit(store.save_answer, record, on_done=done, on_error=failed)

    def _flush_pending_saves(self) -> None:
        pending, self.pending_saves = self.pending_saves, []
        for rec in pending:
            self.save_answer(rec)

    def refresh_provenance(self, answer_id: str) -> None:
        store = self.store
        if store is None:
            return

        def done(prov: dict[str, Any]) -> None:
            if self.answer_view.record is not None and self.answer_view.record.id == answer_id:
                self.provenance_panel.show_provenance(prov)
            self.provenance_updated.emit(answer_id)

        self.executor.submit(store.provenance, answer_id, on_done=done,
                             on_error=lambda exc: self.show_error("Cannot read provenance", exc))

    def acknowledge(self, answer_id: str, signal_name: str) -> None:
        if self.store is None or self.clinician_id is None:
            return
        store, who = self.store, self.clinician_id

        def done(_ack_id: str) -> None:
            self.acknowledged_answers.add(answer_id)
            if self.answer_view.record is not None and self.answer_view.record.id == answer_id:
                self.answer_view.set_collapsed(False)
            self.acknowledged.emit(answer_id)
            self.refresh_provenance(answer_id)

        self.executor.submit(store.record_acknowledgement, answer_id, who, signal_name, on_done=done,
                             on_error=lambda exc: self.show_error("The acknowledgement was not recorded", exc))

    def submit_feedback(self, draft: FeedbackDraft) -> None:
        if self.store is None or self.clinician_id is None or self.rubric is None:
            self.feedback_panel.submit_done(False, "The store is locked.")
            return
        try:  # validate before anything is written, so nothing is half-saved
            self.rubric.validate_scores(draft.scores)
            for s in draft.step_scores.values():
                self.rubric.validate_scores(s, step=True)
            if draft.edited_text is not None and not draft.edited_text.strip():
                raise InputError("an edited answer text must not be empty")
        except InputError as exc:
            self.feedback_panel.submit_done(False, f"Not saved: {exc}")
            self.show_error("Feedback not saved", exc)
            return
        store, who, rubric = self.store, self.clinician_id, self.rubric

        def work() -> dict[str, Any]:
            store.add_feedback(draft.answer_id, who, rubric, draft.scores, draft.step_scores, draft.flags,
                               draft.comment or None)
            if draft.edited_text is not None:
                store.add_edit(draft.answer_id, draft.edited_text, who)
            return store.provenance(draft.answer_id)

        def done(prov: dict[str, Any]) -> None:
            self.feedback_panel.submit_done(True, "Saved to the encrypted store.")
            if self.answer_view.record is not None and self.answer_view.record.id == draft.answer_id:
                self.provenance_panel.show_provenance(prov)
            self.feedback_saved.emit(draft.answer_id)
            self.provenance_updated.emit(draft.answer_id)
            self.refresh_history()

        def failed(exc: BaseException) -> None:
            self.feedback_panel.submit_done(False, f"Not saved: {exc}")
            self.show_error("Feedback not saved", exc)

        self.executor.submit(work, on_done=done, on_error=failed)

    # ------------------------------------------------------------------ history
    def refresh_history(self, search: str | None = None) -> None:
        store = self.store
        if store is None or not store.is_unlocked:
            return
        text = self.history_panel.search.text().strip() if search is None else search

        def done(rows: list[dict[str, Any]]) -> None:
            self.history_panel.set_rows(rows)
            self.history_updated.emit(len(rows))

        self.executor.submit(store.list_answers, search=text or None, on_done=done,
                             on_error=lambda exc: self.show_error("Cannot search the history", exc))

    def open_answer(self, answer_id: str) -> None:
        store = self.store
        if store is None or self.controller.busy:
            return

        def work() -> tuple[AnswerRecord, dict[str, Any]]:
            return store.get_answer(answer_id), store.provenance(answer_id)

        def done(res: tuple[AnswerRecord, dict[str, Any]]) -> None:
            record, prov = res
            if any(a.get("signal_name") == "medication_safety" for a in prov.get("acknowledgements", [])):
                self.acknowledged_answers.add(record.id)
            self.show_answer(record, prov)
            self.provenance_updated.emit(answer_id)

        self.executor.submit(work, on_done=done, on_error=lambda exc: self.show_error("Cannot open the answer", exc))

    def verify_store(self) -> None:
        if self.store is None:
            return

        def done(report: Any) -> None:
            text = (f"Store verified: {report.n_events} audit events, chain intact." if report.ok
                    else f"Store verification FAILED at {report.first_broken}.")
            box = QMessageBox(QMessageBox.Icon.Information if report.ok else QMessageBox.Icon.Critical,
                              "Store integrity", text, QMessageBox.StandardButton.Ok, self)
            box.open()
            self.last_error_box = box

        self.executor.submit(self.store.verify, on_done=done, on_error=lambda exc: self.show_error("Verify failed", exc))

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


def _load_rubric() -> Any:
    from ..rubric import load_rubric

    return load_rubric()
