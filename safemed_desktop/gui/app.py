"""``safemed-desktop``: the SafeMed Desktop window (entry point ``safemed_desktop.gui.app:main``).

Options: ``--selftest`` (offscreen end-to-end check, exit 0 or non-zero with the reason on stderr),
``--theme light|dark``, ``--font-scale 1.25``, ``--startup-probe`` (print when the window is shown
and exit; used by ``bench/bench_gui.py``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time


LAUNCH_WALL = time.time()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="safemed-desktop", description="SafeMed Desktop (offline clinical assistant)")
    p.add_argument("--selftest", action="store_true",
                   help="start the window offscreen on a temporary store, answer one question on the demo model, "
                        "write feedback, verify the store and exit (0 = passed)")
    p.add_argument("--theme", choices=("light", "dark"), default="light")
    p.add_argument("--font-scale", type=float, default=1.0, help="text size, 1.0 = 100 %%, up to 2.0")
    p.add_argument("--startup-probe", action="store_true",
                   help="print 'SAFEMED_WINDOW_SHOWN <unix time>' once the window is interactive, then exit")
    p.add_argument("--timeout", type=float, default=300.0, help="selftest time limit in seconds")
    return p


def main(argv: list[str] | None = None) -> int:
    from ..service import install_network_guard

    install_network_guard()  # SAFEMED_NETGUARD=1: fail on any network use (tests, smoke test)
    args = build_parser().parse_args(argv)
    if args.selftest:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        from .selftest import run_selftest

        return run_selftest(timeout_s=args.timeout)

    if sys.platform.startswith("linux") and os.environ.get("QT_QPA_PLATFORM", "xcb") == "xcb" \
            and not os.environ.get("WAYLAND_DISPLAY"):
        if not os.environ.get("DISPLAY"):
            print("safemed-desktop: no display (DISPLAY is unset): start it from a desktop session, or use the "
                  "command line (safemed --help)", file=sys.stderr)
            return 2
        from ..service.qt_platform import check_qt_platform

        qt = check_qt_platform()  # Qt aborts the process when its platform plugin cannot load: say why first
        if qt["status"] == "missing_libraries":
            print(f"safemed-desktop: error: {qt['message']}", file=sys.stderr)
            return 2

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from ..config import load_config
    from ..errors import SafeMedError
    from .main_window import MainWindow
    from .theme import apply_theme

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("SafeMed Desktop")
    try:
        apply_theme(app, args.theme, args.font_scale)
        config = load_config()
    except (SafeMedError, ValueError) as exc:
        print(f"safemed-desktop: error: {exc}", file=sys.stderr)
        return 2
    window = MainWindow(config)  # model loading starts in the background
    if args.startup_probe:
        def probe() -> None:
            print(f"SAFEMED_WINDOW_SHOWN {time.time():.6f} launch {LAUNCH_WALL:.6f}", flush=True)
            QTimer.singleShot(0, window.close)

        window.shown.connect(lambda: QTimer.singleShot(0, probe))  # after the first paint is queued
    window.show()
    return int(app.exec())


if __name__ == "__main__":
    sys.exit(main())
