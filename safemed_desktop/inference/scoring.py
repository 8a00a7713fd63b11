"""Log-likelihood scoring of answer options on llama.cpp's KV cache.

``OptionScorer.score(messages, continuations)`` returns the log-probability of each
continuation (an answer option) given the chat prompt, so a multiple-choice answer is read from
the model's distribution and parsing can never fail.

How (the default, ``kv`` mode): the shared prompt is decoded once, asking llama.cpp for the
logits of its last position only; each option is then decoded from the cached state, at the
positions that follow the prompt, with logits for its own tokens, and its cells are removed from
the KV cache (``llama_memory_seq_rm``) before the next option. The first token of every option
is scored from the prompt's last logits; the last token of an option never needs decoding. An
option of ``m`` tokens costs ``m - 1`` decoded tokens instead of the whole prompt again.

``naive`` mode re-decodes the prompt for every option (the baseline ``bench/bench_eval.py``
measures against, and the reference the tests compare the cached path with).

Every item starts from an empty cache, so an item's scores never depend on the items before it
(a resumed run scores an item exactly like an uninterrupted one).
"""

from __future__ import annotations

import ctypes
import math
from dataclasses import dataclass
from typing import Any, Protocol, Sequence

import numpy as np

from ..errors import InputError, ModelError, PromptTooLongError


@dataclass(frozen=True)
class OptionScore:
    """One option: its total log-probability and its tokens' log-probabilities and texts."""

    text: str
    logprob: float
    token_logprobs: tuple[float, ...]
    token_texts: tuple[str, ...]

    @property
    def n_tokens(self) -> int:
        return len(self.token_logprobs)


@dataclass(frozen=True)
class ScoredOptions:
    """The options of one item, scored; ``decoded_tokens``: tokens llama.cpp processed for them."""

    options: tuple[OptionScore, ...]
    prompt_tokens: int
    decoded_tokens: int

    @property
    def logprobs(self) -> np.ndarray:
        return np.array([o.logprob for o in self.options], dtype=np.float64)

    @property
    def probs(self) -> np.ndarray:
        """The options' probabilities renormalised over the options (softmax of their log-probabilities)."""
        lp = self.logprobs
        e = np.exp(lp - lp.max())
        return e / e.sum()

    @property
    def choice(self) -> int:
        """Index of the most probable option (the first on a tie)."""
        return int(np.argmax(self.logprobs))


class Scorer(Protocol):
    """What the evaluation runs need: the options of one item, scored given the chat messages."""

    def score(self, messages: list[dict], continuations: Sequence[str]) -> ScoredOptions:
        ...


class OptionScorer:
    """Scores options on a loaded ``inference.engine.Engine`` (see the module docstring)."""

    def __init__(self, engine: Any, *, naive: bool = False):
        self.engine = engine
        self.naive = naive

    def score(self, messages: list[dict], continuations: Sequence[str]) -> ScoredOptions:
        if not continuations:
            raise InputError("no options to score")
        if any(not isinstance(c, str) or not c.strip() for c in continuations):
            raise InputError("every option must be non-empty text")
        prompt = self.engine.chat_prompt_tokens(messages)
        options = [self.engine.text_tokens(c) for c in continuations]
        with self.engine.exclusive_llama() as llm:
            run = _Run(llm)
            try:
                n_ctx = llm.n_ctx()
                need = len(prompt) + max(len(o) for o in options)
                if need > n_ctx:
                    raise PromptTooLongError(f"prompt and longest option take {need} tokens; the model's context "
                                             f"holds {n_ctx}")
                if self.naive:
                    scored = [run.naive(prompt, o) for o in options]
                else:
                    scored = run.cached(prompt, options)
            except RuntimeError as exc:  # llama_decode returned non-zero
                raise ModelError(f"llama.cpp failed while scoring options: {exc}") from exc
            finally:
                run.close()
            pieces = [[run.piece(t) for t in o] for o in options]
        out = tuple(OptionScore(text=c, logprob=float(sum(lps)), token_logprobs=tuple(lps), token_texts=tuple(p))
                    for c, lps, p in zip(continuations, scored, pieces))
        return ScoredOptions(options=out, prompt_tokens=len(prompt), decoded_tokens=run.decoded)


class _Run:
    """One scoring call on a llama.cpp context: batches, decoding, log-softmax of logits rows."""

    def __init__(self, llm: Any):
        import llama_cpp

        self._lc = llama_cpp
        self.llm = llm
        self.ctx = llm.ctx
        self.n_batch = int(llm.n_batch)
        self.n_vocab = int(llm.n_vocab())
        self.memory = llama_cpp.llama_get_memory(self.ctx)
        self.batch = llama_cpp.llama_batch_init(self.n_batch, 0, 1)
        self.decoded = 0
        self._vocab = llama_cpp.llama_model_get_vocab(llm.model)
        self._buf = ctypes.create_string_buffer(64)

    def close(self) -> None:
        if self.batch is not None:
            self._lc.llama_batch_free(self.batch)
            self.batch = None

    def piece(self, token: int) -> str:
        n = self._lc.llama_token_to_piece(self._vocab, token, self._buf, len(self._buf), 0, False)
        if n < 0:
            buf = ctypes.create_string_buffer(-n)
            n = self._lc.llama_token_to_piece(self._vocab, token, buf, len(buf), 0, False)
            return buf.raw[:n].decode("utf-8", errors="replace")
        return self._buf.raw[:n].decode("utf-8", errors="replace")

    def _decode(self, tokens: Sequence[int], start_pos: int, want: set[int]) -> dict[int, np.ndarray]:
        """Decode ``tokens`` at positions ``start_pos..``; return {index in tokens: logits row (float64)}
        for the indices in ``want``."""
        rows: dict[int, np.ndarray] = {}
        b = self.batch
        for lo in range(0, len(tokens), self.n_batch):
            chunk = tokens[lo:lo + self.n_batch]
            b.n_tokens = len(chunk)
            out_idx = []
            for i, tok in enumerate(chunk):
                b.token[i] = tok
                b.pos[i] = start_pos + lo + i
                b.n_seq_id[i] = 1
                b.seq_id[i][0] = 0
                flag = (lo + i) in want
                b.logits[i] = flag
                if flag:
                    out_idx.append(i)
            rc = self._lc.llama_decode(self.ctx, b)
            if rc != 0:
                raise RuntimeError(f"llama_decode returned {rc}")
            self.decoded += len(chunk)
            for i in out_idx:
                ptr = self._lc.llama_get_logits_ith(self.ctx, i)
                rows[lo + i] = np.ctypeslib.as_array(ptr, shape=(self.n_vocab,)).astype(np.float64)
        return rows

    @staticmethod
    def _logprob(row: np.ndarray, token: int) -> float:
        m = row.max()
        return float(row[token] - m - math.log(np.exp(row - m).sum()))

    def _clear(self) -> None:
        self._lc.llama_memory_clear(self.memory, True)

    def cached(self, prompt: list[int], options: list[list[int]]) -> list[list[float]]:
        """The shared prompt once, each option continued from the cached state."""
        self._clear()
        n = len(prompt)
        last = self._decode(prompt, 0, {n - 1})[n - 1]
        out = []
        for toks in options:
            lps = [self._logprob(last, toks[0])]
            if len(toks) > 1:
                rows = self._decode(toks[:-1], n, set(range(len(toks) - 1)))
                lps += [self._logprob(rows[j], toks[j + 1]) for j in range(len(toks) - 1)]
                if not self._lc.llama_memory_seq_rm(self.memory, 0, n, -1):
                    raise RuntimeError("llama.cpp could not drop an option's cells from the KV cache")
            out.append(lps)
        self._clear()
        return out

    def naive(self, prompt: list[int], toks: list[int]) -> list[float]:
        """The whole prompt and the option decoded from an empty cache (the baseline)."""
        self._clear()
        n = len(prompt)
        seq = prompt + toks[:-1]
        rows = self._decode(seq, 0, set(range(n - 1, len(seq))))
        self._clear()
        return [self._logprob(rows[n - 1 + j], toks[j]) for j in range(len(toks))]


__all__ = ["OptionScore", "ScoredOptions", "Scorer", "OptionScorer"]
