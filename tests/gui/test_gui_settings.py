"""Settings: the site policy is for a site administrator only; a clinician's dialog shows it read-only. Saved
values keep the layering (an environment variable still wins)."""

from __future__ import annotations

import tomllib

import pytest

from safemed_desktop.config import load_config
from safemed_desktop.gui.settings_dialog import SettingsDialog

pytestmark = pytest.mark.gui


def test_site_policy_only_for_an_administrator(qtbot, safemed_home):
    cfg = load_config()
    clinician = SettingsDialog(cfg, [])
    qtbot.addWidget(clinician)
    assert not clinician.policy_box.isEnabled() and "site administrator" in clinician.policy_note.text()
    admin = SettingsDialog(cfg, [], is_admin=True)
    qtbot.addWidget(admin)
    assert admin.policy_box.isEnabled()
    combo = admin.guard_combos["medication_safety"]
    combo.setCurrentIndex(combo.findData("block"))
    admin.idle.setValue(4)
    admin.accept()  # used on its own: validated, then written
    site = tomllib.loads(cfg.paths.site_config_file.read_text())
    assert site["guard"]["medication_safety"] == "block"
    assert tomllib.loads(cfg.paths.user_config_file.read_text())["idle_lock_minutes"] == 4
    assert load_config().guard_action("medication_safety") == "block"


def test_proposed_config_keeps_environment_values_and_writes_nothing(qtbot, safemed_home, monkeypatch):
    monkeypatch.setenv("SAFEMED_THREADS", "3")
    cfg = load_config()
    dlg = SettingsDialog(cfg, [])
    qtbot.addWidget(dlg)
    dlg.threads.setValue(1)
    dlg.idle.setValue(6)
    proposed = dlg.proposed()
    assert proposed.threads == 3 and proposed.sources["threads"] == "env:SAFEMED_THREADS"
    assert proposed.idle_lock_minutes == 6 and not cfg.paths.user_config_file.exists()  # nothing saved yet
