"""The Sync dialog (real Qt widgets, offscreen): export to a folder, acknowledgements, site packs, status text."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")

from safemed_desktop.gui.sync_dialog import SyncDialog, sync_waiting_text  # noqa: E402
from safemed_desktop.service import SafeMedService  # noqa: E402
from safemed_desktop.sync import site as site_ops  # noqa: E402

from .conftest import SITE_PASSPHRASE, Site  # noqa: E402


def run_now(fn, *args, on_done=None, error_title="", **_):
    """The window's StoreOps.run, synchronously (the dialog's logic, not the worker thread, is under test)."""
    result = fn(*args)
    if on_done is not None:
        on_done(result)


def test_sync_dialog_round_trip(qtbot, workstation, tmp_path, safemed_home):
    site, ws = Site(tmp_path / "site", None), workstation  # the dialog's logic; both backends are covered elsewhere
    site.enroll(ws)
    ws.add(2)
    service = SafeMedService()
    service._ws = lambda store: ws.sync  # the fixture's sync state (DATA/sync of its own store)
    seen = []
    dlg = SyncDialog(service, ws.store, run_now, on_status=seen.append)
    qtbot.addWidget(dlg)
    assert dlg.fingerprint_label.text() == ws.sync.site().fingerprint
    assert dlg.waiting_label.text().startswith("5 records")
    assert sync_waiting_text(seen[-1]) == "Sync: 5 waiting"
    usb = tmp_path / "usb"
    usb.mkdir()
    bundle = dlg.export_to(usb)
    assert bundle.is_file() and "Wrote" in dlg.message.text()
    (out,) = site_ops.import_bundles(site.dir, [bundle], SITE_PASSPHRASE, site.db_url)
    dlg.import_acks([out["ack"]])
    assert "verified" in dlg.message.text() and sync_waiting_text(seen[-1]) == "Sync: 0 waiting"
    pack = tmp_path / "pack.json"
    site_ops.build_pack(site.dir, SITE_PASSPHRASE, pack, [], site.db_url)
    dlg.import_pack(pack)
    assert dlg.pack_label.text().startswith("version 1")
    assert sync_waiting_text(None) == "Sync: -"
