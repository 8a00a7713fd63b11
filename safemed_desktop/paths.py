"""Where SafeMed keeps its files.

``SAFEMED_HOME`` overrides every path (tests point it at a tmp dir; IT can point it
at a managed folder). Otherwise platformdirs gives the per-OS locations.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import platformdirs

APP_NAME = "SafeMed"
APP_AUTHOR = "SafeMed"


@dataclass(frozen=True)
class Paths:
    site_config_dir: Path  # IT-managed: site.toml, site model manifests
    user_config_dir: Path  # per-user overrides: user.toml
    data_dir: Path  # encrypted store, keys
    log_dir: Path
    cache_dir: Path

    @property
    def site_config_file(self) -> Path:
        return self.site_config_dir / "site.toml"

    @property
    def user_config_file(self) -> Path:
        return self.user_config_dir / "user.toml"

    @property
    def site_models_dir(self) -> Path:
        return self.site_config_dir / "models"

    @property
    def store_file(self) -> Path:
        return self.data_dir / "safemed.db"

    def as_dict(self) -> dict[str, str]:
        return {
            "site_config_dir": str(self.site_config_dir),
            "user_config_dir": str(self.user_config_dir),
            "data_dir": str(self.data_dir),
            "log_dir": str(self.log_dir),
            "cache_dir": str(self.cache_dir),
        }


def resolve_paths(environ: dict[str, str] | None = None) -> Paths:
    env = os.environ if environ is None else environ
    home = env.get("SAFEMED_HOME")
    if home:
        root = Path(home).expanduser().resolve()
        return Paths(
            site_config_dir=root / "site",
            user_config_dir=root / "config",
            data_dir=root / "data",
            log_dir=root / "logs",
            cache_dir=root / "cache",
        )
    return Paths(
        site_config_dir=Path(platformdirs.site_config_dir(APP_NAME, APP_AUTHOR)),
        user_config_dir=Path(platformdirs.user_config_dir(APP_NAME, APP_AUTHOR)),
        data_dir=Path(platformdirs.user_data_dir(APP_NAME, APP_AUTHOR)),
        log_dir=Path(platformdirs.user_log_dir(APP_NAME, APP_AUTHOR)),
        cache_dir=Path(platformdirs.user_cache_dir(APP_NAME, APP_AUTHOR)),
    )


def resource_root() -> Path:
    """Root holding read-only resources shipped with the app (``models/``, ``ui/``).

    In a PyInstaller bundle that is ``sys._MEIPASS``; from a source checkout or an
    editable install it is the repository root.
    """
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        return Path(bundle)
    return Path(__file__).resolve().parent.parent


def builtin_models_dir() -> Path:
    return resource_root() / "models"


def ui_dir() -> Path:
    return resource_root() / "ui"
