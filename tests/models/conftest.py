"""Fixtures for the models area: damaged copies of the real demo model, and a small GGUF writer."""

from __future__ import annotations

import shutil
import struct
from pathlib import Path
from typing import Any

import pytest

from safemed_desktop.inference.gguf_file import GGML_TYPES, read_gguf

# GGUF metadata value type ids
U8, I8, U16, I16, U32, I32, F32, BOOL, STR, ARR, U64, I64, F64 = range(13)
_FMT = {U8: "<B", I8: "<b", U16: "<H", I16: "<h", U32: "<I", I32: "<i", F32: "<f", BOOL: "<?",
        U64: "<Q", I64: "<q", F64: "<d"}


def _str(s: str) -> bytes:
    raw = s.encode("utf-8")
    return struct.pack("<Q", len(raw)) + raw


def _value(vtype: int, value: Any) -> bytes:
    if vtype == STR:
        return _str(value)
    if vtype == ARR:
        etype, items = value
        return struct.pack("<IQ", etype, len(items)) + b"".join(_value(etype, v) for v in items)
    return struct.pack(_FMT[vtype], value)


def write_gguf(path: Path, metadata: list[tuple[str, int, Any]], tensors: list[tuple[str, tuple[int, ...], int]],
               *, alignment: int = 32, version: int = 3, truncate_data_by: int = 0) -> Path:
    """Write a structurally valid GGUF (zero-filled tensor data) for parser tests."""
    head = b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(metadata))
    for key, vtype, value in metadata:
        head += _str(key) + struct.pack("<I", vtype) + _value(vtype, value)
    offset = end = 0
    for name, dims, gtype in tensors:
        _, block, tsize = GGML_TYPES.get(gtype, ("?", 1, 1))
        n = dims[0] // block * tsize
        for d in dims[1:]:
            n *= d
        head += _str(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        head += struct.pack("<IQ", gtype, offset)
        end = offset + n
        offset += -(-n // alignment) * alignment
    head += b"\0" * (-len(head) % alignment)
    data = b"\0" * end  # the last tensor ends the file, as in real GGUF files
    path.write_bytes(head + data[: len(data) - truncate_data_by])
    return path


def tiny_llama_metadata(arch: str = "llama", n_layers: int = 2, template: str | None = None) -> list:
    md = [("general.architecture", STR, arch), ("general.name", STR, "tiny test model"),
          (f"{arch}.block_count", U32, n_layers), (f"{arch}.context_length", U32, 4096),
          (f"{arch}.embedding_length", U32, 64), (f"{arch}.attention.head_count", U32, 4),
          (f"{arch}.attention.head_count_kv", U32, 2), ("general.file_type", U32, 15)]
    if template is not None:
        md.append(("tokenizer.chat_template", STR, template))
    return md


def tiny_llama_tensors(n_layers: int = 2) -> list:
    t = [("token_embd.weight", (64, 100), 0)]
    for i in range(n_layers):
        t += [(f"blk.{i}.attn_q.weight", (256, 64), 12), (f"blk.{i}.attn_norm.weight", (64,), 0)]
    t.append(("output.weight", (64, 100), 8))
    return t


@pytest.fixture(scope="session")
def damaged_models(tmp_path_factory, demo_model_path) -> dict[str, Path]:
    """One full copy of the demo model with a byte flipped in its tensor data, plus truncated
    and non-GGUF files. Built once per test session (the demo model is 98 MB)."""
    d = tmp_path_factory.mktemp("damaged_models")
    info = read_gguf(demo_model_path)
    flipped_dir = d / "flipped"
    flipped_dir.mkdir()
    flipped = flipped_dir / demo_model_path.name  # same name as the approved file
    shutil.copyfile(demo_model_path, flipped)
    pos = info.data_offset + info.tensors[-1].offset + 7
    with open(flipped, "r+b") as fh:
        fh.seek(pos)
        b = fh.read(1)
        fh.seek(pos)
        fh.write(bytes([b[0] ^ 0xFF]))
    truncated = d / "truncated" / demo_model_path.name
    truncated.parent.mkdir()
    with open(demo_model_path, "rb") as src, open(truncated, "wb") as dst:
        dst.write(src.read(info.size_bytes // 2))  # half the file: header intact, tensor data cut
    not_gguf = d / "notes.gguf"
    not_gguf.write_text("this is a text file, not a model\n", encoding="utf-8")
    return {"flipped": flipped, "truncated": truncated, "not_gguf": not_gguf, "dir": d}
