"""Driving the Qt event loop from scripts (screenshot, benchmarks) until a condition holds."""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QEventLoop, QTimer


def run_until(pred: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Spin a nested event loop until ``pred()`` is true; RuntimeError naming ``what`` on time-out."""
    loop = QEventLoop()
    poll = QTimer()
    poll.timeout.connect(lambda: pred() and loop.quit())
    poll.start(10)
    QTimer.singleShot(int(timeout_s * 1000), loop.quit)
    loop.exec()
    poll.stop()
    if not pred():
        raise RuntimeError(f"{what}: timed out after {timeout_s:g} s")
