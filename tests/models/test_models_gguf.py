"""GGUF reading without llama.cpp: the real demo model, damaged copies, hand-built files."""

from __future__ import annotations

import ctypes
import struct

import pytest

from safemed_desktop.errors import ModelFileError
from safemed_desktop.inference.gguf_file import GGML_TYPES, ArraySummary, read_gguf, tensor_nbytes

from .conftest import (ARR, BOOL, F32, F64, I8, I16, I32, I64, STR, U8, U16, U32, U64, tiny_llama_metadata,
                       tiny_llama_tensors, write_gguf)


@pytest.fixture(scope="module")
def demo_info(demo_model_path):
    return read_gguf(demo_model_path)


def test_demo_model_header(demo_info, demo_model_path):
    i = demo_info
    assert i.version == 3
    assert i.architecture == "llama"
    assert i.n_layers == 30
    assert i.context_length == 8192
    assert i.embedding_length == 576
    assert (i.head_count, i.head_count_kv) == (9, 3)
    assert i.quantization == "Q4_1"
    assert i.chat_template is not None and "<|im_start|>" in i.chat_template
    assert i.size_bytes == demo_model_path.stat().st_size == 98362432
    assert len(i.tensors) == 272
    # 30 blocks of 9 tensors each, plus token_embd and output_norm (SmolLM2 ties the output to the embedding)
    assert sorted(t.name for t in i.tensors if not t.name.startswith("blk.")) == ["output_norm.weight",
                                                                                   "token_embd.weight"]
    assert len(i.layer_bytes) == 30 and len(set(i.layer_bytes)) == 1 and i.layer_bytes[0] > 0
    # the last tensor ends exactly at the end of the file: sizes and offsets agree
    assert max(i.data_offset + t.offset + t.n_bytes for t in i.tensors) == i.size_bytes
    assert i.data_offset + i.tensor_bytes <= i.size_bytes
    # the 49152-entry vocabulary is skipped, not kept in memory
    assert i.metadata["tokenizer.ggml.tokens"] == ArraySummary("string", 49152)
    assert i.metadata["general.languages"] == ["en"]


def test_demo_model_agrees_with_llama_cpp(demo_info, demo_model_path):
    """The numbers the offload planner uses match what llama.cpp itself reports for the file."""
    from llama_cpp import Llama

    llm = Llama(model_path=str(demo_model_path), n_ctx=256, n_threads=2, verbose=False)
    try:
        model = llm._model
        assert model.n_params() == demo_info.parameter_count
        assert model.n_ctx_train() == demo_info.context_length
        assert model.n_embd() == demo_info.embedding_length
        assert model.size() == demo_info.tensor_bytes
    finally:
        llm.close()


def test_block_sizes_match_libggml():
    from llama_cpp import _ggml

    lib = _ggml.libggml
    lib.ggml_blck_size.restype, lib.ggml_blck_size.argtypes = ctypes.c_int64, [ctypes.c_int]
    lib.ggml_type_size.restype, lib.ggml_type_size.argtypes = ctypes.c_size_t, [ctypes.c_int]
    lib.ggml_type_name.restype, lib.ggml_type_name.argtypes = ctypes.c_char_p, [ctypes.c_int]
    for t, (name, block, size) in GGML_TYPES.items():
        assert (lib.ggml_blck_size(t), lib.ggml_type_size(t)) == (block, size), name
        assert lib.ggml_type_name(t).decode().upper() == name


def test_tensor_nbytes_rows_and_unknown_type():
    assert tensor_nbytes("w", (256, 10), 12) == 144 * 10  # Q4_K: one 256-block per row
    assert tensor_nbytes("w", (64, 3), 1) == 64 * 2 * 3  # F16
    assert tensor_nbytes("w", (64, 2), 30) == 64 * 2 * 2  # BF16
    with pytest.raises(ModelFileError, match="unknown or unsupported ggml type 31"):
        tensor_nbytes("blk.0.w", (64,), 31)
    with pytest.raises(ModelFileError, match="not a multiple of the Q4_0 block size 32"):
        tensor_nbytes("w", (33, 2), 2)


def test_truncated_demo_copy(damaged_models, demo_info):
    with pytest.raises(ModelFileError, match=r"truncated: tensor \S+ ends at byte \d+ but file has 49181216 bytes"):
        read_gguf(damaged_models["truncated"])


def test_truncation_inside_header(tmp_path, demo_model_path):
    part = tmp_path / "head.gguf"
    with open(demo_model_path, "rb") as fh:
        part.write_bytes(fh.read(5000))  # cuts through the tokenizer vocabulary
    with pytest.raises(ModelFileError, match="truncated or corrupt GGUF: .* but the file has 5000 bytes"):
        read_gguf(part)


def test_not_gguf_missing_and_empty(tmp_path, damaged_models):
    with pytest.raises(ModelFileError, match="not a GGUF model file"):
        read_gguf(damaged_models["not_gguf"])
    empty = tmp_path / "empty.gguf"
    empty.write_bytes(b"")
    with pytest.raises(ModelFileError, match="not a GGUF model file"):
        read_gguf(empty)
    with pytest.raises(ModelFileError, match="model file not found"):
        read_gguf(tmp_path / "nope.gguf")
    with pytest.raises(ModelFileError, match="is a directory"):
        read_gguf(tmp_path)


def test_all_metadata_value_types_and_alignment(tmp_path):
    md = tiny_llama_metadata() + [
        ("t.u8", U8, 200), ("t.i8", I8, -5), ("t.u16", U16, 60000), ("t.i16", I16, -300),
        ("t.i32", I32, -70000), ("t.f32", F32, 0.5), ("t.bool", BOOL, True), ("t.u64", U64, 1 << 40),
        ("t.i64", I64, -(1 << 40)), ("t.f64", F64, 0.25), ("t.arr", ARR, (I32, [1, -2, 3])),
        ("t.nested", ARR, (ARR, [(STR, ["a", "b"]), (U8, [7])])),
        ("t.long", ARR, (STR, [f"tok{i}" for i in range(100)])), ("general.alignment", U32, 64),
    ]
    p = write_gguf(tmp_path / "all.gguf", md, tiny_llama_tensors(), alignment=64)
    i = read_gguf(p)
    m = i.metadata
    assert (m["t.u8"], m["t.i8"], m["t.u16"], m["t.i16"], m["t.i32"]) == (200, -5, 60000, -300, -70000)
    assert (m["t.f32"], m["t.bool"], m["t.u64"], m["t.i64"], m["t.f64"]) == (0.5, True, 1 << 40, -(1 << 40), 0.25)
    assert m["t.arr"] == [1, -2, 3]
    assert m["t.nested"] == [["a", "b"], [7]]
    assert m["t.long"] == ArraySummary("string", 100)
    assert i.alignment == 64 and i.data_offset % 64 == 0
    assert i.quantization == "Q4_K_M"
    assert i.n_layers == 2
    assert i.layer_bytes == [144 * 64 + 64 * 4] * 2
    assert i.other_bytes == 64 * 100 * 4 + 64 // 32 * 34 * 100
    assert i.parameter_count == 2 * 64 * 100 + 2 * (256 * 64 + 64)


def test_hand_built_truncated_by_one_byte(tmp_path):
    p = write_gguf(tmp_path / "short.gguf", tiny_llama_metadata(), tiny_llama_tensors(), truncate_data_by=1)
    with pytest.raises(ModelFileError, match=r"truncated: tensor output.weight ends at byte (\d+) but file has"):
        read_gguf(p)


def test_unknown_tensor_type_is_named(tmp_path):
    tensors = tiny_llama_tensors() + [("blk.1.weird", (64,), 99)]
    p = write_gguf(tmp_path / "weird.gguf", tiny_llama_metadata(), tensors)
    with pytest.raises(ModelFileError, match="tensor 'blk.1.weird' has unknown or unsupported ggml type 99"):
        read_gguf(p)


def test_unsupported_version_and_missing_architecture(tmp_path):
    p = write_gguf(tmp_path / "v1.gguf", tiny_llama_metadata(), tiny_llama_tensors(), version=1)
    with pytest.raises(ModelFileError, match="unsupported GGUF version 1"):
        read_gguf(p)
    p = write_gguf(tmp_path / "noarch.gguf", [("general.name", STR, "x")], [("w", (4,), 0)])
    with pytest.raises(ModelFileError, match="no general.architecture"):
        read_gguf(p)


def test_implausible_counts_are_corrupt_not_memory_errors(tmp_path):
    p = tmp_path / "huge.gguf"
    p.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 1 << 60, 0))
    with pytest.raises(ModelFileError, match="implausible tensor count"):
        read_gguf(p)
