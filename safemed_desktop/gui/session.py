"""The session controller: create / unlock the store, sign in with a profile and its PIN, add a profile (a site
administrator), lock (manual and idle; locking signs the profile out, the store enforces roles).

It owns who is at the workstation (the unlocked store and the signed-in clinician profile) and drives
the lock screen; the window only asks it and listens. Every store call runs as an operation on the
store worker (``ops``), never on the GUI thread.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, Signal

from ..errors import SafeMedError
from .lock_screen import profile_label
from .ops import WindowController

if TYPE_CHECKING:
    from ..service import Store
    from .main_window import MainWindow


class SessionController(WindowController):
    unlocked = Signal()
    locked = Signal(str)  # reason: "manual" | "idle"
    profile_entered = Signal()

    def __init__(self, window: "MainWindow", kdf_params: Any = None):
        super().__init__(window)
        self.kdf_params = kdf_params
        self.store: Store | None = None  # None until created or unlocked once
        self.profiles: list[dict[str, Any]] = []
        self.clinician_id: str | None = None
        self.profile: dict[str, Any] | None = None
        self._locking = False

    @property
    def screen(self):
        return self.window.lock_screen

    @property
    def is_unlocked(self) -> bool:
        return self.store is not None and self.store.is_unlocked

    # ------------------------------------------------------------------ create / unlock
    def create_store(self, passphrase: str) -> None:
        service = self.service
        if service is None:
            return
        self.screen.set_busy(True, "Creating the encrypted store...")
        kwargs = {"kdf_params": self.kdf_params} if self.kdf_params is not None else {}
        kwargs.update(admin_name=self.screen.admin_name.text().strip() or "admin", admin_pin=self.screen.admin_pin.text())

        def work() -> tuple[Store, list]:
            store = service.create_store(passphrase, **kwargs)
            return store, store.list_profiles()

        self.ops.run(work, on_done=self._on_unlocked, on_error=self._on_unlock_failed)

    def unlock(self, passphrase: str) -> None:
        service, store = self.service, self.store
        if service is None:
            return
        self.screen.set_busy(True, "Unlocking...")

        def work() -> tuple[Store, list]:
            s = service.unlock_store(passphrase, store)
            return s, s.list_profiles()

        self.ops.run(work, on_done=self._on_unlocked, on_error=self._on_unlock_failed)

    def _on_unlocked(self, result: tuple[Store, list]) -> None:
        self.store, self.profiles = result
        self.store.idle_lock_minutes = self.window.config.idle_lock_minutes
        self._locking = False
        self.screen.set_busy(False)
        self.screen.set_profiles(self.profiles, select=self.clinician_id)
        self.screen.set_mode("profile", "Drafts are kept." if self.clinician_id else "")
        self.window.store_label.setText("Store: unlocked")
        self.unlocked.emit()

    def _on_unlock_failed(self, exc: BaseException) -> None:
        self.screen.set_busy(False)
        self.screen.set_mode(self.screen.mode, str(exc))
        if not isinstance(exc, SafeMedError):
            self.window.show_error("Cannot open the store", exc)

    # ------------------------------------------------------------------ profiles
    def _selected_id(self) -> str | None:
        item = self.screen.profiles.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item is not None else None

    def _failed(self, exc: BaseException) -> None:
        self.screen.set_busy(False)
        self.screen.message.setText(str(exc))

    def create_profile(self, name: str, role: str) -> None:
        """A site administrator adds a profile (signed in, or the selected profile with the PIN typed), then the
        new profile signs in with its own PIN."""
        service, store = self.service, self.store
        if service is None or store is None:
            return
        selected, pin, new_pin = self._selected_id(), self.screen.pin.text(), self.screen.new_pin.text()
        self.screen.set_busy(True)

        def work() -> tuple[dict, list]:
            if (store.profile or {}).get("role") != "site_admin" and selected is not None:
                service.authenticate(store, selected, pin)
            pid, profiles = service.add_profile(store, name, role, new_pin)
            return service.authenticate(store, pid, new_pin), profiles

        def done(res: tuple[dict, list]) -> None:
            self.screen.set_busy(False)
            self.profiles = res[1]
            self.screen.new_name.clear()
            self.screen.new_pin.clear()
            self._enter(res[0])

        self.ops.run(work, on_done=done, on_error=self._failed)

    def choose_profile(self, profile_id: str) -> None:
        """Sign in as the chosen profile with the PIN typed on the lock screen."""
        service, store = self.service, self.store
        if service is None or store is None:
            return
        pin = self.screen.pin.text()
        self.screen.set_busy(True)

        def done(prof: dict) -> None:
            self.screen.set_busy(False)
            self.screen.pin.clear()
            self._enter(prof)

        self.ops.run(service.authenticate, store, profile_id, pin, on_done=done, on_error=self._failed)

    def _enter(self, prof: dict[str, Any]) -> None:
        self.clinician_id = prof["id"]
        self.profile = next((p for p in self.profiles if p["id"] == prof["id"]), prof)
        who = profile_label(self.profile)
        self.window.store_label.setText(f"Store: unlocked - {who}")
        self.profile_entered.emit()

    # ------------------------------------------------------------------ lock
    def user_activity(self) -> None:
        if self.is_unlocked:
            self.store.touch()

    def check_idle(self) -> None:
        store = self.store
        if store is None or self._locking or not store.is_unlocked or self.ops.pending:
            return
        self._locking = True

        def done(locked_now: bool) -> None:
            self._locking = False
            if locked_now:
                self.show_locked("idle")

        def failed(exc: BaseException) -> None:
            self._locking = False
            self.window.show_error("Store error", exc)

        self.ops.run(store.check_idle, on_done=done, on_error=failed)

    def lock_now(self) -> None:
        if not self.is_unlocked:
            return
        self.ops.run(self.store.lock, on_done=lambda _r: self.show_locked("manual"))

    def show_locked(self, reason: str) -> None:
        """Back to the lock screen; the workspace (question, patient, feedback drafts) is kept as is."""
        minutes = self.window.config.idle_lock_minutes
        msg = (f"Locked after {minutes} idle minute(s). Your question and feedback drafts are kept." if reason == "idle"
               else "Locked. Your question and feedback drafts are kept.")
        self.screen.set_mode("unlock", msg)
        self.window.store_label.setText("Store: locked")
        self.locked.emit(reason)
