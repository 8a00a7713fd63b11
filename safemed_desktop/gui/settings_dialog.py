"""Settings: model, GPU layers, context size, threads, temperature, idle lock. Writes the user config file."""

from __future__ import annotations

import tomllib
from typing import Any

from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QDoubleSpinBox, QFormLayout,
                               QHBoxLayout, QLabel, QSpinBox, QVBoxLayout, QWidget)

from ..config import Config, load_config, write_config_file
from ..errors import ConfigError

USER_KEYS = ("model", "gpu_layers", "context_size", "threads", "temperature", "idle_lock_minutes")


class SettingsDialog(QDialog):
    def __init__(self, config: Config, manifests: list[Any], parent: QWidget | None = None):
        super().__init__(parent)
        self.config = config
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
        for text, w in (("&Model:", self.model), ("&GPU layers:", gl), ("&Context size:", self.context),
                        ("&Threads:", self.threads), ("T&emperature:", self.temperature), ("&Idle lock:", self.idle)):
            lab = QLabel(text)
            if isinstance(w, QWidget):
                lab.setBuddy(w)
            else:
                lab.setBuddy(self.gpu_auto)
            form.addRow(lab, w)
        lay.addLayout(form)
        self.note = QLabel(f"Saved to {config.paths.user_config_file}. Values set by the site or the environment "
                           "take precedence over the user file.")
        self.note.setWordWrap(True)
        lay.addWidget(self.note)
        self.error = QLabel("")
        self.error.setWordWrap(True)
        self.error.setAccessibleName("Settings error")
        lay.addWidget(self.error)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
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

    def save(self) -> Config:
        """Validate, merge into the user config file, and return the effective config."""
        values = self.values()
        self.config.with_overrides(values, source="settings dialog")  # validates first (ConfigError)
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
        try:
            self.save()
        except ConfigError as exc:
            self.error.setText(str(exc))
            return
        super().accept()
