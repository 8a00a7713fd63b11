"""Patient context: age, sex, weight, pregnancy, eGFR, allergies and current medications."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal as QtSignal
from PySide6.QtWidgets import (QComboBox, QDoubleSpinBox, QFileDialog, QFormLayout, QHBoxLayout, QLineEdit,
                               QListWidget, QMessageBox, QPushButton, QVBoxLayout, QWidget)

from ..errors import InputError
from ..records.patient import PatientContext

UNSET = "not set"


class EditableList(QWidget):
    """A list of strings with an entry line, Add and Remove (Enter adds, Delete removes)."""

    def __init__(self, what: str, parent: QWidget | None = None):
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        self.entry = QLineEdit()
        self.entry.setPlaceholderText(f"add {what}, Enter")
        self.entry.setAccessibleName(f"New {what}")
        self.add_button = QPushButton("Add")
        self.add_button.setAccessibleName(f"Add {what}")
        self.remove_button = QPushButton("Remove")
        self.remove_button.setAccessibleName(f"Remove selected {what}")
        row.addWidget(self.entry, 1)
        row.addWidget(self.add_button)
        row.addWidget(self.remove_button)
        lay.addLayout(row)
        self.list = QListWidget()
        self.list.setAccessibleName(f"{what.capitalize()} list")
        self.list.setMaximumHeight(90)
        lay.addWidget(self.list)
        self.entry.returnPressed.connect(self.add_current)
        self.add_button.clicked.connect(self.add_current)
        self.remove_button.clicked.connect(self.remove_selected)

    def add_current(self) -> None:
        for part in self.entry.text().split(","):
            if part.strip():
                self.list.addItem(part.strip())
        self.entry.clear()

    def remove_selected(self) -> None:
        for item in self.list.selectedItems():
            self.list.takeItem(self.list.row(item))

    def items(self) -> list[str]:
        return [self.list.item(i).text() for i in range(self.list.count())]

    def set_items(self, items: list[str] | tuple[str, ...]) -> None:
        self.list.clear()
        self.list.addItems(list(items))


def _spin(lo: float, hi: float, suffix: str, decimals: int, name: str) -> QDoubleSpinBox:
    s = QDoubleSpinBox()
    s.setRange(lo - 1, hi)  # the value below the range means "not set"
    s.setDecimals(decimals)
    s.setSpecialValueText(UNSET)
    s.setSuffix(suffix)
    s.setValue(lo - 1)
    s.setAccessibleName(name)
    return s


class PatientPanel(QWidget):
    changed = QtSignal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.last_error_box: QMessageBox | None = None
        lay = QVBoxLayout(self)
        form = QFormLayout()
        self.age = _spin(0, 130, " y", 0, "Patient age in years")
        self.sex = QComboBox()
        self.sex.addItems([UNSET, "female", "male", "other", "unknown"])
        self.sex.setAccessibleName("Patient sex")
        self.weight = _spin(0.2, 500, " kg", 1, "Patient weight in kilograms")
        self.pregnant = QComboBox()
        self.pregnant.addItems([UNSET, "yes", "no"])
        self.pregnant.setAccessibleName("Pregnant")
        self.egfr = _spin(0, 200, " mL/min/1.73m\u00b2", 0, "eGFR")
        self.allergies = EditableList("allergy")
        self.medications = EditableList("medication")
        form.addRow("A&ge:", self.age)
        form.addRow("Se&x:", self.sex)
        form.addRow("&Weight:", self.weight)
        form.addRow("&Pregnant:", self.pregnant)
        form.addRow("e&GFR:", self.egfr)
        form.addRow("Allergies:", self.allergies)
        form.addRow("Medications:", self.medications)
        lay.addLayout(form)
        row = QHBoxLayout()
        self.load_button = QPushButton("&Load from JSON...")
        self.load_button.setAccessibleName("Load patient context from a JSON file")
        self.clear_button = QPushButton("Clear patient")
        self.clear_button.setAccessibleName("Clear patient context")
        row.addWidget(self.load_button)
        row.addWidget(self.clear_button)
        row.addStretch(1)
        lay.addLayout(row)
        lay.addStretch(1)
        self.load_button.clicked.connect(self.choose_file)
        self.clear_button.clicked.connect(lambda: self.set_patient(PatientContext()))

    @staticmethod
    def _value(spin: QDoubleSpinBox) -> float | None:
        return None if spin.value() <= spin.minimum() else spin.value()

    def patient(self) -> PatientContext:
        """The context as entered; raises InputError (same validation as the CLI's patient file)."""
        data = {
            "age": self._value(self.age),
            "sex": None if self.sex.currentIndex() == 0 else self.sex.currentText(),
            "weight_kg": self._value(self.weight),
            "pregnant": {0: None, 1: True, 2: False}[self.pregnant.currentIndex()],
            "egfr": self._value(self.egfr),
            "allergies": self.allergies.items(),
            "medications": self.medications.items(),
        }
        return PatientContext.from_dict({k: v for k, v in data.items() if v not in (None, [])})

    def set_patient(self, p: PatientContext) -> None:
        for spin, v in ((self.age, p.age), (self.weight, p.weight_kg), (self.egfr, p.egfr)):
            spin.setValue(spin.minimum() if v is None else v)
        self.sex.setCurrentIndex(0 if p.sex is None else max(0, self.sex.findText(p.sex)))
        self.pregnant.setCurrentIndex({None: 0, True: 1, False: 2}[p.pregnant])
        self.allergies.set_items(p.allergies)
        self.medications.set_items(p.medications)
        self.changed.emit()

    def load_file(self, path: str | Path) -> bool:
        """Load a patient JSON file; on error show a message box and keep what was entered."""
        try:
            p = PatientContext.from_file(path)
        except InputError as exc:
            self.show_error("Cannot load patient file", str(exc))
            return False
        self.set_patient(p)
        return True

    def choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load patient context", "", "JSON files (*.json);;All files (*)")
        if path:
            self.load_file(path)

    def show_error(self, title: str, text: str) -> None:
        box = QMessageBox(QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.Ok, self)
        box.setAccessibleName(title)
        box.open()
        self.last_error_box = box
