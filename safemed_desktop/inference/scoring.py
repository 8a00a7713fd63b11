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

``score_tokens(prompt_tokens, continuations)`` does the same after a raw token prefix (``score``
formats the chat messages and calls it). With ``choose_from`` it also lets a llama.cpp GBNF grammar
(``choice_grammar``) that admits only those strings pick one, greedily, from the same prompt's last
logits, before the options are scored from the cached state: the prompt is still decoded once.

``think_and_score(prompt_tokens, continuations, ...)`` (``eval mcq --mode generate``) first lets the
model generate freely, greedily (temperature 0, the app's repeat penalty), up to a token budget,
stopping at the first of some stop strings or at the end of generation; then the prompt extended with
what it kept and an answer prefix is continued like ``score_tokens(..., choose_from=...)``, from the
cells the generation left in the KV cache (only the answer prefix is decoded again).

Every call starts from an empty cache and leaves it empty, so an item's scores never depend on the
items before it (a resumed run scores an item exactly like an uninterrupted one).
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
    """The options of one item, scored; ``decoded_tokens``: tokens llama.cpp processed for them.
    ``constrained``: what the grammar picked (``score_tokens(..., choose_from=...)``), else None."""

    options: tuple[OptionScore, ...]
    prompt_tokens: int
    decoded_tokens: int
    constrained: str | None = None

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


@dataclass(frozen=True)
class Thought:
    """What ``OptionScorer.think`` generated: ``tokens`` (the kept tokens: those before the stop string,
    trailing whitespace-only tokens dropped) and their ``text``; ``n_generated``: every token the model
    generated (the stop string's included); ``stop``: "stop_string", "end" (end of generation) or
    "budget"; ``extended``: the prompt, the kept tokens and the answer prefix's tokens; ``evaluated``: the
    tokens llama.cpp processed while generating (the prompt and the generated tokens it fed back)."""

    tokens: tuple[int, ...]
    text: str
    n_generated: int
    stop: str
    extended: tuple[int, ...]
    prompt_tokens: int
    evaluated: int

    @property
    def hit_budget(self) -> bool:
        return self.stop == "budget"


def choice_grammar(choices: Sequence[str]) -> str:
    """A GBNF grammar whose language is exactly ``choices`` (e.g. the option letters)."""
    if not choices or any(not isinstance(c, str) or not c for c in choices):
        raise InputError("a choice grammar needs at least one non-empty choice")

    def lit(c: str) -> str:
        return '"' + c.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'

    return "root ::= " + " | ".join(lit(c) for c in choices)


#: Tokens the grammar may take to spell one choice (a letter takes one).
MAX_CHOICE_TOKENS = 8


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
        return self.score_tokens(self.prompt_tokens(messages), continuations)

    def prompt_tokens(self, messages: list[dict]) -> list[int]:
        """The prompt tokens of chat ``messages`` (the model's chat template applied)."""
        return self.engine.chat_prompt_tokens(messages)

    def score_tokens(self, prompt_tokens: Sequence[int], continuations: Sequence[str], *,
                     choose_from: Sequence[str] | None = None) -> ScoredOptions:
        """The continuations scored after the raw tokens ``prompt_tokens``; with ``choose_from``, a grammar
        admitting only those strings also picks one greedily from the prompt's last logits (``constrained``)."""
        prompt, options, choices = self._prepare(prompt_tokens, continuations, choose_from)
        with self.engine.exclusive_llama() as llm:
            return self._score(llm, prompt, continuations, options, choices, cached=0)

    def think_and_score(self, prompt_tokens: Sequence[int], continuations: Sequence[str], *,
                        choose_from: Sequence[str], max_tokens: int, stops: Sequence[str], answer_prefix: str,
                        repeat_penalty: float) -> tuple[Thought, ScoredOptions]:
        """Two phases on one clean cache. First the model generates greedily after ``prompt_tokens`` until the
        first of ``stops`` (matched case-insensitively, ASCII), the end of generation, or ``max_tokens``
        (``Thought``). Then the prompt, the kept tokens and ``answer_prefix`` (special tokens parsed:
        ``</think>``) are continued as ``score_tokens(..., choose_from=...)`` does: the grammar's pick and the
        continuations' log-probabilities. The cells the generation left in the KV cache that agree with the
        extended prompt are kept, so only the answer prefix (and any unevaluated tail) is decoded again.
        PromptTooLongError when the prompt, the budget, the prefix and the longest answer do not fit."""
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
            raise InputError(f"the thinking budget must be a positive whole number, got {max_tokens!r}")
        prompt, options, choices = self._prepare(prompt_tokens, continuations, choose_from)
        wanted = [x.encode("utf-8").lower() for x in stops if x]  # bytes.lower(): ASCII only, same length
        with self.engine.exclusive_llama() as llm:
            import llama_cpp

            prefix = llm.tokenize(answer_prefix.encode("utf-8"), add_bos=False, special=True) if answer_prefix else []
            need = len(prompt) + max_tokens + len(prefix) + max(MAX_CHOICE_TOKENS, *(len(o) for o in options))
            if need > llm.n_ctx():
                raise PromptTooLongError(f"prompt, thinking budget and answer take {need} tokens; the model's "
                                         f"context holds {llm.n_ctx()}")
            vocab = llama_cpp.llama_model_get_vocab(llm.model)
            buf = ctypes.create_string_buffer(64)
            generated: list[int] = []
            pieces: list[bytes] = []
            stop = "budget"
            cut = None  # bytes of the output before the stop string
            gen = llm.generate(prompt, temp=0.0, repeat_penalty=repeat_penalty)
            try:
                for token in gen:
                    if llama_cpp.llama_vocab_is_eog(vocab, token):
                        stop = "end"
                        break
                    generated.append(token)
                    pieces.append(_token_bytes(llama_cpp, vocab, token, buf))
                    low = b"".join(pieces).lower()
                    hits = [i for i in (low.find(x) for x in wanted) if i >= 0]
                    if hits:
                        stop, cut = "stop_string", min(hits)
                        break
                    if len(generated) >= max_tokens:
                        break
            except RuntimeError as exc:
                raise ModelError(f"llama.cpp failed while generating: {exc}") from exc
            finally:
                gen.close()
            kept = len(generated)
            if cut is not None:  # keep the tokens wholly before the stop string
                total = kept = 0
                for piece in pieces:
                    if total + len(piece) > cut:
                        break
                    total += len(piece)
                    kept += 1
            while kept and not pieces[kept - 1].decode("utf-8", errors="replace").strip():
                kept -= 1
            tokens = tuple(generated[:kept])
            extended = list(prompt) + list(tokens) + list(prefix)
            thought = Thought(tokens=tokens, text=b"".join(pieces[:kept]).decode("utf-8", errors="replace"),
                              n_generated=len(generated), stop=stop, extended=tuple(extended),
                              prompt_tokens=len(prompt), evaluated=int(llm.n_tokens))
            # the cells the generation evaluated that the extended prompt shares (at least one token to decode)
            evaluated = [int(t) for t in llm.input_ids[: llm.n_tokens]]
            cached = 0
            for a, b in zip(evaluated, extended[:-1]):
                if a != b:
                    break
                cached += 1
            scored = self._score(llm, extended, continuations, options, choices, cached=cached)
        return thought, scored

    def _prepare(self, prompt_tokens: Sequence[int], continuations: Sequence[str],
                 choose_from: Sequence[str] | None) -> tuple[list[int], list[list[int]], list[str] | None]:
        if not continuations:
            raise InputError("no options to score")
        if any(not isinstance(c, str) or not c.strip() for c in continuations):
            raise InputError("every option must be non-empty text")
        prompt = list(prompt_tokens)
        if not prompt:
            raise InputError("no prompt tokens to score the options after")
        choices = list(choose_from) if choose_from is not None else None
        if choices is not None:
            choice_grammar(choices)  # refuses an empty choice
            if self.naive:
                raise InputError("the naive baseline scores options only; it does not pick with a grammar")
        return prompt, [self.engine.text_tokens(c) for c in continuations], choices

    def _score(self, llm: Any, prompt: list[int], continuations: Sequence[str], options: list[list[int]],
               choices: list[str] | None, *, cached: int) -> ScoredOptions:
        """Score on the held ``llm``; ``cached``: leading prompt tokens already in its KV cache (0: clear it)."""
        run = _Run(llm)
        try:
            n_ctx = llm.n_ctx()
            need = len(prompt) + max(len(o) for o in options)
            if choices is not None:
                need = max(need, len(prompt) + MAX_CHOICE_TOKENS)
            if need > n_ctx:
                raise PromptTooLongError(f"prompt and longest option take {need} tokens; the model's context "
                                         f"holds {n_ctx}")
            if self.naive:
                scored = [run.naive(prompt, o) for o in options]
            else:
                scored = run.cached(prompt, options, choices=choices, start=cached)
        except RuntimeError as exc:  # llama_decode returned non-zero
            raise ModelError(f"llama.cpp failed while scoring options: {exc}") from exc
        finally:
            run.close()
        pieces = [[run.piece(t) for t in o] for o in options]
        out = tuple(OptionScore(text=c, logprob=float(sum(lps)), token_logprobs=tuple(lps), token_texts=tuple(p))
                    for c, lps, p in zip(continuations, scored, pieces))
        return ScoredOptions(options=out, prompt_tokens=len(prompt), decoded_tokens=run.decoded,
                             constrained=run.constrained)


def _token_bytes(lc: Any, vocab: Any, token: int, buf: Any) -> bytes:
    """A token's bytes (a multi-byte character may be split across tokens); ``buf``: scratch, grown as needed."""
    n = lc.llama_token_to_piece(vocab, token, buf, len(buf), 0, False)
    if n < 0:
        big = ctypes.create_string_buffer(-n)
        n = lc.llama_token_to_piece(vocab, token, big, len(big), 0, False)
        return big.raw[:max(n, 0)]
    return buf.raw[:max(n, 0)]


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
        self.constrained: str | None = None
        self._vocab = llama_cpp.llama_model_get_vocab(llm.model)
        self._buf = ctypes.create_string_buffer(64)

    def close(self) -> None:
        if self.batch is not None:
            self._lc.llama_batch_free(self.batch)
            self.batch = None

    def piece(self, token: int) -> str:
        return _token_bytes(self._lc, self._vocab, token, self._buf).decode("utf-8", errors="replace")

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

    def choose(self, choices: list[str], n: int) -> str:
        """The string a grammar admitting only ``choices`` spells greedily from the last logits of the
        ``n``-token prompt just decoded; the cells it decoded are dropped from the KV cache."""
        from llama_cpp import LlamaGrammar
        from llama_cpp._internals import LlamaSampler

        sampler = LlamaSampler()
        pos = n
        try:
            sampler.add_grammar(self.llm._model, LlamaGrammar.from_string(choice_grammar(choices), verbose=False))
            sampler.add_greedy()
            spelled = b""
            for _ in range(MAX_CHOICE_TOKENS):
                token = self._lc.llama_sampler_sample(sampler.sampler, self.ctx, -1)
                if self._lc.llama_vocab_is_eog(self._vocab, token):
                    break
                spelled += _token_bytes(self._lc, self._vocab, token, self._buf)
                if spelled.decode("utf-8", errors="replace") in choices:
                    break
                self._decode([token], pos, {0})
                pos += 1
        finally:
            sampler.close()
        if pos > n and not self._lc.llama_memory_seq_rm(self.memory, 0, n, -1):
            raise RuntimeError("llama.cpp could not drop the grammar's cells from the KV cache")
        text = spelled.decode("utf-8", errors="replace")
        if text not in choices:
            raise RuntimeError(f"the grammar ended on {text!r}, not one of its choices")
        return text

    def cached(self, prompt: list[int], options: list[list[int]], *, choices: list[str] | None = None,
               start: int = 0) -> list[list[float]]:
        """The shared prompt once, each option continued from the cached state (after the grammar's pick among
        ``choices``, if given). ``start``: leading prompt tokens already in the cache (0: start from empty)."""
        n = len(prompt)
        if start:
            if not self._lc.llama_memory_seq_rm(self.memory, 0, start, -1):
                raise RuntimeError("llama.cpp could not drop the generation's tail from the KV cache")
            last = self._decode(prompt[start:], start, {n - 1 - start})[n - 1 - start]
        else:
            self._clear()
            last = self._decode(prompt, 0, {n - 1})[n - 1]
        if choices is not None:
            self.constrained = self.choose(choices, n)
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


__all__ = ["OptionScore", "ScoredOptions", "Scorer", "OptionScorer", "Thought", "choice_grammar",
           "MAX_CHOICE_TOKENS"]
