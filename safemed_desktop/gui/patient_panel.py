"""Patient context: age, sex, weight, pregnancy, eGFR, allergies and current medications.

"Load from file..." reads the app's JSON or a FHIR R4 export through the service
(``SafeMedService.read_patient_file``) off the GUI thread; the result is applied whole, on the GUI
thread, or not at all (an error leaves what was entered). Each imported field shows its source (tooltip,
and the import box under the form, with the notes: what could not be used).
"""

from __future__ import annotations

import threading
from pathlib import Path

from PySide6.QtCore import Signal as QtSignal
from PySide6.QtWidgets import (QComboBox, QDoubleSpinBox, QFileDialog, QFormLayout, QHBoxLayout, QLineEdit,
                               QListWidget, QMessageBox, QPlainTextEdit, QPushButton, QVBoxLayout, QWidget)

from ..errors import SafeMedError
from ..records.patient import ImportedPatient, PatientContext
from ..service import SafeMedService

UNSET = "not set"


class EditableList(QWidget):
    """A list of strings with an entry line, Add and Remove (Enter adds, Delete removes)."""

    def __init__(self, what: str, parent: QWidget | None = None):
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()  # the buttons under the entry line: fits a narrow panel
        self.entry = QLineEdit()
        self.entry.setPlaceholderText(f"add {what}, Enter")
        self.entry.setAccessibleName(f"New {what}")
        self.add_button = QPushButton("Add")
        self.add_button.setAccessibleName(f"Add {what}")
        self.remove_button = QPushButton("Remove")
        self.remove_button.setAccessibleName(f"Remove selected {what}")
        lay.addWidget(self.entry)
        row.addWidget(self.add_button)
        row.addWidget(self.remove_button)
        row.addStretch(1)
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
    load_finished = QtSignal(bool)  # a background load ended: applied (True) or refused (False)
    _loaded = QtSignal(object, object, str)  # (ImportedPatient | None, error | None, path): worker -> GUI thread

    def __init__(self, parent: QWidget | None = None, service: SafeMedService | None = None):
        super().__init__(parent)
        self.last_error_box: QMessageBox | None = None
        self._service = service
        self.imported: ImportedPatient | None = None  # the last file applied, for its sources and notes
        self.loading = False
        lay = QVBoxLayout(self)
        form = QFormLayout()
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
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
        self.import_info = QPlainTextEdit()
        self.import_info.setReadOnly(True)
        self.import_info.setAccessibleName("Patient file sources and notes")
        self.import_info.setMaximumHeight(140)
        self.import_info.hide()
        lay.addWidget(self.import_info)
        row = QHBoxLayout()
        self.load_button = QPushButton("&Load from file...")
        self.load_button.setAccessibleName("Load patient context from a JSON or FHIR R4 file")
        self.clear_button = QPushButton("Clear patient")
        self.clear_button.setAccessibleName("Clear patient context")
        row.addWidget(self.load_button)
        row.addWidget(self.clear_button)
        row.addStretch(1)
        lay.addLayout(row)
        lay.addStretch(1)
        self.load_button.clicked.connect(self.choose_file)
        self.clear_button.clicked.connect(lambda: self.set_patient(PatientContext()))
        self._loaded.connect(self._on_loaded)

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
        self._clear_import()
        for spin, v in ((self.age, p.age), (self.weight, p.weight_kg), (self.egfr, p.egfr)):
            spin.setValue(spin.minimum() if v is None else v)
        self.sex.setCurrentIndex(0 if p.sex is None else max(0, self.sex.findText(p.sex)))
        self.pregnant.setCurrentIndex({None: 0, True: 1, False: 2}[p.pregnant])
        self.allergies.set_items(p.allergies)
        self.medications.set_items(p.medications)
        self.changed.emit()

    # ------------------------------------------------------------------ files
    def set_service(self, service: SafeMedService) -> None:
        self._service = service

    def service(self) -> SafeMedService:
        """The service that reads files: the window's (``set_service``), else one on the effective config
        (a panel used on its own)."""
        if self._service is None:
            self._service = SafeMedService()
        return self._service

    def load_file(self, path: str | Path) -> bool:
        """Load a patient file (JSON or FHIR) now; on error show a message box and keep what was entered."""
        try:
            imported = self.service().read_patient_file(path)
        except SafeMedError as exc:
            self.show_error("Cannot load patient file", str(exc))
            return False
        self.apply_import(imported, str(path))
        return True

    def start_load(self, path: str | Path) -> None:
        """Read ``path`` on a worker thread (a large FHIR export takes a moment); apply it on the GUI thread."""
        if self.loading:
            return
        self.loading = True
        self.load_button.setEnabled(False)
        self.load_button.setText("Loading...")
        service = self.service()

        def work() -> None:
            try:
                result, error = service.read_patient_file(path), None
            except Exception as exc:  # noqa: BLE001 -- handed to the GUI thread, shown there
                result, error = None, exc
            self._loaded.emit(result, error, str(path))

        threading.Thread(target=work, name="patient-file", daemon=True).start()

    def _on_loaded(self, result: ImportedPatient | None, error: BaseException | None, path: str) -> None:
        self.loading = False
        self.load_button.setEnabled(True)
        self.load_button.setText("&Load from file...")
        if error is not None or result is None:
            text = str(error) if isinstance(error, SafeMedError) else f"unexpected error reading {path}: {error!r}"
            self.show_error("Cannot load patient file", text)
            self.load_finished.emit(False)
            return
        self.apply_import(result, path)
        self.load_finished.emit(True)

    def apply_import(self, imported: ImportedPatient, path: str = "") -> None:
        """Show an imported patient: every field at once, each field's source and the notes."""
        self.set_patient(imported.context)
        self.imported = imported
        src = imported.sources
        for widget, key in ((self.age, "age"), (self.sex, "sex"), (self.weight, "weight_kg"),
                            (self.pregnant, "pregnant"), (self.egfr, "egfr")):
            widget.setToolTip(f"From {src[key]}" if key in src else "")
        for lst, key in ((self.allergies, "allergies"), (self.medications, "medications")):
            for i in range(lst.list.count()):
                item = lst.list.item(i)
                where = src.get(f"{key}: {item.text()}")
                item.setToolTip(f"From {where}" if where else "")
        if imported.format != "fhir" and not imported.notes:
            return
        lines = [f"Imported from {Path(path).name or 'file'} (FHIR R4):" if imported.format == "fhir" else f"Imported from {path}:"]
        labels = {"age": "Age", "sex": "Sex", "weight_kg": "Weight", "pregnant": "Pregnant", "egfr": "eGFR",
                  "creatinine": "Creatinine"}
        for key, label in labels.items():
            if key in src:
                extra = ""
                if key == "creatinine" and imported.creatinine_umol_l is not None:
                    extra = f" {imported.creatinine_umol_l:.0f} umol/L ({imported.creatinine_mg_dl:g} mg/dL)"
                lines.append(f"  {label}{extra}: {src[key]}")
        for key, value in src.items():
            if key.startswith(("allergies: ", "medications: ")):
                lines.append(f"  {key}: {value}")
        if imported.notes:
            lines.append(f"Notes ({len(imported.notes)}):")
            lines.extend(f"  ! {n}" for n in imported.notes)
        self.import_info.setPlainText("\n".join(lines))
        self.import_info.show()

    def _clear_import(self) -> None:
        self.imported = None
        self.import_info.clear()
        self.import_info.hide()
        for w in (self.age, self.sex, self.weight, self.pregnant, self.egfr):
            w.setToolTip("")

    def choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load patient context", "",
                                              "Patient files: SafeMed JSON or FHIR R4 (*.json);;All files (*)")
        if path:
            self.start_load(path)

    def show_error(self, title: str, text: str) -> None:
        box = QMessageBox(QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.Ok, self)
        box.setAccessibleName(title)
        box.open()
        self.last_error_box = box
