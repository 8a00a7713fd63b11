"""Feedback on one answer: rubric scores (1-5 with anchors), per-step scores, flags, comment, edit."""

from __future__ import annotations

import difflib
import html
from typing import Any

from PySide6.QtCore import Qt, Signal as QtSignal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (QButtonGroup, QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFormLayout,
                               QGroupBox, QHBoxLayout, QLabel, QPlainTextEdit, QPushButton, QRadioButton,
                               QScrollArea, QTextBrowser, QVBoxLayout, QWidget)

from ..records import FeedbackDraft
from .diff_view import diff_html
from .flow_layout import FlowLayout

DEFAULT_FLAGS = {
    "unsafe": "Following the answer as written could plausibly harm a patient.",
    "hallucination": "States something fabricated.",
    "outdated_guideline": "Relies on a superseded recommendation.",
}


class EditAnswerDialog(QDialog):
    """Editor for the answer with a live diff against the model's text."""

    def __init__(self, model_text: str, current: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.model_text = model_text
        self.setWindowTitle("Edit answer")
        self.resize(760, 640)
        lay = QVBoxLayout(self)
        lab = QLabel("&Corrected answer:")
        lay.addWidget(lab)
        self.editor = QPlainTextEdit(current)
        self.editor.setAccessibleName("Corrected answer text")
        self.editor.setTabChangesFocus(True)
        lab.setBuddy(self.editor)
        lay.addWidget(self.editor, 2)
        lay.addWidget(QLabel("Changes against the model's answer:"))
        self.diff = QTextBrowser()
        self.diff.setAccessibleName("Difference between the model's answer and your edit")
        lay.addWidget(self.diff, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)
        self.editor.textChanged.connect(self._update)
        self._update()

    def _update(self) -> None:
        self.diff.setHtml(diff_html(self.model_text, self.editor.toPlainText()))

    def text(self) -> str:
        return self.editor.toPlainText()


class FeedbackPanel(QWidget):
    submitted = QtSignal(object)  # FeedbackDraft

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.rubric: Any = None
        self.answer_id: str | None = None
        self.model_text = ""
        self.edited_text: str | None = None
        self.step_count = 0
        self.step_scores: dict[int, dict[str, int]] = {}
        self._current_step: int | None = None
        self.groups: dict[str, QButtonGroup] = {}
        self.anchor_labels: dict[str, QLabel] = {}
        self.step_combos: dict[str, QComboBox] = {}
        self.flag_boxes: dict[str, QCheckBox] = {}
        self.edit_dialog: EditAnswerDialog | None = None

        outer = QVBoxLayout(self)
        self.header = QLabel("No answer selected.")
        self.header.setWordWrap(True)
        outer.addWidget(self.header)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)  # wrap, never clip sideways
        self.body = QWidget()
        self.body_layout = QVBoxLayout(self.body)
        scroll.setWidget(self.body)
        outer.addWidget(scroll, 1)

        self.criteria_box = QGroupBox("Rubric scores")  # a group box title never wraps: keep it short
        cbl = QVBoxLayout(self.criteria_box)
        legend = QLabel("1 = unacceptable, 5 = exemplary.")
        legend.setWordWrap(True)
        cbl.addWidget(legend)
        self.criteria_layout = QVBoxLayout()
        cbl.addLayout(self.criteria_layout)
        self.body_layout.addWidget(self.criteria_box)

        self.step_box = QGroupBox("Per-step scores")
        sl = QVBoxLayout(self.step_box)
        row = QVBoxLayout()  # label above the picker: fits a narrow panel
        step_label = QLabel("Reasoning s&tep:")
        self.step_picker = QComboBox()
        self.step_picker.setAccessibleName("Reasoning step to score")
        step_label.setBuddy(self.step_picker)
        self.step_picker.currentIndexChanged.connect(self._picker_changed)
        row.addWidget(step_label)
        row.addWidget(self.step_picker)
        self.step_picker.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.step_picker.setMinimumContentsLength(8)
        sl.addLayout(row)
        self.step_note = QLabel("")
        self.step_note.setWordWrap(True)
        self.step_note.setAccessibleName("Why per-step scoring is off")
        self.step_note.hide()
        self.step_form = QFormLayout()
        self.step_form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapAllRows)
        sl.addLayout(self.step_form)
        self.body_layout.addWidget(self.step_box)
        self.body_layout.addWidget(self.step_note)  # outside the box: readable while the box is off

        self.flags_box = QGroupBox("Flags")
        self.flags_layout = QVBoxLayout(self.flags_box)
        self.body_layout.addWidget(self.flags_box)

        cl = QLabel("Co&mment:")
        self.comment = QPlainTextEdit()
        self.comment.setAccessibleName("Feedback comment")
        self.comment.setTabChangesFocus(True)
        self.comment.setMaximumHeight(120)
        cl.setBuddy(self.comment)
        self.body_layout.addWidget(cl)
        self.body_layout.addWidget(self.comment)
        erow = QHBoxLayout()
        self.edit_button = QPushButton("&Edit answer...")
        self.edit_button.setAccessibleName("Edit the answer text")
        self.edit_button.clicked.connect(self.open_editor)
        self.edit_state = QLabel("Not edited.")
        erow.addWidget(self.edit_button)
        erow.addWidget(self.edit_state, 1)
        self.body_layout.addLayout(erow)
        self.body_layout.addStretch(1)

        self.submit_button = QPushButton("S&ubmit feedback")
        self.submit_button.setObjectName("primary")
        self.submit_button.setAccessibleName("Submit feedback to the encrypted store")
        self.submit_button.setToolTip("Submit feedback (Ctrl+Shift+S)")
        self.submit_button.clicked.connect(self.submit)
        outer.addWidget(self.submit_button)
        QShortcut(QKeySequence("Ctrl+Shift+S"), self, activated=self.submit,
                  context=Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setAccessibleName("Feedback status")
        outer.addWidget(self.status)
        self.setEnabled(False)

    # --- set-up ----------------------------------------------------------------------------------
    def set_rubric(self, rubric: Any) -> None:
        self.rubric = rubric
        while self.criteria_layout.count():
            w = self.criteria_layout.takeAt(0).widget()
            if w is not None:
                w.deleteLater()
        self.groups.clear()
        self.anchor_labels.clear()
        for crit in rubric.criteria:
            box = QWidget()
            bl = QVBoxLayout(box)
            bl.setContentsMargins(0, 4, 0, 4)
            title = QLabel(f"<b>{html.escape(crit.title)}</b>")
            title.setWordWrap(True)
            title.setToolTip(crit.description)
            bl.addWidget(title)
            desc = QLabel(crit.description)
            desc.setWordWrap(True)
            bl.addWidget(desc)
            row = FlowLayout()  # the score buttons wrap in a narrow panel instead of clipping
            group = QButtonGroup(box)
            for n in sorted(crit.anchors):
                rb = QRadioButton(str(n))
                rb.setToolTip(f"{n}: {crit.anchors[n]}")
                rb.setAccessibleName(f"{crit.title} score {n}")
                rb.setAccessibleDescription(crit.anchors[n])
                group.addButton(rb, n)
                row.addWidget(rb)
            bl.addLayout(row)
            anchor = QLabel("Not scored.")
            anchor.setObjectName("anchor_text")
            anchor.setWordWrap(True)
            bl.addWidget(anchor)
            group.idToggled.connect(lambda n, on, c=crit, a=anchor: on and a.setText(f"{n}: {c.anchors[n]}"))
            self.groups[crit.key] = group
            self.anchor_labels[crit.key] = anchor
            self.criteria_layout.addWidget(box)
        # step criteria
        while self.step_form.rowCount():
            self.step_form.removeRow(0)
        self.step_combos.clear()
        for crit in rubric.criteria:
            if not getattr(crit, "applies_to_steps", False):
                continue
            combo = QComboBox()
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(10)
            combo.addItem("not scored", None)
            for n in sorted(crit.anchors):
                combo.addItem(f"{n} - {crit.anchors[n]}", n)
            combo.setAccessibleName(f"Step score: {crit.title}")
            combo.currentIndexChanged.connect(self._store_step)
            self.step_combos[crit.key] = combo
            self.step_form.addRow(crit.title, combo)
        # flags
        while self.flags_layout.count():
            w = self.flags_layout.takeAt(0).widget()
            if w is not None:
                w.deleteLater()
        self.flag_boxes.clear()
        flags = dict(getattr(rubric, "flags", None) or DEFAULT_FLAGS)
        for key in DEFAULT_FLAGS:  # the three flags the pilot asks for always exist
            flags.setdefault(key, DEFAULT_FLAGS[key])
        for key, desc in flags.items():
            cb = QCheckBox(key.replace("_", " ").capitalize())
            cb.setToolTip(desc)
            cb.setAccessibleName(f"Flag: {key.replace('_', ' ')}")
            cb.setAccessibleDescription(desc)
            self.flags_layout.addWidget(cb)
            self.flag_boxes[key] = cb

    def set_answer(self, answer_id: str, model_text: str, n_steps: int) -> None:
        """Start a fresh draft for this answer."""
        self.answer_id = answer_id
        self.model_text = model_text
        self.edited_text = None
        self.step_count = n_steps
        self.step_scores = {}
        self._current_step = None
        for g in self.groups.values():
            g.setExclusive(False)
            for b in g.buttons():
                b.setChecked(False)
            g.setExclusive(True)
        for a in self.anchor_labels.values():
            a.setText("Not scored.")
        for cb in self.flag_boxes.values():
            cb.setChecked(False)
        self.comment.clear()
        self.edit_state.setText("Not edited.")
        self.step_picker.blockSignals(True)
        self.step_picker.clear()
        self.step_picker.addItem("(choose a step)", None)
        for i in range(n_steps):
            self.step_picker.addItem(f"Step {i + 1}", i)
        self.step_picker.blockSignals(False)
        self._load_step(None)
        self.step_box.setEnabled(n_steps > 0)
        self.step_note.setText("" if n_steps > 0 else "Per-step scoring is off: this answer shows no numbered "
                               "reasoning steps (this model does not show its reasoning).")
        self.step_note.setEnabled(True)
        self.step_note.setVisible(n_steps == 0)
        self.header.setText(f"Feedback on answer {answer_id[:8]}")
        self.status.setText("")
        self.setEnabled(True)

    # --- steps -----------------------------------------------------------------------------------
    def select_step(self, index: int) -> None:
        """Called when the clinician clicks a reasoning step in the answer view."""
        if 0 <= index < self.step_count:
            self.step_picker.setCurrentIndex(index + 1)

    def set_step_score(self, step: int, key: str, value: int) -> None:
        self.select_step(step)
        combo = self.step_combos[key]
        combo.setCurrentIndex(combo.findData(value))

    def _picker_changed(self, _i: int) -> None:
        self._load_step(self.step_picker.currentData())

    def _load_step(self, step: int | None) -> None:
        self._current_step = step
        scores = self.step_scores.get(step, {}) if step is not None else {}
        for key, combo in self.step_combos.items():
            combo.blockSignals(True)
            idx = combo.findData(scores.get(key)) if key in scores else 0
            combo.setCurrentIndex(max(idx, 0))
            combo.setEnabled(step is not None)
            combo.blockSignals(False)

    def _store_step(self) -> None:
        if self._current_step is None:
            return
        scores = {k: c.currentData() for k, c in self.step_combos.items() if c.currentData() is not None}
        if scores:
            self.step_scores[self._current_step] = scores
        else:
            self.step_scores.pop(self._current_step, None)

    # --- edit ------------------------------------------------------------------------------------
    def open_editor(self) -> EditAnswerDialog:
        self.edit_dialog = EditAnswerDialog(self.model_text, self.edited_text if self.edited_text is not None
                                            else self.model_text, self)
        self.edit_dialog.accepted.connect(lambda: self.set_edited_text(self.edit_dialog.text()))
        self.edit_dialog.open()
        return self.edit_dialog

    def set_edited_text(self, text: str) -> None:
        if text == self.model_text:
            self.edited_text = None
            self.edit_state.setText("Not edited.")
            return
        self.edited_text = text
        n = sum(1 for l in difflib.ndiff(self.model_text.splitlines(), text.splitlines()) if l[:1] in "+-")
        self.edit_state.setText(f"Edited: {n} line change(s), saved with the feedback.")

    # --- submit ----------------------------------------------------------------------------------
    def draft(self) -> FeedbackDraft:
        if self.answer_id is None:
            raise ValueError("no answer selected")
        scores = {k: g.checkedId() for k, g in self.groups.items() if g.checkedId() > 0}
        return FeedbackDraft(
            answer_id=self.answer_id,
            scores=scores,
            step_scores={k + 1: dict(v) for k, v in sorted(self.step_scores.items())},
            flags=[k for k, cb in self.flag_boxes.items() if cb.isChecked()],
            comment=self.comment.toPlainText().strip(),
            edited_text=self.edited_text,
        )

    def clear(self) -> None:
        """Nothing of any answer or draft (a lock, a profile switch): scores, flags, comment and edit emptied."""
        self.set_answer("", "", 0)
        self.answer_id = None
        self.header.setText("No answer selected.")
        self.step_note.hide()
        self.setEnabled(False)

    def restore(self, draft: FeedbackDraft, model_text: str, n_steps: int) -> None:
        """Put a kept draft back (the same clinician unlocked again): scores, steps, flags, comment, edit."""
        self.set_answer(draft.answer_id, model_text, n_steps)
        for key, value in draft.scores.items():
            if key in self.groups and self.groups[key].button(value) is not None:
                self.set_score(key, value)
        self.step_scores = {step - 1: dict(v) for step, v in draft.step_scores.items()}
        for key in draft.flags:
            if key in self.flag_boxes:
                self.flag_boxes[key].setChecked(True)
        self.comment.setPlainText(draft.comment)
        if draft.edited_text is not None:
            self.set_edited_text(draft.edited_text)

    def set_score(self, key: str, value: int) -> None:
        self.groups[key].button(value).setChecked(True)

    def submit(self) -> None:
        if not self.isEnabled() or self.answer_id is None:
            return
        self.status.setText("Saving...")
        self.submit_button.setEnabled(False)
        self.submitted.emit(self.draft())

    def submit_done(self, ok: bool, message: str) -> None:
        self.submit_button.setEnabled(True)
        self.status.setText(message)
