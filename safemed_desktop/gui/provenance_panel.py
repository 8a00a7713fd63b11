"""Provenance of one answer: model identity, pack and rubric versions, audits, edit history with a
diff view, the model version's track record and five-strike status (from ``store.provenance``)."""

from __future__ import annotations

import html
import time
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QComboBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QScrollArea, QTextBrowser,
                               QVBoxLayout, QWidget)

from ..records.answer import AnswerRecord
from ..service import LEVEL_TEXT, role_text, signal_title
from .diff_view import readable_diff_html


def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts)) if ts else "-"


class ProvenancePanel(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.record: AnswerRecord | None = None
        self.prov: dict[str, Any] | None = None
        self.model_name: str | None = None
        outer = QVBoxLayout(self)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)  # wrap, never clip sideways
        body = QWidget()
        lay = QVBoxLayout(body)
        scroll.setWidget(body)
        outer.addWidget(scroll)

        self.model_box = QGroupBox("Model and versions")
        form = QFormLayout(self.model_box)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        self.model_label = QLabel("-")
        self.sha_label = QLabel("-")
        self.approval_label = QLabel("-")
        self.packs_label = QLabel("-")
        self.packs_label.setWordWrap(True)
        self.rubric_label = QLabel("-")
        self.template_label = QLabel("-")
        for lab in (self.model_label, self.sha_label, self.approval_label, self.rubric_label, self.template_label):
            lab.setWordWrap(True)
        for lab, name in ((self.model_label, "Model"), (self.sha_label, "Model sha256 prefix"),
                          (self.approval_label, "Model approval"), (self.packs_label, "Knowledge pack versions"),
                          (self.rubric_label, "Rubric version"), (self.template_label, "Prompt template hash")):
            lab.setAccessibleName(name)
        form.addRow("Model:", self.model_label)
        form.addRow("sha256:", self.sha_label)
        form.addRow("Status:", self.approval_label)
        form.addRow("Knowledge packs:", self.packs_label)
        form.addRow("Rubric:", self.rubric_label)
        form.addRow("Prompt template:", self.template_label)
        lay.addWidget(self.model_box)

        self.audits_box = QGroupBox("Audits of this answer")
        al = QVBoxLayout(self.audits_box)
        self.audits = QTextBrowser()
        self.audits.setAccessibleName("Audits of this answer")
        al.addWidget(self.audits)
        lay.addWidget(self.audits_box)

        self.edits_box = QGroupBox("Edit history")
        el = QVBoxLayout(self.edits_box)
        self.edits_label = QLabel("No edits.")
        self.edits_label.setWordWrap(True)
        el.addWidget(self.edits_label)
        row = QFormLayout()  # "From" and "To" on their own rows: fits a narrow panel
        row.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        self.from_version = QComboBox()
        self.from_version.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.from_version.setMinimumContentsLength(8)
        self.from_version.setAccessibleName("Diff from version")
        self.to_version = QComboBox()
        self.to_version.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.to_version.setMinimumContentsLength(8)
        self.to_version.setAccessibleName("Diff to version")
        fl, tl = QLabel("&From:"), QLabel("&To:")
        fl.setBuddy(self.from_version)
        tl.setBuddy(self.to_version)
        row.addRow(fl, self.from_version)
        row.addRow(tl, self.to_version)
        el.addLayout(row)
        self.diff = QTextBrowser()
        self.diff.setAccessibleName("Difference between answer versions")
        el.addWidget(self.diff)
        self.from_version.currentIndexChanged.connect(self._show_diff)
        self.to_version.currentIndexChanged.connect(self._show_diff)
        lay.addWidget(self.edits_box)

        self.track_box = QGroupBox("Model version track record")
        tl2 = QVBoxLayout(self.track_box)
        self.strike_label = QLabel("-")
        self.strike_label.setWordWrap(True)
        self.strike_label.setAccessibleName("Five-strike status")
        self.track = QTextBrowser()
        self.track.setAccessibleName("Model track record")
        tl2.addWidget(self.strike_label)
        tl2.addWidget(self.track)
        lay.addWidget(self.track_box)
        self.clear()

    def clear(self) -> None:
        self.record = None
        self.prov = None
        for lab in (self.model_label, self.sha_label, self.approval_label, self.packs_label, self.rubric_label,
                    self.template_label, self.strike_label):
            lab.setText("-")
        self.audits.setPlainText("No answer selected.")
        self.track.clear()
        self.diff.clear()
        self.from_version.clear()
        self.to_version.clear()
        self.edits_label.setText("No edits.")

    def set_model_name(self, name: str | None) -> None:
        self.model_name = name

    def show_record(self, record: AnswerRecord) -> None:
        """Versions known from the record itself (before the store answers)."""
        self.record = record
        m = record.model
        name = f"{self.model_name} ({m.id})" if self.model_name else m.id
        self.model_label.setText(name)
        self.sha_label.setText(m.sha256[:16] if m.sha256 else "-")
        status = ["approved" if m.approved else "UNAPPROVED"]
        if m.demo:
            status.append("demo model - not clinically validated")
        self.approval_label.setText(", ".join(status))
        self.packs_label.setText(", ".join(f"{k}@{v}" for k, v in sorted(record.pack_versions.items())) or "-")
        self.rubric_label.setText(record.rubric or "-")
        self.template_label.setText(record.prompt_template_hash[:16] or "-")

    def show_provenance(self, prov: dict[str, Any]) -> None:
        self.prov = prov
        audits = prov.get("audits", [])
        if audits:
            parts = []
            for a in audits:
                scores = ", ".join(f"{k}={v}" for k, v in a.get("scores", {}).items())
                steps = "; ".join(f"step {k}: " + ", ".join(f"{c}={v}" for c, v in s.items())
                                  for k, s in sorted(a.get("step_scores", {}).items()))
                flags = ", ".join(a.get("flags", [])) or "none"
                strike = " <b>[STRIKE]</b>" if a.get("strike") else ""
                comment = html.escape(a.get("comment") or "")
                who = self._who(a, "clinician_id", "clinician_role")
                parts.append(f"<p><b>{_when(a.get('created_at'))}</b> by {html.escape(who)}"
                             f" ({html.escape(a.get('rubric', ''))}){strike}<br>Scores: {html.escape(scores)}"
                             + (f"<br>Step scores: {html.escape(steps)}" if steps else "")
                             + f"<br>Flags: {html.escape(flags)}" + (f"<br>Comment: {comment}" if comment else "")
                             + "</p>")
            self.audits.setHtml("".join(parts))
        else:
            self.audits.setPlainText("Not audited yet.")
        acks = prov.get("acknowledgements", [])
        if acks:
            self.audits.append("Acknowledged alerts: " + ", ".join(
                f"{signal_title(a['signal_name'])} ({LEVEL_TEXT.get(a['signal_level'], a['signal_level'])}) by "
                f"{self._who(a, 'clinician_id', 'none')} at {_when(a['created_at'])}" for a in acks))

        history = prov.get("edit_history", [])
        self._history = {h["version"]: h for h in history}
        n_edits = max(0, len(history) - 1)
        self.edits_label.setText("No edits (version 0 is the model's answer)." if not n_edits else
                                 f"{n_edits} edit(s). " + "; ".join(
                                     f"version {h['version']} by {self._who(h)} at {_when(h['created_at'])}"
                                     for h in history[1:]))
        for combo in (self.from_version, self.to_version):
            combo.blockSignals(True)
            combo.clear()
            for h in history:
                combo.addItem(f"version {h['version']} ({self._who(h)})", h["version"])
            combo.blockSignals(False)
        if history:
            self.from_version.setCurrentIndex(0)
            self.to_version.setCurrentIndex(len(history) - 1)
        self._show_diff()

        strikes = prov.get("strikes", {})
        count, limit = strikes.get("count", 0), strikes.get("limit", 5)
        review = strikes.get("under_review")
        self.strike_label.setText(
            f"Five-strike rule: {count} of {limit} strikes in the last {strikes.get('window_days', '?')} days - "
            + ("MARKED FOR EXPERT-PANEL REVIEW" if review else "not under review"))
        tr = prov.get("track_record", {})
        rows = []
        for scope in ("overall", "category"):
            t = tr.get(scope)
            if not t:
                continue
            label = "All questions" if scope == "overall" else f"Category: {t.get('category') or prov.get('category')}"
            means = ", ".join(f"{k} {v:.2f}" for k, v in t.get("mean_scores", {}).items()) or "no scores yet"
            flags = ", ".join(f"{k} x{v}" for k, v in t.get("flag_counts", {}).items()) or "none"
            rows.append(f"<p><b>{html.escape(label)}</b>: {t.get('audited_answers', 0)} audited answer(s), "
                        f"{t.get('feedback_count', 0)} feedback record(s)<br>Mean scores: {html.escape(means)}"
                        f"<br>Flags: {html.escape(flags)}</p>")
        rows = rows or ["<p>No track record on this workstation yet.</p>"]
        rows.append(_site_html(prov.get("site")))
        self.track.setHtml("".join(rows))

    def _show_diff(self) -> None:
        history = getattr(self, "_history", {})
        a, b = self.from_version.currentData(), self.to_version.currentData()
        if a is None or b is None or a not in history or b not in history:
            self.diff.clear()
            return
        ha, hb = history[a], history[b]
        self.diff.setHtml(readable_diff_html(ha["text"], hb["text"], f"version {a} ({self._who(ha)})",
                                             f"version {b} ({self._who(hb)})"))

    def set_people(self, people: dict[str, str]) -> None:
        """Clinician id -> display name, for naming reviewers and editors ("Dr Jane Tester, attending")."""
        self.people = dict(people)

    def _who(self, entry: dict[str, Any], id_key: str = "author_id", role_key: str = "author_role") -> str:
        role = role_text(entry.get(role_key))
        if role == "model":
            return "the model"
        name = getattr(self, "people", {}).get(entry.get(id_key) or "")
        if name:
            return f"{name}, {role}" if role else name
        return f"a clinician ({role})" if role else "a clinician"

    def audit_count(self) -> int:
        return len(self.prov.get("audits", [])) if self.prov else 0


def _site_html(site: dict[str, Any] | None) -> str:
    """The site-wide figures of the applied site pack, beside this workstation's own."""
    if not site:
        return "<p><b>Site-wide</b>: no site pack on this workstation yet (Sync &gt; Import a site pack).</p>"
    o = site.get("overall") or {}
    head = (f"<p><b>Site-wide</b> (site pack version {site.get('pack_version')}, {_when(site.get('pack_date'))}): "
            f"{o.get('audited_answers', 0)} audited answer(s), {o.get('feedback_count', 0)} feedback record(s), "
            f"{o.get('unsafe_flags', 0)} flagged unsafe, {o.get('strikes', 0)} strike(s)")
    c = site.get("category")
    if c:
        means = ", ".join(f"{k} {v:.2f}" for k, v in (c.get("mean_scores") or {}).items()) or "no scores yet"
        head += (f"<br>This category ({html.escape(str(c.get('category')))}): {c.get('audited_answers', 0)} audited "
                 f"answer(s) from {c.get('workstations', 0)} workstation(s); mean scores: {html.escape(means)}")
    return head + "</p>"
