"""The conversation list (left, newest first, searchable, titled from the first question) and the turn strip
(the turns of the open conversation; choosing one shows that turn with its own question and patient).

The list's context menu (right click, or the menu key on the chosen conversation) renames a conversation or
archives it (hidden from the list, never deleted) and un-archives it; "Show archived" lists archived ones
too. The list only asks (``rename_requested``, ``archive_requested``): the window runs the audited store
write through the service on the store worker, and the refresh that follows redraws the list."""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal as QtSignal
from PySide6.QtWidgets import (QCheckBox, QHBoxLayout, QInputDialog, QLabel, QLineEdit, QListWidget,
                               QListWidgetItem, QMenu, QPushButton, QVBoxLayout, QWidget)

from ..records import AnswerRecord
from ..service import LEVEL_TEXT, finish_text

ID_ROLE = Qt.ItemDataRole.UserRole


def _status(row: dict[str, Any]) -> str:
    parts = []
    if row.get("blocked"):
        parts.append("a question was blocked")
    if row.get("incomplete"):
        parts.append("an answer is incomplete")
    level = row.get("worst_level", "not_assessed")
    if level in ("alert", "caution"):
        parts.insert(0, f"signals: {LEVEL_TEXT[level]}")
    elif not parts and level == "ok":
        parts.append("signals: OK")
    if row.get("archived"):
        parts.append("archived")
    return "; ".join(parts)


class ConversationList(QWidget):
    """Searchable list of conversations; keeps the selection on the same conversation across refreshes."""

    open_requested = QtSignal(str)  # conversation id
    new_requested = QtSignal()
    search_requested = QtSignal(str)
    rename_requested = QtSignal(str, str)  # conversation id, new title
    archive_requested = QtSignal(str, bool)  # conversation id, True: archive / False: un-archive

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        head = QHBoxLayout()
        title = QLabel("Conversations")
        title.setObjectName("section_title")
        head.addWidget(title, 1)
        self.new_button = QPushButton("&New conversation")
        self.new_button.setAccessibleName("Start a new conversation")
        self.new_button.setToolTip("Start a new conversation (Ctrl+N)")
        head.addWidget(self.new_button)
        lay.addLayout(head)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search conversations")
        self.search.setAccessibleName("Search conversations (titles, questions and answers)")
        lay.addWidget(self.search)
        self.list = QListWidget()
        self.list.setAccessibleName("Conversations, newest first (Enter opens)")
        self.list.setWordWrap(True)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setTextElideMode(Qt.TextElideMode.ElideNone)
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list.customContextMenuRequested.connect(self._context_menu)
        lay.addWidget(self.list, 1)
        foot = QHBoxLayout()
        self.count_label = QLabel("")
        foot.addWidget(self.count_label, 1)
        self.show_archived = QCheckBox("Show archived")
        self.show_archived.setAccessibleName("Show archived conversations in the list")
        self.show_archived.setToolTip("List archived conversations too (right-click a conversation to archive it)")
        self.show_archived.toggled.connect(lambda _on: self.refresh())
        foot.addWidget(self.show_archived)
        lay.addLayout(foot)
        self.rows: list[dict[str, Any]] = []
        self.current_id: str | None = None
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(250)
        self._debounce.timeout.connect(self.refresh)
        self.search.textChanged.connect(lambda _t: self._debounce.start())
        self.search.returnPressed.connect(self.refresh)
        self.new_button.clicked.connect(self.new_requested)
        self.list.itemActivated.connect(self._open)
        self.list.itemClicked.connect(self._open)

    @property
    def include_archived(self) -> bool:
        return self.show_archived.isChecked()

    def refresh(self) -> None:
        self._debounce.stop()
        self.search_requested.emit(self.search.text().strip())

    def set_rows(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows
        self.list.blockSignals(True)
        self.list.clear()
        for row in rows:
            when = time.strftime("%d %b %H:%M", time.localtime(row.get("updated_at", row["created_at"])))
            if "error" in row:
                text = f"Unreadable conversation ({when}): {row['error']}"
            else:
                n = row.get("n_turns", 0)
                status = _status(row)
                text = f"{row['title']}\n{when} \u00b7 {n} turn{'s' if n != 1 else ''}" + (f" \u00b7 {status}" if status else "")
            item = QListWidgetItem(text)
            item.setData(ID_ROLE, row["id"])
            item.setToolTip(text)
            self.list.addItem(item)
        self.list.blockSignals(False)
        self.select(self.current_id)
        self.count_label.setText(f"{len(rows)} conversation(s)")

    def select(self, conversation_id: str | None) -> None:
        """Mark the open conversation (by id, so a refresh never moves the selection to another one)."""
        self.current_id = conversation_id
        self.list.blockSignals(True)
        self.list.clearSelection()
        for i in range(self.list.count()):
            if self.list.item(i).data(ID_ROLE) == conversation_id:
                self.list.setCurrentRow(i)
                break
        else:
            self.list.setCurrentRow(-1)
        self.list.blockSignals(False)

    def _row(self, item: QListWidgetItem | None) -> dict[str, Any] | None:
        """The listed conversation of ``item``; None for no item or an unreadable conversation."""
        if item is None:
            return None
        cid = item.data(ID_ROLE)
        row = next((r for r in self.rows if r["id"] == cid), None)
        return row if row is not None and "error" not in row else None

    def _open(self, item: QListWidgetItem | None) -> None:
        row = self._row(item)
        if row is not None:
            self.open_requested.emit(row["id"])

    def menu_for(self, item: QListWidgetItem | None) -> QMenu | None:
        """The context menu of a listed conversation: Rename..., Archive (or Unarchive when archived)."""
        row = self._row(item)
        if row is None:
            return None
        menu = QMenu(self)
        menu.setAccessibleName("Conversation actions")
        cid, archived = row["id"], bool(row.get("archived"))
        menu.addAction("&Rename\u2026").triggered.connect(lambda _c=False: self.ask_rename(cid))
        if archived:
            menu.addAction("Un&archive").triggered.connect(lambda _c=False: self.archive_requested.emit(cid, False))
        else:
            menu.addAction("&Archive").triggered.connect(lambda _c=False: self.archive_requested.emit(cid, True))
        return menu

    def _context_menu(self, pos) -> None:
        item = self.list.itemAt(pos) or self.list.currentItem()  # the menu key: the chosen conversation
        menu = self.menu_for(item)
        if menu is not None:
            menu.exec(self.list.viewport().mapToGlobal(pos))
            menu.deleteLater()

    def ask_rename(self, conversation_id: str) -> None:
        """Ask for a new title (one line, the current one to edit) and request the rename if it changed."""
        row = next((r for r in self.rows if r["id"] == conversation_id), None)
        if row is None:
            return
        title, ok = QInputDialog.getText(self, "Rename conversation", "New title (one line):",
                                         QLineEdit.EchoMode.Normal, row.get("title", ""))
        title = " ".join(title.split()) if ok else ""
        if title and title != row.get("title"):
            self.rename_requested.emit(conversation_id, title)


class TurnStrip(QWidget):
    """The turns of the open conversation; choosing one shows it (read-only, with its own snapshot)."""

    turn_chosen = QtSignal(str)  # answer id

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.title = QLabel("New conversation")
        self.title.setObjectName("section_title")
        self.title.setWordWrap(True)
        self.title.setAccessibleName("Open conversation")
        lay.addWidget(self.title)
        self.list = QListWidget()
        self.list.setAccessibleName("Turns of this conversation (select one to read it)")
        self.list.setWordWrap(True)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setMaximumHeight(72)  # about three turns; the strip scrolls
        self.list.itemClicked.connect(self._chosen)
        self.list.itemActivated.connect(self._chosen)
        lay.addWidget(self.list)
        self.turn_ids: list[str] = []
        self.list.hide()

    def set_turns(self, title: str, turns: list[AnswerRecord] | tuple[AnswerRecord, ...], current: str | None) -> None:
        self.title.setText(title or "New conversation")
        self.list.clear()
        self.turn_ids = []
        for i, t in enumerate(turns, 1):
            q = " ".join(t.question.split())
            q = q if len(q) <= 90 else q[:89] + "\u2026"
            end = "" if t.finish_reason == "stop" else f" ({finish_text(t.finish_reason).lower()})"
            item = QListWidgetItem(f"Turn {i}: {q}{end}")
            item.setData(ID_ROLE, t.id)
            self.list.addItem(item)
            self.turn_ids.append(t.id)
        self.list.setVisible(bool(turns))
        self.mark(current)

    def mark(self, answer_id: str | None) -> None:
        self.list.blockSignals(True)
        self.list.setCurrentRow(self.turn_ids.index(answer_id) if answer_id in self.turn_ids else -1)
        self.list.blockSignals(False)

    def _chosen(self, item: QListWidgetItem | None) -> None:
        if item is not None:
            self.turn_chosen.emit(item.data(ID_ROLE))
