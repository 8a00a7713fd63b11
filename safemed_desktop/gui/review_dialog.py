"""The review-mode window: pick a study, then score it blinded in a ``ReviewPanel``.

Store work (listing studies, loading the study's criteria and rubric) runs through ``run`` (the window's
``StoreOps.run``: the store worker), never on the GUI thread."""

from __future__ import annotations

from typing import Any, Callable

from PySide6.QtWidgets import QDialog, QInputDialog, QMessageBox, QVBoxLayout, QWidget

from ..errors import SafeMedError
from .review_panel import ReviewPanel, load_study, run_now


class ReviewDialog(QDialog):
    def __init__(self, service: Any, store: Any, study: str, criteria: list[str], rubric: Any,
                 run: Callable[..., None] | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle(f"Blinded review: {study}")
        self.resize(1150, 820)
        lay = QVBoxLayout(self)
        self.panel = ReviewPanel(service, store, study, criteria, rubric, run, self)
        lay.addWidget(self.panel)


def open_review(parent: QWidget, service: Any, store: Any, run: Callable[..., None] | None = None,
                on_open: Callable[[ReviewDialog], None] | None = None) -> None:
    """Ask which study to review (the signed-in profile must be a reviewer) and open it."""
    run = run or run_now

    def error(exc: BaseException) -> None:
        QMessageBox.warning(parent, "Blinded review", str(exc) if isinstance(exc, SafeMedError)
                            else f"unexpected error: {exc}")

    def chosen(names: list[str]) -> None:
        if not names:
            QMessageBox.information(parent, "Blinded review", "There is no study to review in this store.")
            return
        name, ok = QInputDialog.getItem(parent, "Blinded review", "Study:", names, 0, False)
        if ok:
            run(load_study, service, store, name, on_done=lambda loaded: opened(name, *loaded), on_error=error)

    def opened(name: str, criteria: list[str], rubric: Any) -> None:
        dlg = ReviewDialog(service, store, name, criteria, rubric, run, parent)
        dlg.show()
        if on_open is not None:
            on_open(dlg)

    run(lambda: [s["name"] for s in service.list_studies(store)], on_done=chosen, on_error=error)
