"""Frozen entry point of ``safemed`` (the CLI) in the PyInstaller bundle."""

from __future__ import annotations

import sys

from safemed_desktop import netguard

netguard.install_from_env()  # before anything else is imported: SAFEMED_NETGUARD=1 guards the whole run

from safemed_desktop.cli import main  # noqa: E402

sys.exit(main())
