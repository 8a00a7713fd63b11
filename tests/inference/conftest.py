"""Fixtures for the inference tests: real llama.cpp engines on the demo model, loaded once per module."""

from __future__ import annotations

import pytest

from safemed_desktop.inference.engine import Engine, EngineSettings


@pytest.fixture(scope="module")
def engine(demo_model_path):
    """The demo model with a 2048-token context and 2 threads (the build machine has 2 cores)."""
    eng = Engine(EngineSettings(demo_model_path, n_ctx=2048, n_threads=2))
    yield eng
    eng.close()


@pytest.fixture(scope="module")
def small_engine(demo_model_path):
    """The demo model with a 256-token context, for context-limit tests that stay cheap."""
    eng = Engine(EngineSettings(demo_model_path, n_ctx=256, n_threads=2))
    yield eng
    eng.close()
