"""History of this workstation's answers: searchable (store.list_answers(search=...)), reopenable."""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal as QtSignal
from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QHeaderView, QLabel, QLineEdit, QPushButton,
                               QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from ..service import finish_text
from .badges import LEVEL_TEXT, signal_title

COLUMNS = ("When", "Question", "Signals", "Audits", "Edits")


def _worst(levels: dict[str, str]) -> str:
    for lv in ("alert", "caution", "ok"):
        names = [signal_title(n) for n, l in levels.items() if l == lv]
        if names:
            return f"{LEVEL_TEXT[lv]}: {', '.join(names)}" if lv != "ok" else "signals OK"
    return "not assessed"


class HistoryPanel(QWidget):
    search_requested = QtSignal(str)
    open_requested = QtSignal(str)  # answer id

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        lay = QVBoxLayout(self)
        row = QHBoxLayout()
        lab = QLabel("Searc&h:")
        self.search = QLineEdit()
        self.search.setAccessibleName("Search past questions and answers")
        self.search.setPlaceholderText("words in the question or answer")
        lab.setBuddy(self.search)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setAccessibleName("Refresh history")
        row.addWidget(lab)
        row.addWidget(self.search, 1)
        row.addWidget(self.refresh_button)
        lay.addLayout(row)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setAccessibleName("Past answers (Enter opens)")
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        header = self.table.horizontalHeader()
        for col in (0, 3, 4):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setMinimumSectionSize(48)
        self.table.setWordWrap(True)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Interactive)
        header.resizeSection(2, 140)
        self.table.verticalHeader().hide()
        lay.addWidget(self.table, 1)
        self.open_button = QPushButton("&Open selected answer")
        self.open_button.setAccessibleName("Open the selected past answer")
        lay.addWidget(self.open_button)
        self.count_label = QLabel("")
        lay.addWidget(self.count_label)
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(250)
        self._debounce.timeout.connect(self.refresh)
        self.search.textChanged.connect(lambda _t: self._debounce.start())
        self.search.returnPressed.connect(self.refresh)
        self.refresh_button.clicked.connect(self.refresh)
        self.table.itemActivated.connect(lambda _i: self._open())
        self.table.cellDoubleClicked.connect(lambda _r, _c: self._open())
        self.open_button.clicked.connect(self._open)
        self.rows: list[dict[str, Any]] = []

    def refresh(self) -> None:
        self._debounce.stop()
        self.search_requested.emit(self.search.text().strip())

    def set_rows(self, rows: list[dict[str, Any]]) -> None:
        r0 = self.table.currentRow()
        keep = self.rows[r0]["id"] if 0 <= r0 < len(self.rows) else None  # the selection follows its answer
        self.rows = rows
        self.table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            if "error" in row:
                cells = (time.strftime("%Y-%m-%d %H:%M", time.localtime(row["created_at"])),
                         f"UNREADABLE RECORD: {row['error']}", "", "", "")
            else:
                q = row["question"].replace("\n", " ")
                status = "blocked" if row.get("blocked") else _worst(row.get("signal_levels", {}))
                if row.get("finish_reason") in ("cancelled", "length"):
                    status = f"{finish_text(row['finish_reason'])}; {status}"
                cells = (time.strftime("%m-%d %H:%M", time.localtime(row["created_at"])), q, status,
                         str(row.get("n_feedback", 0)), str(row.get("n_edits", 0)))
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, row["id"])
                item.setToolTip(row.get("answer_preview", "") if c == 1 else text)
                self.table.setItem(r, c, item)
        self.count_label.setText(f"{len(rows)} answer(s)")
        ids = [r["id"] for r in rows]
        self.table.setCurrentCell(ids.index(keep), 1) if keep in ids else self.table.clearSelection()

    def _open(self) -> None:
        r = self.table.currentRow()
        if 0 <= r < len(self.rows) and "error" not in self.rows[r]:
            self.open_requested.emit(self.rows[r]["id"])
