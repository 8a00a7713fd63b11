"""Threads: the model worker (QThread + QObject that owns the service's model) and the store executor.

The GUI thread never blocks: model loading and generation run on :class:`ModelWorker` in its own
QThread, results come back as queued signals; store calls (Argon2 unlock, encrypted writes) run on a
single-worker :class:`StoreExecutor` whose results are delivered back to the GUI thread by a queued
signal. Stop = ``service.cancel()`` (thread-safe) plus the per-request cancel event.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import traceback
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Callable

from PySide6.QtCore import QObject, QThread, Qt, Signal, Slot

from ..config import Config
from ..errors import ModelError
from ..records import PatientContext, TokenEvent

if TYPE_CHECKING:
    from ..service import SafeMedService

log = logging.getLogger(__name__)
_TAGS = re.compile(r"</?(think|answer)>")


class StoreExecutor(QObject):
    """One background thread for every store call; callbacks run on the GUI thread."""

    _delivered = Signal(object, object, object)
    error = Signal(object)  # an exception no on_error callback handled
    settled = Signal()  # a submitted call finished and its callback ran (tests wait on this)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="safemed-store")
        self._delivered.connect(self._deliver, Qt.ConnectionType.QueuedConnection)
        self.pending = 0
        self.closed = False  # the window closed: no new store work (a refresh queued behind the close is moot)

    def submit(self, fn: Callable[..., Any], *args: Any, on_done: Callable[[Any], None] | None = None,
               on_error: Callable[[BaseException], None] | None = None, **kwargs: Any) -> Future:
        self.pending += 1
        fut = self._pool.submit(fn, *args, **kwargs)
        fut.add_done_callback(lambda f: self._delivered.emit(f, on_done, on_error))
        return fut

    @Slot(object, object, object)
    def _deliver(self, fut: Future, on_done: Callable | None, on_error: Callable | None) -> None:
        self.pending -= 1
        try:
            exc = fut.exception()
            if exc is not None:
                if on_error is not None:
                    on_error(exc)
                else:
                    self.error.emit(exc)
            elif on_done is not None:
                on_done(fut.result())
        finally:
            self.settled.emit()

    def shutdown(self) -> None:
        self.closed = True
        self._pool.shutdown(wait=True)


class ModelWorker(QObject):
    """Lives on the model thread; owns the SafeMedService and its loaded model."""

    service_ready = Signal(object)  # SafeMedService
    progress = Signal(str, float)
    loaded = Signal(object, object)  # (SafeMedService, LoadedModel)
    load_failed = Signal(object)  # exception
    token = Signal(object)  # TokenEvent
    finished = Signal(object)  # AnswerRecord
    failed = Signal(object)  # exception
    screened = Signal(object, int)  # question-stage signals, earlier turns left out of the prompt (before tokens)
    provisional = Signal(object)  # the streaming safety check's signals, at a sentence end that changed them

    def __init__(self, engine_factory: Any = None):
        super().__init__()
        self.engine_factory = engine_factory
        self.service: SafeMedService | None = None

    def _make_service(self, config: Config | None) -> SafeMedService:
        from ..service import SafeMedService  # imported on this thread: the window shows first

        if self.engine_factory is None:
            return SafeMedService(config)
        return SafeMedService(config, engine_factory=self.engine_factory)

    @Slot(object)
    def create_service(self, config: Config | None) -> None:
        try:
            self.service = self._make_service(config)
        except Exception as exc:  # noqa: BLE001 - reported to the GUI, which shows it
            self.load_failed.emit(_annotate(exc))
            return
        self.service_ready.emit(self.service)

    @Slot(object)
    def load(self, config: Config | None) -> None:
        """(Re)load a model. With a new config a fresh service is built; the old one stays on failure."""
        try:
            service = self.service if (config is None and self.service is not None) else self._make_service(config)
            loaded = service.load_model(progress=lambda stage, frac: self.progress.emit(str(stage), float(frac)))
        except Exception as exc:  # noqa: BLE001
            self.load_failed.emit(_annotate(exc))
            return
        old = self.service
        if old is not None and old is not service:
            old_loaded = getattr(old, "loaded", None)
            if old_loaded is not None:
                try:
                    old_loaded.engine.close()
                except Exception as exc:  # noqa: BLE001 - the new model is live; report the leak
                    self.failed.emit(_annotate(exc))
        self.service = service
        self.loaded.emit(service, loaded)
        self.warm_up()

    def warm_up(self) -> None:
        """Import and run the trust-signal pipeline once on a dummy text while the clinician is still at
        the lock screen, so the first answer does not pay one-time costs (imports, pack parsing) that
        hold the GIL and would stall the GUI thread."""
        try:
            self.service.warm_up_signals()
        except Exception:  # noqa: BLE001 - only a warm-up: the real call reports its own errors
            log.warning("signal pipeline warm-up failed", exc_info=True)

    #: Run the streaming safety check (rule signals at sentence ends) while tokens stream.
    live_safety = True
    #: Seconds this worker spent in the streaming safety check, and sentence checks run (``bench_gui``).
    live_seconds = 0.0
    live_checks = 0

    @Slot(str, object, object, object, object, object)
    def ask(self, question: str, patient: PatientContext, max_tokens: int | None, temperature: float | None,
            cancel: threading.Event, history: Any = ()) -> None:
        record = None
        try:
            if self.service is None or self.service.loaded is None:
                raise ModelError("no model is loaded yet", hint="wait for the model to finish loading")
            live = self.service.live_safety(question, patient, tuple(history or ())) if self.live_safety else None
            last: tuple | None = None
            for item in self.service.ask(question, patient, max_tokens=max_tokens, temperature=temperature,
                                         cancel=cancel, history=tuple(history or ()),
                                         on_screened=lambda sigs, dropped: self.screened.emit(sigs, dropped)):
                if isinstance(item, TokenEvent):
                    self.token.emit(item)
                    if live is not None and item.phase == "answer":
                        t0 = time.perf_counter()
                        found = live.feed(_TAGS.sub("", item.text))
                        self.live_seconds += time.perf_counter() - t0
                        if found is not None:
                            self.live_checks += 1
                            key = tuple((s.name, s.level, s.summary) for s in found)
                            if key != last:  # only a change is worth a repaint
                                last = key
                                self.provisional.emit(found)
                else:
                    record = item
            if record is None:
                raise ModelError("the service ended without an answer record")
        except Exception as exc:  # noqa: BLE001
            self.failed.emit(_annotate(exc))
            return
        self.finished.emit(record)


def _annotate(exc: BaseException) -> BaseException:
    """Keep the traceback text on the exception for the log/stderr (messages stay one line)."""
    exc.safemed_traceback = "".join(traceback.format_exception(exc))  # type: ignore[attr-defined]
    return exc


class ModelController(QObject):
    """GUI-thread handle on the model worker: starts the thread, forwards requests, stops generation."""

    _create = Signal(object)
    _load = Signal(object)
    _ask = Signal(str, object, object, object, object, object)

    def __init__(self, engine_factory: Any = None, parent: QObject | None = None):
        super().__init__(parent)
        self.thread = QThread()
        self.thread.setObjectName("safemed-model")
        self.worker = ModelWorker(engine_factory)
        self.worker.moveToThread(self.thread)
        self._create.connect(self.worker.create_service, Qt.ConnectionType.QueuedConnection)
        self._load.connect(self.worker.load, Qt.ConnectionType.QueuedConnection)
        self._ask.connect(self.worker.ask, Qt.ConnectionType.QueuedConnection)
        self.worker.finished.connect(self._on_done)
        self.worker.failed.connect(self._on_done)
        self.busy = False
        self._cancel: threading.Event | None = None  # the one cancel token of the request in flight
        self.thread.start()

    def _on_done(self, _obj: Any) -> None:
        self.busy = False
        self._cancel = None

    def start(self, config: Config | None) -> None:
        """Create the service (imports the core on the worker thread), then load the model."""
        self._create.emit(config)
        self._load.emit(None)

    def reload(self, config: Config) -> None:
        self._load.emit(config)

    def ask(self, question: str, patient: PatientContext, max_tokens: int | None = None,
            temperature: float | None = None, history: tuple = ()) -> None:
        self.busy = True
        self._cancel = threading.Event()
        self._ask.emit(question, patient, max_tokens, temperature, self._cancel, tuple(history))

    def stop(self) -> None:
        """Stop the running generation: set the request's cancel token, which the engine reads on every
        token and llama.cpp's abort callback reads during prompt processing. The GUI thread never
        touches the service or its model; only the model worker does."""
        if self.busy and self._cancel is not None:
            self._cancel.set()

    def shutdown(self) -> None:
        self.stop()
        self.thread.quit()
        self.thread.wait(30000)
        service = self.worker.service
        if service is not None and service.loaded is not None:
            service.unload_model()  # the model thread has ended: free llama.cpp's memory here
