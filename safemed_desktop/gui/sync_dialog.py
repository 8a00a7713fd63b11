"""The Sync dialog: export a bundle to removable media, import acknowledgements and site packs, and show the
last sync and the enrolled site's fingerprint (docs/sync.md).

Store work runs through ``run`` (the window's ``StoreOps.run``: the store worker, callbacks on the GUI
thread); the dialog never touches disk from the GUI thread. ``sync_waiting_text`` is the status-bar text.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel, QPushButton,
                               QVBoxLayout, QWidget)

if TYPE_CHECKING:
    from ..service import SafeMedService

Runner = Callable[..., None]


def sync_waiting_text(status: dict[str, Any] | None) -> str:
    """The status bar's text: records waiting to be synced (or that no site is enrolled)."""
    if status is None:
        return "Sync: -"
    if status.get("site") is None:
        return "Sync: no site"
    return f"Sync: {status['records_waiting']} waiting"


def _when(ts: Any) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts)) if isinstance(ts, (int, float)) else "never"


class SyncDialog(QDialog):
    """Export to a folder, import acknowledgements and site packs; the last sync and the site fingerprint."""

    def __init__(self, service: "SafeMedService", store: Any, run: Runner, parent: QWidget | None = None,
                 on_status: Callable[[dict[str, Any]], None] | None = None):
        super().__init__(parent)
        self.setWindowTitle("Sync with the pilot site")
        self.service, self.store, self.run, self.on_status = service, store, run, on_status
        self.status: dict[str, Any] | None = None
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.message.setAccessibleName("Sync result")
        form = QFormLayout()
        self.site_label, self.fingerprint_label = QLabel("-"), QLabel("-")
        self.waiting_label, self.export_label = QLabel("-"), QLabel("-")
        self.ack_label, self.pack_label = QLabel("-"), QLabel("-")
        for text, label in (("Site", self.site_label), ("Site fingerprint", self.fingerprint_label),
                            ("Records waiting", self.waiting_label), ("Last export", self.export_label),
                            ("Last acknowledgement", self.ack_label), ("Site pack", self.pack_label)):
            label.setAccessibleName(text)
            form.addRow(text + ":", label)
        self.btn_export = QPushButton("Export bundle to folder...")
        self.btn_ack = QPushButton("Import acknowledgements...")
        self.btn_pack = QPushButton("Import site pack...")
        self.btn_export.clicked.connect(self.choose_export_folder)
        self.btn_ack.clicked.connect(self.choose_acks)
        self.btn_pack.clicked.connect(self.choose_pack)
        buttons = QHBoxLayout()
        for b in (self.btn_export, self.btn_ack, self.btn_pack):
            buttons.addWidget(b)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.message)
        layout.addWidget(close)
        self.refresh()

    # ------------------------------------------------------------------ status
    def refresh(self) -> None:
        self.run(self.service.sync_status, self.store, on_done=self._show_status,
                 error_title="Cannot read the sync status")

    def _show_status(self, st: dict[str, Any]) -> None:
        self.status = st
        site = st.get("site")
        self.site_label.setText(site["site_id"] if site else "none enrolled (safemed sync enroll CARD)")
        self.fingerprint_label.setText(site["fingerprint"] if site else "-")
        self.waiting_label.setText(f"{st['records_waiting']} records ({st['events_waiting']} audit events)")
        last = st.get("last_export")
        self.export_label.setText(f"{_when(last['at'])} ({sum(last['counts'].values())} records)" if last else "never")
        ack = st.get("last_ack")
        self.ack_label.setText(f"{_when(ack['at'])} (up to event #{st['watermark']})" if ack else "never")
        pack = st.get("pack")
        self.pack_label.setText(f"version {pack['version']} of {_when(pack['created_at'])}" if pack else "none")
        for b in (self.btn_export, self.btn_pack, self.btn_ack):
            b.setEnabled(site is not None)
        if self.on_status is not None:
            self.on_status(st)

    def _done(self, text: str) -> Callable[[Any], None]:
        def done(_: Any) -> None:
            self.message.setText(text)
            self.refresh()
        return done

    # ------------------------------------------------------------------ actions
    def export_to(self, folder: str | Path) -> Path:
        out = Path(folder) / f"safemed-{self.store.store_uuid[:8]}-{time.strftime('%Y%m%d-%H%M%S')}.smb"

        def done(manifest: dict[str, Any]) -> None:
            self.message.setText(f"Wrote {out.name}: {sum(manifest['counts'].values())} records. "
                                 "Take it to the site; bring back its acknowledgement.")
            self.refresh()
        self.run(self.service.sync_export, self.store, out, on_done=done, error_title="The bundle was not written")
        return out

    def import_acks(self, paths: list[str | Path]) -> None:
        for p in paths:
            self.run(self.service.sync_ack, self.store, p,
                     on_done=self._done(f"Acknowledgement {Path(p).name} verified."),
                     error_title="The acknowledgement was refused")

    def import_pack(self, path: str | Path) -> None:
        self.run(self.service.sync_pull, self.store, path,
                 on_done=self._done(f"Site pack {Path(path).name} verified and applied."),
                 error_title="The site pack was refused")

    def choose_export_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export bundle to (removable media)")
        if folder:
            self.export_to(folder)

    def choose_acks(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Import acknowledgements", "", "Acknowledgements (*.json)")
        if paths:
            self.import_acks(paths)

    def choose_pack(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import site pack", "", "Site packs (*.json)")
        if path:
            self.import_pack(path)
