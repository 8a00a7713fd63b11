"""Fixtures for the packaging tests: the packaging/ scripts loaded by path.

``packaging`` is also the name of a PyPI package (pytest and PyInstaller import it), which is
why this directory is ``tests/bundle`` and not ``tests/packaging``: pytest puts ``tests/`` on
sys.path, and a ``tests/packaging/__init__.py`` would shadow the real one for the whole run.
For the same reason ``packaging/build.py`` is loaded from its file, not imported.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGING = ROOT / "packaging"


def load_script(name: str) -> ModuleType:
    path = PACKAGING / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"safemed_packaging_{name}", path)
    assert spec and spec.loader, path
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def build_script() -> ModuleType:
    return load_script("build")


@pytest.fixture(scope="module")
def smoke_script() -> ModuleType:
    return load_script("smoke_test")
