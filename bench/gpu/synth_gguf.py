"""Write a synthetic llama-architecture GGUF: realistic shape, random weights, a small SPM vocab.

Output quality is irrelevant for throughput and memory: what matters is the tensor shapes and
types, which are those of a real llama model of the chosen size. Weights are drawn once per
tensor shape (seeded) and reused for every layer, so writing a 1.5 B-parameter file costs a
handful of random draws and quantizations, not 1.5 billion; the bytes on disk (and on the GPU)
are the full model's.

Vocabulary: SentencePiece ("llama") with <unk>/<s>/</s>, the 256 byte-fallback tokens
``<0x00>``..``<0xFF>`` that llama.cpp requires (it looks up ``<0x0A>`` for newline), the ASCII
letters and digits with and without the "▁" word prefix, and filler pieces ``▁w<N>`` up to
``n_vocab``. The output rows of the control tokens are zero, so greedy decoding never picks
end-of-sequence and every run generates the full token budget.

    python -m bench.gpu.synth_gguf OUT.gguf --preset 1.5b --type q4_0
"""

from __future__ import annotations

import argparse
import string
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

CONTROL_TOKENS = ("<unk>", "<s>", "</s>")
UNK_ID, BOS_ID, EOS_ID = 0, 1, 2
N_BYTE_TOKENS = 256
TYPES = ("f16", "q4_0", "q8_0")


@dataclass(frozen=True)
class Shape:
    n_vocab: int = 32000
    n_embd: int = 2048
    n_layer: int = 24
    n_ff: int = 5632
    n_head: int = 16
    n_head_kv: int = 4
    n_ctx_train: int = 8192

    @property
    def head_dim(self) -> int:
        return self.n_embd // self.n_head

    def tensor_shapes(self) -> dict[str, tuple[int, ...]]:
        """GGUF tensor name -> numpy shape (rows, columns): ggml's ne reversed."""
        e, kv = self.n_embd, self.n_head_kv * self.head_dim
        shapes: dict[str, tuple[int, ...]] = {"token_embd.weight": (self.n_vocab, e), "output_norm.weight": (e,),
                                              "output.weight": (self.n_vocab, e)}
        for i in range(self.n_layer):
            b = f"blk.{i}."
            shapes.update({
                b + "attn_norm.weight": (e,), b + "attn_q.weight": (e, e), b + "attn_k.weight": (kv, e),
                b + "attn_v.weight": (kv, e), b + "attn_output.weight": (e, e), b + "ffn_norm.weight": (e,),
                b + "ffn_gate.weight": (self.n_ff, e), b + "ffn_up.weight": (self.n_ff, e),
                b + "ffn_down.weight": (e, self.n_ff),
            })
        return shapes

    def n_params(self) -> int:
        return sum(int(np.prod(s)) for s in self.tensor_shapes().values())

    def check(self) -> None:
        if self.n_embd % self.n_head or self.n_head % self.n_head_kv:
            raise ValueError("n_embd must divide by n_head, and n_head by n_head_kv")
        if self.n_embd % 32 or self.n_ff % 32:
            raise ValueError("n_embd and n_ff must be multiples of 32 (quantization blocks)")
        if self.n_vocab < len(CONTROL_TOKENS) + N_BYTE_TOKENS + 2 * 62 + 101:
            raise ValueError(f"n_vocab must be at least {len(CONTROL_TOKENS) + N_BYTE_TOKENS + 225} (pieces w0..w99)")


PRESETS = {
    "tiny": Shape(n_vocab=512, n_embd=64, n_layer=2, n_ff=128, n_head=4, n_head_kv=2, n_ctx_train=2048),
    "small": Shape(n_vocab=4096, n_embd=256, n_layer=4, n_ff=512, n_head=8, n_head_kv=4, n_ctx_train=4096),
    "1.5b": Shape(),  # ~1.2 B parameters: the shape of TinyLlama / a small Llama
    "3b": Shape(n_vocab=32000, n_embd=3072, n_layer=28, n_ff=8192, n_head=24, n_head_kv=8),
    "8b": Shape(n_vocab=32000, n_embd=4096, n_layer=32, n_ff=14336, n_head=32, n_head_kv=8),
}


def vocab(n_vocab: int) -> tuple[list[str], list[float], list[int]]:
    """(tokens, scores, token types) of the synthetic SPM vocabulary."""
    from gguf import TokenType

    tokens = list(CONTROL_TOKENS)
    types = [TokenType.UNKNOWN, TokenType.CONTROL, TokenType.CONTROL]
    tokens += [f"<0x{b:02X}>" for b in range(N_BYTE_TOKENS)]
    types += [TokenType.BYTE] * N_BYTE_TOKENS
    chars = string.ascii_lowercase + string.ascii_uppercase + string.digits
    pieces = [c for c in chars] + ["\u2581" + c for c in chars]  # "▁w" is among them: "▁w12" merges
    i = 0
    while len(tokens) + len(pieces) < n_vocab:
        pieces.append(f"\u2581w{i}")
        i += 1
    tokens += pieces[: n_vocab - len(tokens)]
    types += [TokenType.NORMAL] * (n_vocab - len(types))
    scores = [0.0] * len(CONTROL_TOKENS) + [0.0] * N_BYTE_TOKENS
    scores += [-float(i) for i in range(n_vocab - len(scores))]
    return tokens, scores, [int(t) for t in types]


def write_gguf(path: str | Path, shape: Shape, ftype: str = "q4_0", *, seed: int = 0, name: str = "") -> dict:
    """Write the model; returns a summary (path, shape, type, parameters, bytes)."""
    import gguf
    from gguf import GGMLQuantizationType as Q
    from gguf import LlamaFileType as F

    shape.check()
    if ftype not in TYPES:
        raise ValueError(f"type must be one of {TYPES}, got {ftype!r}")
    qtype = {"f16": Q.F16, "q4_0": Q.Q4_0, "q8_0": Q.Q8_0}[ftype]
    file_type = {"f16": F.MOSTLY_F16, "q4_0": F.MOSTLY_Q4_0, "q8_0": F.MOSTLY_Q8_0}[ftype]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)

    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name(name or f"synthetic-llama-{shape.n_params() / 1e9:.2f}B-{ftype}")
    w.add_context_length(shape.n_ctx_train)
    w.add_embedding_length(shape.n_embd)
    w.add_block_count(shape.n_layer)
    w.add_feed_forward_length(shape.n_ff)
    w.add_rope_dimension_count(shape.head_dim)
    w.add_head_count(shape.n_head)
    w.add_head_count_kv(shape.n_head_kv)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_freq_base(10000.0)
    w.add_vocab_size(shape.n_vocab)
    w.add_file_type(int(file_type))
    tokens, scores, types = vocab(shape.n_vocab)
    w.add_tokenizer_model("llama")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_unk_token_id(UNK_ID)
    w.add_bos_token_id(BOS_ID)
    w.add_eos_token_id(EOS_ID)
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)

    cache: dict[tuple, np.ndarray] = {}

    def encoded(key: tuple, shp: tuple[int, ...], fill=None) -> tuple[np.ndarray, Q]:
        if len(shp) == 1:  # norms: F32 ones (as in real models), never quantized
            return np.ones(shp, dtype=np.float32), Q.F32
        if key not in cache:
            data = rng.standard_normal(shp, dtype=np.float32) * np.float32(0.02)
            if fill is not None:
                fill(data)
            cache[key] = (data.astype(np.float16) if qtype == Q.F16 else gguf.quants.quantize(data, qtype))
        return cache[key], qtype

    def zero_control_rows(a: np.ndarray) -> None:
        a[: len(CONTROL_TOKENS)] = 0.0

    n_bytes = 0
    for tname, shp in shape.tensor_shapes().items():
        if len(shp) == 1:
            arr, t = encoded((), shp)
        elif tname == "output.weight":
            arr, t = encoded(("output",), shp, zero_control_rows)
        elif tname == "token_embd.weight":
            arr, t = encoded(("embd",), shp)
        else:  # blk.N.<kind>.weight: one draw per kind of tensor, shared by every layer
            arr, t = encoded((tname.split(".", 2)[2], shp), shp)
        if t in (Q.F32, Q.F16):
            w.add_tensor(tname, arr)
        else:
            w.add_tensor(tname, arr, raw_dtype=t)  # arr's shape is the byte shape: (rows, bytes per row)
        n_bytes += arr.nbytes
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file(progress=False)
    w.close()
    return {"path": str(path), "type": ftype, "shape": asdict(shape), "n_params": shape.n_params(),
            "tensor_bytes": n_bytes, "file_bytes": path.stat().st_size}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--preset", choices=sorted(PRESETS), default="1.5b")
    ap.add_argument("--type", choices=TYPES, default="q4_0")
    ap.add_argument("--layers", type=int, help="override the preset's layer count")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    shape = PRESETS[a.preset] if a.layers is None else replace(PRESETS[a.preset], n_layer=a.layers)
    info = write_gguf(a.out, shape, a.type, seed=a.seed)
    print(f"{info['path']}: {info['n_params'] / 1e9:.2f} B parameters, {a.type}, {info['file_bytes'] / 2**20:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
