"""Store operations in Anki's manner: small units of work on the store worker that report what changed.

An operation runs one function off the GUI thread (``StoreExecutor``), then, on the GUI thread,
calls its ``on_done`` and emits ``changed`` with a :class:`Changes` saying which records moved.
One listener (``MainWindow.on_changes``) refreshes whatever panels show those records; nothing
else refreshes panels by hand. A failure goes to ``on_error`` if given, else to the window's one
error path (a one-line message); nothing is swallowed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from PySide6.QtCore import QObject, Signal

from .workers import StoreExecutor

if TYPE_CHECKING:
    from ..service import SafeMedService
    from .main_window import MainWindow


@dataclass(frozen=True)
class Changes:
    """What an operation changed, for the one refresh."""

    answer_id: str | None = None  # the answer whose provenance (feedback, edits, acknowledgements) changed
    history: bool = False  # the list of stored answers changed (a new answer, new feedback counts)

    def __bool__(self) -> bool:
        return self.answer_id is not None or self.history


class StoreOps(QObject):
    """Runs store operations on the single store worker; callbacks and ``changed`` on the GUI thread."""

    changed = Signal(object)  # Changes
    failed = Signal(str, object)  # title, exception: an operation without its own error handler failed

    def __init__(self, executor: StoreExecutor, parent: QObject | None = None):
        super().__init__(parent)
        self.executor = executor

    @property
    def pending(self) -> int:
        return self.executor.pending

    def run(self, fn: Callable[..., Any], *args: Any, changes: Changes | Callable[[Any], Changes] | None = None,
            on_done: Callable[[Any], None] | None = None, on_error: Callable[[BaseException], None] | None = None,
            error_title: str = "Store error") -> None:
        """Run ``fn(*args)`` on the store worker. ``changes`` may be computed from the result.

        After the window closed (the executor shut down) nothing new runs: a refresh that a finished call
        queued behind the close has no window left to refresh."""
        if getattr(self.executor, "closed", False):
            return

        def done(result: Any) -> None:
            if on_done is not None:
                on_done(result)
            what = changes(result) if callable(changes) else changes
            if what:
                self.changed.emit(what)

        def failed(exc: BaseException) -> None:
            if on_error is not None:
                on_error(exc)
            else:
                self.failed.emit(error_title, exc)

        self.executor.submit(fn, *args, on_done=done, on_error=failed)


class WindowController(QObject):
    """A controller of one part of the window's behaviour; reaches the service and the store worker through it."""

    def __init__(self, window: "MainWindow"):
        super().__init__(window)
        self.window = window

    @property
    def ops(self) -> StoreOps:
        return self.window.ops

    @property
    def service(self) -> "SafeMedService | None":
        return self.window.service
