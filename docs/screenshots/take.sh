#!/bin/sh
# Screenshots of the real window in a real X11 session: Xvfb at the given screen size, the openbox window
# manager, the real demo model; the window is maximized and the X server's root window is captured.
# Needs: xvfb openbox imagemagick (and the Qt xcb libraries, see docs/it-install.md).
# Usage: docs/screenshots/take.sh 1024x700 [display-number]
set -eu
SIZE=${1:-1920x1080}
DISP=:${2:-99}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PY=${PYTHON:-$ROOT/.venv/bin/python}
Xvfb "$DISP" -screen 0 "${SIZE}x24" -nolisten tcp >/dev/null 2>&1 &
XPID=$!
trap 'kill $WPID $XPID 2>/dev/null || true' EXIT
sleep 1
DISPLAY=$DISP openbox >/dev/null 2>&1 &
WPID=$!
sleep 1
cd "$ROOT"
DISPLAY=$DISP QT_QPA_PLATFORM=xcb "$PY" -m safemed_desktop.gui.screenshot --x11 "docs/screenshots/window-$SIZE.png"
