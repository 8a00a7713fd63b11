"""Fixtures for the adversarial / red-flag / scope signal tests: one embedding model per session."""

from __future__ import annotations

import pytest

from safemed_desktop.signals.embeddings import Embedder, get_embedder


@pytest.fixture(scope="session")
def embedder(demo_model_path) -> Embedder:
    """The real SmolLM2-135M demo model in llama.cpp embedding mode (loaded once, process-wide cache)."""
    return get_embedder(demo_model_path)
