"""Settings: model, GPU layers, context size, threads, temperature, idle lock (the user file), and the site's
guard policy (the site file, a site administrator only).

Nothing is saved until the new settings work: Save asks the window to load the model with them on the model
worker (file present, hash, loadable); only then are the files written. A failure keeps the running model,
shows why beside the model field, and saves nothing. The dialog opens only in an unlocked session.
"""

from __future__ import annotations

import tomllib
from typing import Any

from PySide6.QtCore import Signal as QtSignal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QDoubleSpinBox, QFormLayout,
                               QGroupBox, QHBoxLayout, QLabel, QSpinBox, QVBoxLayout, QWidget)

from ..config import DEFAULT_GUARD, Config, load_config, write_config_file
from ..errors import ConfigError
from ..service import signal_title

USER_KEYS = ("model", "gpu_layers", "context_size", "threads", "temperature", "idle_lock_minutes")


def field_error() -> QLabel:
    lab = QLabel("")
    lab.setObjectName("field_error")
    lab.setWordWrap(True)
    lab.setStyleSheet("color: #b3261e; font-weight: bold;")
    lab.hide()
    return lab


class SettingsDialog(QDialog):
    apply_requested = QtSignal(object)  # the new effective Config, to be loaded before anything is saved

    def __init__(self, config: Config, manifests: list[Any], parent: QWidget | None = None, *, is_admin: bool = False):
        super().__init__(parent)
        self.config = config
        self.is_admin = is_admin
        self._values: dict[str, Any] | None = None
        self.loads_via_window = False  # the window loads the model with the new settings before they are saved
        self.setWindowTitle("Settings")
        lay = QVBoxLayout(self)
        form = QFormLayout()
        self.model = QComboBox()
        self.model.setEditable(True)  # a path to a .gguf file is allowed too (site policy decides)
        self.model.setAccessibleName("Model")
        for m in manifests:
            label = f"{m.name} ({m.id})" + (" - demo" if m.demo else "")
            self.model.addItem(label, m.id)
        idx = self.model.findData(config.model)
        if idx >= 0:
            self.model.setCurrentIndex(idx)
        else:
            self.model.setEditText(str(config.model))
        self.gpu_auto = QCheckBox("&Automatic")
        self.gpu_auto.setAccessibleName("GPU layers automatic")
        self.gpu_layers = QSpinBox()
        self.gpu_layers.setRange(0, 999)
        self.gpu_layers.setAccessibleName("GPU layers")
        gl = QHBoxLayout()
        gl.addWidget(self.gpu_auto)
        gl.addWidget(self.gpu_layers, 1)
        if config.gpu_layers == "auto":
            self.gpu_auto.setChecked(True)
        else:
            self.gpu_layers.setValue(int(config.gpu_layers))
        self.gpu_layers.setEnabled(not self.gpu_auto.isChecked())
        self.gpu_auto.toggled.connect(lambda on: self.gpu_layers.setEnabled(not on))
        self.context = QSpinBox()
        self.context.setRange(256, 262144)
        self.context.setSingleStep(256)
        self.context.setValue(int(config.context_size))
        self.context.setAccessibleName("Context size in tokens")
        self.threads = QSpinBox()
        self.threads.setRange(0, 512)
        self.threads.setSpecialValueText("all cores")
        self.threads.setValue(int(config.threads))
        self.threads.setAccessibleName("CPU threads")
        self.temperature = QDoubleSpinBox()
        self.temperature.setRange(0.0, 2.0)
        self.temperature.setSingleStep(0.05)
        self.temperature.setValue(float(config.temperature))
        self.temperature.setAccessibleName("Temperature")
        self.idle = QSpinBox()
        self.idle.setRange(1, 1440)
        self.idle.setSuffix(" min")
        self.idle.setValue(int(config.idle_lock_minutes))
        self.idle.setAccessibleName("Idle lock time in minutes")
        self.model_error = field_error()
        self.model_error.setAccessibleName("Model error")
        model_col = QVBoxLayout()
        model_col.addWidget(self.model)
        model_col.addWidget(self.model_error)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        for text, w in (("&Model:", model_col), ("&GPU layers:", gl), ("&Context size:", self.context),
                        ("&Threads:", self.threads), ("T&emperature:", self.temperature), ("&Idle lock:", self.idle)):
            lab = QLabel(text)
            if isinstance(w, QWidget):
                lab.setBuddy(w)
            elif w is model_col:
                lab.setBuddy(self.model)
            else:
                lab.setBuddy(self.gpu_auto)
            form.addRow(lab, w)
        lay.addLayout(form)
        self.policy_box = QGroupBox("Site policy (a site administrator only)")
        pf = QFormLayout(self.policy_box)
        pf.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        self.guard_combos: dict[str, QComboBox] = {}
        for name in DEFAULT_GUARD:
            combo = QComboBox()
            combo.addItem("warn: show a banner", "warn")
            combo.addItem("block: hold the answer behind the alert", "block")
            combo.setCurrentIndex(max(0, combo.findData(config.guard_action(name))))
            combo.setAccessibleName(f"Site policy for {signal_title(name)}")
            self.guard_combos[name] = combo
            pf.addRow(signal_title(name) + ":", combo)
        self.policy_note = QLabel("" if is_admin else "Only a site administrator can change the site policy.")
        self.policy_note.setWordWrap(True)
        pf.addRow(self.policy_note)
        self.policy_box.setEnabled(is_admin)
        lay.addWidget(self.policy_box)
        self.policy_note.setEnabled(True)
        self.note = QLabel(f"Saved to {config.paths.user_config_file}. Values set by the site or the environment "
                           "take precedence over the user file.")
        self.note.setWordWrap(True)
        lay.addWidget(self.note)
        self.error = field_error()
        self.error.setAccessibleName("Settings error")
        lay.addWidget(self.error)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self.buttons = buttons
        lay.addWidget(buttons)
        self.new_config: Config | None = None

    def values(self) -> dict[str, Any]:
        data = self.model.currentData()
        model = data if data is not None and self.model.currentText() == self.model.itemText(self.model.currentIndex()) \
            else self.model.currentText().strip()
        return {
            "model": model,
            "gpu_layers": "auto" if self.gpu_auto.isChecked() else self.gpu_layers.value(),
            "context_size": self.context.value(),
            "threads": self.threads.value(),
            "temperature": round(self.temperature.value(), 3),
            "idle_lock_minutes": self.idle.value(),
        }

    def policy_values(self) -> dict[str, str]:
        return {name: combo.currentData() for name, combo in self.guard_combos.items()}

    def proposed(self) -> Config:
        """The effective config these values give, without writing anything (ConfigError when invalid).

        The layering stays: a value the environment sets (``SAFEMED_*``) still wins over the user file."""
        values = self.values()
        user = {k: v for k, v in values.items() if not str(self.config.sources.get(k, "")).startswith("env:")}
        cfg = self.config.with_overrides(user, source=f"user:{self.config.paths.user_config_file}")
        if self.is_admin and self.policy_values() != self.config.values["guard"]:
            cfg = cfg.with_overrides({"guard": self.policy_values()}, source=f"site:{self.config.paths.site_config_file}")
        self._values = values
        return cfg

    def commit(self) -> Config:
        """Write the values (the model loaded with them): the user file, and the site policy for an administrator."""
        values = self._values if self._values is not None else self.values()
        if self.is_admin and self.policy_values() != self.config.values["guard"]:
            site = self.config.paths.site_config_file
            try:
                existing = tomllib.loads(site.read_text(encoding="utf-8")) if site.exists() else {}
                existing["guard"] = self.policy_values()
                write_config_file(site, existing)
            except (OSError, tomllib.TOMLDecodeError) as exc:
                raise ConfigError(f"cannot update the site policy in {site}: {exc}") from exc
        return self._write_user(values)

    def save(self) -> Config:
        """Validate, merge into the user config file, and return the effective config (no model check)."""
        values = self.values()
        self.config.with_overrides(values, source="settings dialog")  # validates first (ConfigError)
        return self._write_user(values)

    def _write_user(self, values: dict[str, Any]) -> Config:
        path = self.config.paths.user_config_file
        try:
            existing = tomllib.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot update {path}: {exc}") from exc
        existing.update(values)
        try:
            write_config_file(path, existing)
        except OSError as exc:
            raise ConfigError(f"cannot write {path}: {exc.strerror}") from exc
        # the effective config keeps the layering: site policy and SAFEMED_* variables still win
        self.new_config = load_config(self.config.paths)
        return self.new_config

    def accept(self) -> None:
        """Save: validate, then ask the window to load the model with the new settings; the dialog closes
        (and the files are written) only when that worked (``finish``)."""
        self.model_error.hide()
        self.error.hide()
        try:
            self.new_config = self.proposed()
        except ConfigError as exc:
            self._show(self.error, str(exc))
            return
        if not self.loads_via_window:  # used on its own: no window to load the model first
            try:
                self.commit()
            except ConfigError as exc:
                self._show(self.error, str(exc))
                return
            super().accept()
            return
        self.buttons.setEnabled(False)
        self.error.setText("Checking the model: file present, hash, loadable... the current model stays until then.")
        self.error.setStyleSheet("")
        self.error.show()
        self.apply_requested.emit(self.new_config)

    def finish(self, ok: bool, message: str = "") -> None:
        """The window's answer: the model loaded (close) or not (say why beside the model field; nothing saved)."""
        self.buttons.setEnabled(True)
        self.error.hide()
        self.error.setStyleSheet("color: #b3261e; font-weight: bold;")
        if ok:
            super().accept()
            return
        self._show(self.model_error, f"Not saved; the current model is still in use. {message}")

    def _show(self, label: QLabel, text: str) -> None:
        label.setText(text)
        label.show()
        label.setAccessibleDescription(text)
        try:
            from PySide6.QtGui import QAccessible, QAccessibleEvent

            QAccessible.updateAccessibility(QAccessibleEvent(label, QAccessible.Event.Alert))
        except (ImportError, AttributeError, RuntimeError):
            pass
