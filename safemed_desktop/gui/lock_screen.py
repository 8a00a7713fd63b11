"""Lock screen: site passphrase (or first-run store creation with its site administrator), then the profile and
its PIN (a new profile is added by a site administrator, signed in or selected with their PIN)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal as QtSignal
from PySide6.QtWidgets import (QComboBox, QFormLayout, QHBoxLayout, QLabel, QLineEdit, QListWidget,
                               QListWidgetItem, QPushButton, QStackedWidget, QVBoxLayout, QWidget)

from .theme import icon

ROLES = ("resident", "attending", "pharmacist", "nurse", "reviewer", "site_admin")
MIN_PASSPHRASE = 8
MIN_PIN = 4


class LockScreen(QWidget):
    unlock_requested = QtSignal(str)
    create_requested = QtSignal(str)
    profile_chosen = QtSignal(object)  # profile id
    profile_create_requested = QtSignal(str, str)  # display name, role

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.mode = "starting"  # starting | unlock | create | profile
        outer = QVBoxLayout(self)
        outer.addStretch(1)
        logo = QLabel()
        logo.setPixmap(icon("lock").pixmap(64, 64))
        logo.setAlignment(Qt.AlignmentFlag.AlignCenter)
        outer.addWidget(logo)
        self.title = QLabel("SafeMed Desktop is locked")
        self.title.setObjectName("section_title")
        self.title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        outer.addWidget(self.title)
        self.pages = QStackedWidget()
        self.pages.setMaximumWidth(640)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.pages, 3)
        row.addStretch(1)
        outer.addLayout(row)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setAccessibleName("Lock screen message")
        outer.addWidget(self.message)
        outer.addStretch(2)

        # page 0: passphrase
        pp = QWidget()
        form = QFormLayout(pp)
        self.passphrase = QLineEdit()
        self.passphrase.setEchoMode(QLineEdit.EchoMode.Password)
        self.passphrase.setAccessibleName("Site passphrase")
        self.passphrase2 = QLineEdit()
        self.passphrase2.setEchoMode(QLineEdit.EchoMode.Password)
        self.passphrase2.setAccessibleName("Repeat site passphrase")
        self.pass_label = QLabel("Site &passphrase:")
        self.pass_label.setBuddy(self.passphrase)
        self.pass2_label = QLabel("&Repeat passphrase:")
        self.pass2_label.setBuddy(self.passphrase2)
        form.addRow(self.pass_label, self.passphrase)
        form.addRow(self.pass2_label, self.passphrase2)
        # first run: the site administrator the store is created with
        self.admin_name = QLineEdit("admin")
        self.admin_name.setAccessibleName("Site administrator's profile name")
        self.admin_pin = QLineEdit()
        self.admin_pin.setEchoMode(QLineEdit.EchoMode.Password)
        self.admin_pin.setAccessibleName("Site administrator's PIN")
        self.admin_name_label = QLabel("&Administrator name:")
        self.admin_name_label.setBuddy(self.admin_name)
        self.admin_pin_label = QLabel("Administrator P&IN:")
        self.admin_pin_label.setBuddy(self.admin_pin)
        form.addRow(self.admin_name_label, self.admin_name)
        form.addRow(self.admin_pin_label, self.admin_pin)
        self.admin_pin.returnPressed.connect(self._submit_passphrase)
        self.unlock_button = QPushButton("&Unlock")
        self.unlock_button.setObjectName("primary")
        self.unlock_button.setAccessibleName("Unlock the store")
        self.unlock_button.setDefault(True)
        form.addRow(self.unlock_button)
        self.pages.addWidget(pp)
        self.passphrase.returnPressed.connect(self._submit_passphrase)
        self.passphrase2.returnPressed.connect(self._submit_passphrase)
        self.unlock_button.clicked.connect(self._submit_passphrase)

        # page 1: profile
        pr = QWidget()
        pl = QVBoxLayout(pr)
        plab = QLabel("Choose your &profile (Enter to continue):")
        self.profiles = QListWidget()
        self.profiles.setAccessibleName("Clinician profiles")
        plab.setBuddy(self.profiles)
        pl.addWidget(plab)
        pl.addWidget(self.profiles)
        self.pin = QLineEdit()
        self.pin.setEchoMode(QLineEdit.EchoMode.Password)
        self.pin.setAccessibleName("PIN of the selected profile")
        pin_label = QLabel("Its P&IN:")
        pin_label.setBuddy(self.pin)
        pin_row = QFormLayout()
        pin_row.addRow(pin_label, self.pin)
        pl.addLayout(pin_row)
        self.continue_button = QPushButton("&Continue as selected profile")
        self.continue_button.setObjectName("primary")
        self.continue_button.setAccessibleName("Continue as the selected profile")
        pl.addWidget(self.continue_button)
        nf = QFormLayout()
        self.new_name = QLineEdit()
        self.new_name.setAccessibleName("New profile name")
        self.new_role = QComboBox()
        self.new_role.addItems(list(ROLES))
        self.new_role.setAccessibleName("New profile role")
        nl = QLabel("New profile &name:")
        nl.setBuddy(self.new_name)
        rl = QLabel("R&ole:")
        rl.setBuddy(self.new_role)
        self.new_pin = QLineEdit()
        self.new_pin.setEchoMode(QLineEdit.EchoMode.Password)
        self.new_pin.setAccessibleName("New profile PIN")
        npl = QLabel("New profile's PI&N (a site administrator adds profiles):")
        npl.setBuddy(self.new_pin)
        nf.addRow(nl, self.new_name)
        nf.addRow(rl, self.new_role)
        nf.addRow(npl, self.new_pin)
        self.create_profile_button = QPushButton("Create profile and c&ontinue")
        self.create_profile_button.setAccessibleName("Create a new profile and continue")
        nf.addRow(self.create_profile_button)
        pl.addLayout(nf)
        self.pages.addWidget(pr)
        self.profiles.itemActivated.connect(lambda _i: self._choose())
        self.continue_button.clicked.connect(self._choose)
        self.create_profile_button.clicked.connect(self._create_profile)
        self.new_name.returnPressed.connect(self._create_profile)
        self.new_pin.returnPressed.connect(self._create_profile)
        self.pin.returnPressed.connect(self._choose)
        self.set_mode("starting")

    def set_mode(self, mode: str, message: str = "") -> None:
        self.mode = mode
        self.message.setText(message)
        for w in (self.pin, self.new_pin, self.admin_pin):
            w.clear()
        if mode == "profile":
            self.pages.setCurrentIndex(1)
            self.title.setText("Who is using SafeMed?")
            self.profiles.setFocus()
            return
        self.pages.setCurrentIndex(0)
        create = mode == "create"
        self.pass2_label.setVisible(create)
        self.passphrase2.setVisible(create)
        for w in (self.admin_name_label, self.admin_name, self.admin_pin_label, self.admin_pin):
            w.setVisible(create)
        self.passphrase.clear()
        self.passphrase2.clear()
        self.title.setText("Create the encrypted store (first run)" if create else
                           "SafeMed Desktop is locked" if mode == "unlock" else "Starting SafeMed Desktop...")
        self.unlock_button.setText("&Create store" if create else "&Unlock")
        self.unlock_button.setEnabled(mode in ("unlock", "create"))
        self.passphrase.setFocus()

    def set_busy(self, busy: bool, message: str = "") -> None:
        for w in (self.unlock_button, self.continue_button, self.create_profile_button):
            w.setEnabled(not busy)
        if message:
            self.message.setText(message)

    def _submit_passphrase(self) -> None:
        if not self.unlock_button.isEnabled():
            return
        pp = self.passphrase.text()
        if self.mode == "create":
            if len(pp) < MIN_PASSPHRASE:
                self.message.setText(f"The passphrase must have at least {MIN_PASSPHRASE} characters.")
                return
            if pp != self.passphrase2.text():
                self.message.setText("The two passphrases differ.")
                self.passphrase2.clear()
                self.passphrase2.setFocus()
                return
            if not self.admin_name.text().strip() or len(self.admin_pin.text()) < MIN_PIN:
                self.message.setText(f"Name the site administrator and give them a PIN of at least {MIN_PIN} "
                                     "characters.")
                self.admin_pin.setFocus()
                return
            self.create_requested.emit(pp)
        elif self.mode == "unlock":
            if not pp:
                self.message.setText("Enter the site passphrase.")
                return
            self.unlock_requested.emit(pp)

    def set_profiles(self, profiles: list[Any], select: Any = None) -> None:
        self.profiles.clear()
        for p in profiles:
            pid, name, role = _profile_fields(p)
            item = QListWidgetItem(f"{name} ({role})")
            item.setData(Qt.ItemDataRole.UserRole, pid)
            self.profiles.addItem(item)
            if select is not None and pid == select:
                self.profiles.setCurrentItem(item)
        if self.profiles.currentRow() < 0 and self.profiles.count():
            self.profiles.setCurrentRow(0)
        self.continue_button.setEnabled(self.profiles.count() > 0)
        if not self.profiles.count():
            self.new_name.setFocus()

    def _choose(self) -> None:
        item = self.profiles.currentItem()
        if item is not None:
            self.profile_chosen.emit(item.data(Qt.ItemDataRole.UserRole))

    def _create_profile(self) -> None:
        name = self.new_name.text().strip()
        if not name:
            self.message.setText("Enter a name for the new profile.")
            self.new_name.setFocus()
            return
        self.profile_create_requested.emit(name, self.new_role.currentText())


def _profile_fields(p: Any) -> tuple[Any, str, str]:
    """(id, display name, role) from a profile dict or object."""
    if isinstance(p, dict):
        return p.get("id"), str(p.get("display_name") or p.get("name")), str(p.get("role"))
    return getattr(p, "id"), str(getattr(p, "display_name", getattr(p, "name", "?"))), str(getattr(p, "role", "?"))


def profile_label(p: Any) -> str:
    _pid, name, role = _profile_fields(p)
    return f"{name} ({role})"
