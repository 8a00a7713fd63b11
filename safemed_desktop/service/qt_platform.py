"""Can the desktop window start here? The Qt xcb platform plugin's system libraries (``safemed doctor``).

PySide6 wheels carry Qt but not the X11 helper libraries its xcb platform plugin links against; a stock
Debian or RHEL desktop often lacks ``libxcb-cursor0`` and a few others, and then the window does not open
("could not load the Qt platform plugin xcb"). This check finds the plugin inside the installed PySide6
(without importing Qt: the core stays Qt-free) and asks the system's dynamic loader (``ldd``) which
libraries it cannot find, naming the package that provides each on Debian/Ubuntu and on RHEL.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

#: soname -> (Debian/Ubuntu package, RHEL/Fedora package)
PACKAGES: dict[str, tuple[str, str]] = {
    "libxcb-cursor.so.0": ("libxcb-cursor0", "xcb-util-cursor"),
    "libxcb-icccm.so.4": ("libxcb-icccm4", "xcb-util-wm"),
    "libxcb-keysyms.so.1": ("libxcb-keysyms1", "xcb-util-keysyms"),
    "libxcb-image.so.0": ("libxcb-image0", "xcb-util-image"),
    "libxcb-render-util.so.0": ("libxcb-render-util0", "xcb-util-renderutil"),
    "libxcb-util.so.1": ("libxcb-util1", "xcb-util"),
    "libxkbcommon-x11.so.0": ("libxkbcommon-x11-0", "libxkbcommon-x11"),
    "libxkbcommon.so.0": ("libxkbcommon0", "libxkbcommon"),
    "libX11-xcb.so.1": ("libx11-xcb1", "libX11-xcb"),
    "libxcb.so.1": ("libxcb1", "libxcb"),
    "libEGL.so.1": ("libegl1", "libglvnd-egl"),
    "libGL.so.1": ("libgl1", "libglvnd-glx"),
    "libOpenGL.so.0": ("libopengl0", "libglvnd-opengl"),
    "libfontconfig.so.1": ("libfontconfig1", "fontconfig"),
    "libfreetype.so.6": ("libfreetype6", "freetype"),
    "libdbus-1.so.3": ("libdbus-1-3", "dbus-libs"),
    "libglib-2.0.so.0": ("libglib2.0-0", "glib2"),
}
for _name in ("randr", "render", "shape", "shm", "sync", "xfixes", "xkb", "xinerama", "xinput"):
    PACKAGES.setdefault(f"libxcb-{_name}.so.{1 if _name in ('sync', 'xkb') else 0}",
                        (f"libxcb-{_name}{1 if _name in ('sync', 'xkb') else 0}", "libxcb"))

#: The libraries a stock desktop most often lacks (README, IT guide).
USUAL_MISSING = ("libxcb-cursor.so.0", "libxcb-icccm.so.4", "libxcb-keysyms.so.1")

_NOT_FOUND = re.compile(r"^\s*(\S+)\s+=>\s+not found", re.MULTILINE)


def missing_from_ldd(output: str) -> list[str]:
    """The sonames ``ldd`` reported as "not found", in order, without repeats."""
    seen: list[str] = []
    for name in _NOT_FOUND.findall(output):
        if name not in seen:
            seen.append(name)
    return seen


def install_hint(missing: list[str]) -> str:
    """One line: which packages to install on Debian/Ubuntu and on RHEL."""
    deb = [PACKAGES.get(m, (m, m))[0] for m in missing]
    rpm = sorted({PACKAGES.get(m, (m, m))[1] for m in missing})
    return f"Debian/Ubuntu: sudo apt-get install {' '.join(deb)}; RHEL/Fedora: sudo dnf install {' '.join(rpm)}"


def _plugin_files() -> list[Path]:
    spec = importlib.util.find_spec("PySide6")
    if spec is None or spec.origin is None:
        return []
    root = Path(spec.origin).parent / "Qt"
    return [p for p in (root / "plugins" / "platforms" / "libqxcb.so", root / "lib" / "libQt6XcbQpa.so.6")
            if p.is_file()]


def check_qt_platform(ldd: str | None = None) -> dict[str, Any]:
    """{"platform", "plugin", "status": ok|missing_libraries|not_checked|no_plugin, "missing", "message"}."""
    out: dict[str, Any] = {"platform": "xcb", "plugin": None, "missing": [], "status": "not_checked", "message": ""}
    if not sys.platform.startswith("linux"):
        out["message"] = "checked on Linux only (Windows and macOS use their own platform plugin)"
        return out
    files = _plugin_files()
    if not files:
        out.update(status="no_plugin", message="PySide6's xcb platform plugin was not found; reinstall SafeMed")
        return out
    out["plugin"] = str(files[0])
    tool = ldd or shutil.which("ldd")
    if tool is None:
        out["message"] = "ldd is not available to check the plugin's libraries"
        return out
    missing: list[str] = []
    for f in files:
        try:
            res = subprocess.run([tool, str(f)], capture_output=True, text=True, timeout=20, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            out["message"] = f"could not run ldd: {exc}"
            return out
        for m in missing_from_ldd(res.stdout + res.stderr):
            if m not in missing:
                missing.append(m)
    out["missing"] = missing
    if missing:
        out.update(status="missing_libraries",
                   message=f"the Qt xcb platform plugin cannot load: missing {', '.join(missing)} "
                           f"({install_hint(missing)})")
    else:
        out.update(status="ok", message="the Qt xcb platform plugin's libraries are all present")
    return out


__all__ = ["check_qt_platform", "missing_from_ldd", "install_hint", "PACKAGES", "USUAL_MISSING"]
