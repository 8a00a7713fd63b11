"""Light and dark themes from ``ui/*.qss``, application font scaling and level icons."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from PySide6.QtGui import QFont, QIcon
from PySide6.QtWidgets import QApplication

from ..config import ui_dir

THEMES = ("light", "dark")
BASE_POINT_SIZE = 10.0


def qss_path(theme: str) -> Path:
    if theme not in THEMES:
        raise ValueError(f"unknown theme {theme!r} (known: {', '.join(THEMES)})")
    return ui_dir() / f"{theme}.qss"


def apply_theme(app: QApplication, theme: str = "light", font_scale: float = 1.0) -> None:
    """Apply a QSS theme and scale the application font (1.0 = 100 %, 2.0 = 200 %)."""
    if not 0.5 <= font_scale <= 3.0:
        raise ValueError(f"font scale must be between 0.5 and 3.0, got {font_scale}")
    font = QFont(app.font())
    font.setPointSizeF(BASE_POINT_SIZE * font_scale)
    app.setFont(font)
    app.setStyleSheet(qss_path(theme).read_text(encoding="utf-8"))
    app.setProperty("safemed_theme", theme)
    app.setProperty("safemed_font_scale", font_scale)


@lru_cache(maxsize=None)
def icon(name: str) -> QIcon:
    """An SVG icon from ``ui/icons`` (e.g. ``level-alert``, ``lock``, ``app``)."""
    path = ui_dir() / "icons" / f"{name}.svg"
    if not path.is_file():
        raise FileNotFoundError(f"icon {name!r} missing at {path}")
    return QIcon(str(path))
