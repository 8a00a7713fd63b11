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
from PySide6.QtWidgets import (QApplication, QFileDialog, QGroupBox, QHBoxLayout, QLabel, QMainWindow, QMessageBox,
                               QProgressBar, QPushButton, QScrollArea, QSplitter, QStackedWidget, QTabWidget,
                               QVBoxLayout, QWidget)

from ..config import Config, load_config
from ..errors import SafeMedError, StoreLockedError
from .answer_flow import AnswerFlow
from .answer_view import AnswerView
from .ask_panel import AskPanel
from .conversation_list import ConversationList, TurnStrip
from .feedback_panel import FeedbackPanel
from .history import HistoryPanel
from .lock_screen import LockScreen
from .ops import Changes, StoreOps
from .patient_panel import PatientPanel
from .provenance_panel import ProvenancePanel
from .session import SessionController
from .settings_dialog import SettingsDialog
from .sync_dialog import SyncDialog, sync_waiting_text
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
    exported = Signal(str)  # path

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
        self.resize(*default_size(self))
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
        w.screened.connect(self.flow.on_screened)
        w.provisional.connect(self.flow.on_provisional)
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
        splitter.setObjectName("main_splitter")
        splitter.setChildrenCollapsible(False)
        self.main_splitter = splitter
        left_split = QSplitter(Qt.Orientation.Vertical)
        left_split.setObjectName("left_splitter")
        left_split.setChildrenCollapsible(False)
        self.left_splitter = left_split
        self.conversation_list = ConversationList()
        self.conversation_list.open_requested.connect(self.flow.open_conversation)
        self.conversation_list.new_requested.connect(self.flow.new_conversation)
        self.conversation_list.search_requested.connect(self.refresh_conversations)
        self.conversation_list.rename_requested.connect(self.rename_conversation)
        self.conversation_list.archive_requested.connect(self.archive_conversation)
        left_split.addWidget(self.conversation_list)
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        self.ask_panel = AskPanel()
        self.ask_panel.ask_requested.connect(self.flow.ask)
        self.ask_panel.stop_requested.connect(self.flow.stop)
        ll.addWidget(self.ask_panel, 2)
        pbox = QGroupBox("Patient context")  # (for this conversation; optional: said in the panel's tooltip)
        pbox.setToolTip("The patient context of this conversation (optional); each answer keeps a snapshot of it.")
        pl = QVBoxLayout(pbox)
        pl.setContentsMargins(2, 2, 2, 2)
        pscroll = QScrollArea()
        pscroll.setWidgetResizable(True)
        pscroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.patient_panel = PatientPanel()
        pscroll.setWidget(self.patient_panel)
        pl.addWidget(pscroll)
        ll.addWidget(pbox, 3)
        left_split.addWidget(left)
        left_split.setStretchFactor(0, 2)
        left_split.setStretchFactor(1, 5)
        splitter.addWidget(left_split)

        center = QWidget()
        cl = QVBoxLayout(center)
        cl.setContentsMargins(0, 0, 0, 0)
        self.turn_strip = TurnStrip()
        self.turn_strip.turn_chosen.connect(self.flow.show_turn)
        cl.addWidget(self.turn_strip)
        self.answer_view = AnswerView()
        self.answer_view.step_selected.connect(self._on_step_selected)
        self.answer_view.acknowledge_requested.connect(self.flow.acknowledge)
        self.answer_view.tokens_per_second.connect(lambda r: self.tps_label.setText(f"{r:.1f} tokens/s"))
        self.answer_scroll = QScrollArea()  # the turn scrolls vertically when the window is short; never sideways
        self.answer_scroll.setWidgetResizable(True)
        self.answer_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.answer_scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        self.answer_scroll.setWidget(self.answer_view)
        cl.addWidget(self.answer_scroll, 1)
        actions = QHBoxLayout()
        self.copy_button = QPushButton("&Copy answer")
        self.copy_button.setAccessibleName("Copy the answer with its signal summaries")
        self.copy_button.clicked.connect(self.copy_answer)
        self.export_md_button = QPushButton("Export &Markdown...")
        self.export_md_button.setAccessibleName("Export the conversation as Markdown")
        self.export_md_button.clicked.connect(lambda: self.export_conversation("md"))
        self.export_pdf_button = QPushButton("Export &PDF...")
        self.export_pdf_button.setAccessibleName("Export the conversation as PDF")
        self.export_pdf_button.clicked.connect(lambda: self.export_conversation("pdf"))
        for b in (self.copy_button, self.export_md_button, self.export_pdf_button):
            actions.addWidget(b)
        actions.addStretch(1)
        cl.addLayout(actions)
        splitter.addWidget(center)

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
        w0 = max(640, self.width())
        splitter.setSizes([int(w0 * 0.26), int(w0 * 0.42), int(w0 * 0.32)])
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
        self.act_new = QAction("&New conversation", self, shortcut=QKeySequence("Ctrl+N"),
                               triggered=self.flow.new_conversation)
        self.act_copy = QAction("&Copy answer with its signals", self, shortcut=QKeySequence("Ctrl+Shift+C"),
                                triggered=self.copy_answer)
        self.act_export_md = QAction("Export conversation as &Markdown...", self,
                                     triggered=lambda: self.export_conversation("md"))
        self.act_export_pdf = QAction("Export conversation as &PDF...", self,
                                      triggered=lambda: self.export_conversation("pdf"))
        for a in (self.act_new, self.act_copy, self.act_export_md, self.act_export_pdf):
            file_menu.addAction(a)
        file_menu.addSeparator()
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
        self.act_sync = QAction("S&ync with the site...", self, triggered=self.open_sync)
        tools.addAction(self.act_sync)
        self.act_review = QAction("&Review a study (blinded)...", self, triggered=self.open_review)
        tools.addAction(self.act_review)
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
        self.sync_label = QLabel(sync_waiting_text(None))
        self.sync_label.setAccessibleName("Records waiting to sync")
        sb.addPermanentWidget(self.sync_label)

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
               else f"CPU, {service.config.threads or 'all'} threads")
        self.model_label.setText(f"Model: {name} - {how}")
        self.model_label.setToolTip(f"{name} (sha256 {ident.sha256[:12]})\n{loaded.load_note}\nWhy: {plan.reason}")
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

    def open_settings(self) -> SettingsDialog | None:
        """Settings need an unlocked session (a profile at the workstation); refused from the lock screen."""
        if self.is_locked or not self.session.is_unlocked or self.clinician_id is None:
            self.lock_screen.message.setText("Settings need an unlocked session: unlock and choose your profile first.")
            self.error_shown.emit("Settings", "settings need an unlocked session")
            return None
        try:
            manifests = self.service.list_manifests() if self.service is not None else []
        except SafeMedError as exc:
            self.show_error("Cannot list models", exc)
            manifests = []
        profile = self.session.profile or {}
        dlg = SettingsDialog(self.config, manifests, self, is_admin=profile.get("role") == "site_admin")
        dlg.apply_requested.connect(lambda cfg: self.apply_config(cfg, dlg.commit, dlg))
        dlg.loads_via_window = True
        dlg.open()
        self.settings_dialog = dlg
        return dlg

    def apply_config(self, config: Config | None, commit: Any = None, dialog: SettingsDialog | None = None) -> None:
        """Use a new effective config: the model is (re)loaded on the worker thread first; only when it loads
        is the config kept (``commit`` writes the user file). A failure keeps the running model and config and
        says why; nothing is saved."""
        if config is None:
            return
        old = self.config

        def loaded(_l: Any) -> None:
            disconnect()
            self.config = config
            if self.store is not None:
                self.store.idle_lock_minutes = config.idle_lock_minutes
            if commit is not None:
                try:
                    commit()
                except SafeMedError as exc:
                    self.show_error("The settings could not be saved", exc)
            if dialog is not None:
                dialog.finish(True)

        def failed(msg: str) -> None:
            disconnect()
            self.config = old  # nothing saved; the running model stays
            if dialog is not None:
                dialog.finish(False, msg)

        def disconnect() -> None:
            for sig, slot in ((self.model_ready, loaded), (self.model_failed, failed)):
                try:
                    sig.disconnect(slot)
                except (RuntimeError, TypeError):
                    pass

        self.model_ready.connect(loaded)
        self.model_failed.connect(failed)
        self.ask_panel.set_model_ready(False)
        self.model_label.setText("Model: checking and loading the new model (the current one stays until it loads)...")
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
        self.flow.restore_for(self.clinician_id)  # this clinician's own drafts; nobody else's
        self.provenance_panel.set_people({p["id"]: p.get("display_name") or "" for p in self.session.profiles})
        self.restore_view_state()
        self.stack.setCurrentWidget(self.workspace)
        self.ask_panel.question.setFocus()
        self.flow.load_rubric()
        self.flow.flush_pending_saves()
        self.refresh_history()
        self.refresh_sync_status()
        self.workspace_entered.emit()

    def _on_locked(self, reason: str) -> None:
        self.save_view_state()
        if self.settings_dialog is not None:
            self.settings_dialog.reject()
        self.stack.setCurrentWidget(self.lock_screen)
        self.flow.stash_and_clear()  # locking clears the view; the drafts are kept for their clinician only
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
            self.refresh_conversations()
            self.refresh_sync_status()
        if changes.answer_id is not None:
            rec = self.answer_view.record
            if rec is not None and rec.id == changes.answer_id:
                self.flow.refresh_provenance(changes.answer_id)

    def refresh_sync_status(self) -> None:
        """The status bar's count of records waiting to sync (works on the locked store too)."""
        service, store = self.service, self.session.store
        if service is None or store is None:
            return
        self.ops.run(service.sync_status, store, on_done=lambda st: self.sync_label.setText(sync_waiting_text(st)),
                     on_error=lambda exc: self.sync_label.setText(sync_waiting_text(None)))

    def open_sync(self) -> SyncDialog | None:
        if self.service is None or self.session.store is None:
            return None
        dlg = SyncDialog(self.service, self.session.store, self.ops.run, self,
                         on_status=lambda st: self.sync_label.setText(sync_waiting_text(st)))
        dlg.show()
        return dlg

    def open_review(self) -> None:
        """Review mode (gui/review_dialog.py): a reviewer scores a blinded validation study."""
        from .review_dialog import open_review

        if self.service is not None and self.session.store is not None:
            open_review(self, self.service, self.session.store, self.ops.run)

    def refresh_history(self, search: str | None = None) -> None:
        service, store = self.service, self.session.store
        if service is None or not self.session.is_unlocked:
            return
        text = self.history_panel.search.text().strip() if search is None else search

        def done(rows: list[dict[str, Any]]) -> None:
            self.history_panel.set_rows(rows)
            self.history_updated.emit(len(rows))

        self.ops.run(service.list_answers, store, text or None, on_done=done, error_title="Cannot search the history")

    def refresh_conversations(self, search: str | None = None) -> None:
        service, store = self.service, self.session.store
        if service is None or not self.session.is_unlocked:
            return
        text = self.conversation_list.search.text().strip() if search is None else search
        self.ops.run(service.list_conversations, store, text or None, self.conversation_list.include_archived,
                     on_done=self.conversation_list.set_rows, error_title="Cannot list the conversations")

    def rename_conversation(self, conversation_id: str, title: str) -> None:
        """Rename a conversation (the list's context menu): an audited store write on the store worker."""
        service, store = self.service, self.session.store
        if service is None or not self.session.is_unlocked:
            return

        def done(stored: str) -> None:
            if self.flow.holder.get("id") == conversation_id:
                self.turn_strip.title.setText(stored)  # the open conversation's heading follows
            self.statusBar().showMessage("Conversation renamed.", 5000)

        self.ops.run(service.rename_conversation, store, conversation_id, title, changes=Changes(history=True),
                     on_done=done, error_title="The conversation could not be renamed")

    def archive_conversation(self, conversation_id: str, archived: bool = True) -> None:
        """Archive (hide from the list, never delete) or un-archive a conversation, on the store worker."""
        service, store = self.service, self.session.store
        if service is None or not self.session.is_unlocked:
            return
        note = "Conversation archived (Show archived lists it)." if archived else "Conversation un-archived."
        self.ops.run(service.archive_conversation, store, conversation_id, archived, changes=Changes(history=True),
                     on_done=lambda _r: self.statusBar().showMessage(note, 5000),
                     error_title="The conversation could not be archived" if archived
                     else "The conversation could not be un-archived")

    # ------------------------------------------------------------------ copy and export
    def copy_answer(self) -> str:
        """Copy the shown answer with its signals' summaries to the clipboard."""
        rec = self.answer_view.record
        if rec is None or self.service is None:
            self.statusBar().showMessage("Nothing to copy: no finished answer is shown.", 5000)
            return ""
        text = self.service.clinician_text(rec)
        QApplication.clipboard().setText(text)
        self.statusBar().showMessage("Answer and signal summaries copied.", 5000)
        return text

    def export_conversation(self, fmt: str, path: str | None = None) -> None:
        """Export the open conversation (Markdown or PDF) with signals, evidence, provenance and the model banner."""
        service, store, conv = self.service, self.session.store, self.flow.conversation
        if service is None or store is None or conv is None:
            self.statusBar().showMessage("Open a saved conversation to export it.", 5000)
            return
        if path is None:
            filt = "Markdown (*.md)" if fmt == "md" else "PDF (*.pdf)"
            path, _f = QFileDialog.getSaveFileName(self, "Export conversation", f"conversation.{fmt}", filt)
            if not path:
                return

        def work() -> str:
            fresh = service.open_conversation(store, conv.id)
            provs = {t.id: service.provenance(store, t.id) for t in fresh.turns}
            return service.conversation_markdown(fresh, provs)

        def done(markdown: str) -> None:
            try:
                service.write_export(path, markdown if fmt == "md" else pdf_bytes(markdown))
            except (OSError, SafeMedError) as exc:
                self.show_error("The conversation could not be exported", exc)
                return
            self.statusBar().showMessage(f"Conversation exported to {path}", 8000)
            self.exported.emit(path)

        self.ops.run(work, on_done=done, error_title="The conversation could not be exported")

    # ------------------------------------------------------------------ geometry, remembered per user
    def view_state(self) -> dict[str, Any]:
        return {"geometry": bytes(self.saveGeometry().toBase64()).decode("ascii"),
                "main_splitter": self.main_splitter.sizes(), "left_splitter": self.left_splitter.sizes()}

    def save_view_state(self) -> None:
        who = self.clinician_id
        if who is None or self.service is None or not self._shown_once:
            return
        try:
            self.service.save_view_state(who, self.view_state())
        except (OSError, SafeMedError):  # only a convenience: never in the way
            pass

    def restore_view_state(self) -> None:
        who = self.clinician_id
        if who is None or self.service is None:
            return
        state = self.service.load_view_state(who)
        if not state:
            return
        from PySide6.QtCore import QByteArray

        geo = state.get("geometry")
        if isinstance(geo, str):
            self.restoreGeometry(QByteArray.fromBase64(geo.encode("ascii")))
            fit_to_screen(self)
        for name in ("main_splitter", "left_splitter"):
            sizes = state.get(name)
            if isinstance(sizes, list) and all(isinstance(x, int) and x > 0 for x in sizes):
                getattr(self, name).setSizes(sizes)

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
        self.save_view_state()
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



def available_size(widget: QWidget) -> tuple[int, int]:
    screen = widget.screen() if widget.screen() is not None else QApplication.primaryScreen()
    if screen is None:
        return 1360, 860
    g = screen.availableGeometry()
    return g.width(), g.height()


def default_size(widget: QWidget) -> tuple[int, int]:
    """1360x860, or less where the screen's available area is smaller (the window fits it)."""
    aw, ah = available_size(widget)
    return max(640, min(1360, aw - 16)), max(480, min(860, ah - 40))


def fit_to_screen(widget: QWidget) -> None:
    """A remembered geometry from a larger screen is shrunk to the available area."""
    aw, ah = available_size(widget)
    w, h = min(widget.width(), aw), min(widget.height(), ah)
    if (w, h) != (widget.width(), widget.height()):
        widget.resize(w, h)


def pdf_bytes(markdown: str) -> bytes:
    """Markdown printed to PDF with Qt's own printing (QTextDocument on a QPdfWriter), as bytes (the service
    writes the file, 0600)."""
    from PySide6.QtCore import QBuffer, QIODevice
    from PySide6.QtGui import QPageSize, QPdfWriter, QTextDocument

    buf = QBuffer()
    buf.open(QIODevice.OpenModeFlag.WriteOnly)
    writer = QPdfWriter(buf)
    writer.setPageSize(QPageSize(QPageSize.PageSizeId.A4))
    writer.setResolution(300)
    writer.setTitle("SafeMed conversation")
    writer.setCreator("SafeMed Desktop")
    doc = QTextDocument()
    doc.setMarkdown(markdown)
    doc.print_(writer)
    del writer  # finishes the PDF
    buf.close()
    return bytes(buf.data())
