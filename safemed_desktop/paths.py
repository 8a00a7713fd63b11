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


#: Modes of what SafeMed creates for a user: only that user may read it (the umask is not trusted).
PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
#: Site-wide files IT writes (``sudo safemed models add``): every user account must read them; they hold no
#: clinical data.
SHARED_DIR_MODE = 0o755
SHARED_FILE_MODE = 0o644


def make_dir(path: str | os.PathLike, mode: int = PRIVATE_DIR_MODE) -> Path:
    """Create ``path`` and any missing parents, each new one with ``mode`` whatever the umask.

    Directories that already exist are left as they are (a home or a tmp directory is not ours).
    """
    p = Path(path)
    missing: list[Path] = []
    probe = p
    while not probe.exists():
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    for d in reversed(missing):
        try:
            d.mkdir(mode=mode)
        except FileExistsError:  # created meanwhile by another process
            continue
        os.chmod(d, mode)
    if not p.is_dir():
        p.mkdir()  # raises FileExistsError/NotADirectoryError naming the path
    return p


def write_file_atomic(path: str | os.PathLike, data: str | bytes, mode: int = PRIVATE_FILE_MODE,
                      dir_mode: int = PRIVATE_DIR_MODE) -> None:
    """Write ``path`` atomically (a temporary file then ``os.replace``) with ``mode`` whatever the umask.

    Missing parent directories are created with ``dir_mode``. The file never exists with wider permissions,
    not even for a moment; a failed write leaves no temporary file behind.
    """
    p = Path(path)
    make_dir(p.parent, dir_mode)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    tmp = p.with_name(f".{p.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), mode)
    try:
        try:
            os.fchmod(fd, mode) if hasattr(os, "fchmod") else os.chmod(tmp, mode)
            view = memoryview(raw)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, p)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


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
