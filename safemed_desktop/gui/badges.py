"""Trust-signal badges: one per signal, level shown by colour AND icon AND text, tooltip = summary."""

from __future__ import annotations

from PySide6.QtCore import QSize, Signal as QtSignal
from PySide6.QtWidgets import QPushButton, QWidget

from ..records.signal import Signal
from ..service import LEVEL_TEXT, SIGNAL_TITLES, signal_title  # the clinician-facing names, one place
from .flow_layout import FlowLayout
from .theme import icon


def badge_text(sig: Signal) -> str:
    return f"{signal_title(sig.name)}: {LEVEL_TEXT[sig.level]}"


class SignalBadge(QPushButton):
    """A clickable badge for one signal; ``activated(Signal)`` opens its evidence."""

    activated = QtSignal(object)

    def __init__(self, sig: Signal, parent: QWidget | None = None):
        super().__init__(badge_text(sig), parent)
        self.sig = sig
        self.setObjectName("badge")
        self.setProperty("level", sig.level)
        self.setIcon(icon(f"level-{sig.level}"))
        self.setIconSize(QSize(18, 18))
        n = len(sig.evidence)
        more = f"\n{n} piece(s) of evidence - click or press Space to open." if n else "\nClick to see details."
        self.setToolTip(f"{badge_text(sig)}\n{sig.summary}\nSource: {sig.source}{more}")
        self.setAccessibleName(f"{signal_title(sig.name)} signal")
        self.setAccessibleDescription(f"{LEVEL_TEXT[sig.level]}. {sig.summary}")
        self.clicked.connect(lambda: self.activated.emit(self.sig))


class BadgeRow(QWidget):
    """A row of badges in the signals' fixed order."""

    badge_activated = QtSignal(object)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._layout = FlowLayout(self)
        self.badges: list[SignalBadge] = []
        self.setAccessibleName("Clinical trust signals")

    def set_signals(self, signals: list[Signal]) -> None:
        for b in self.badges:
            self._layout.removeWidget(b)
            b.deleteLater()
        self.badges = []
        for sig in signals:
            b = SignalBadge(sig, self)
            b.activated.connect(self.badge_activated)
            self._layout.addWidget(b)
            self.badges.append(b)

    def badge(self, name: str) -> SignalBadge | None:
        return next((b for b in self.badges if b.sig.name == name), None)
