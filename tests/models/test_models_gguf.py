"""GGUF reading (gguf-py's GGUFReader plus SafeMed's checks): the real demo model, damaged copies, hand-built files."""

from __future__ import annotations

import ctypes
import re
import struct
from pathlib import Path

import pytest

from safemed_desktop.errors import ModelFileError
from safemed_desktop.inference.gguf_file import FILE_TYPES, GGML_TYPES, ArraySummary, read_gguf, tensor_nbytes

from .conftest import (ARR, BOOL, F32, F64, I8, I16, I32, I64, STR, U8, U16, U32, U64, _str, tiny_llama_metadata,
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


# --- the gguf-py reader (gguf.GGUFReader) under damaged input ------------------------------

def _kv(key: str, vtype: int, payload: bytes) -> bytes:
    return _str(key) + struct.pack("<I", vtype) + payload


def _raw_gguf(path, kvs: list[bytes], tensors: bytes = b"", n_tensors: int = 0, tail: bytes = b"\0" * 64):
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, n_tensors, len(kvs)) + b"".join(kvs) + tensors + tail)
    return path


def _tensor_info(name: str, dims: tuple[int, ...], gtype: int, offset: int = 0) -> bytes:
    return (_str(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
            + struct.pack("<IQ", gtype, offset))


def _error_or_info(path):
    """read_gguf's outcome: a GGUFInfo or a one-line ModelFileError; anything else fails the test."""
    try:
        return read_gguf(path)
    except ModelFileError as exc:
        assert "\n" not in str(exc) and str(exc).startswith(path.name), str(exc)
        return exc


def test_every_truncation_of_a_hand_built_file_is_a_model_file_error(tmp_path):
    """Cut at every byte of the header and tensor table (and into the data): always a clear
    ModelFileError, never a numpy/struct/IndexError from the reader or a silently short read."""
    full = write_gguf(tmp_path / "full.gguf", tiny_llama_metadata(template="{{ x }}"), tiny_llama_tensors())
    data = full.read_bytes()
    info = read_gguf(full)
    cut_file = tmp_path / "cut.gguf"
    for cut in [*range(info.data_offset + 1), info.data_offset + 100, len(data) - 1]:
        cut_file.write_bytes(data[:cut])
        out = _error_or_info(cut_file)
        assert isinstance(out, ModelFileError), cut
        if cut < 4:
            assert "not a GGUF model file" in str(out)
            continue
        in_header = re.search(rf"truncated or corrupt GGUF: .* needs bytes up to \d+ but the file has {cut} bytes",
                              str(out))
        in_data = re.search(rf"truncated: tensor \S+ ends at byte \d+ but file has {cut} bytes", str(out))
        assert in_header or in_data, (cut, str(out))
        if cut >= info.data_offset:
            assert in_data, (cut, str(out))


def test_flipped_header_bytes_never_escape_as_other_exceptions(tmp_path):
    """A byte flipped anywhere in the header or tensor table parses or fails with ModelFileError."""
    full = write_gguf(tmp_path / "full.gguf", tiny_llama_metadata(), tiny_llama_tensors())
    data = full.read_bytes()
    end = read_gguf(full).data_offset
    bad = tmp_path / "flip.gguf"
    failures = 0
    for pos in range(end):
        flipped = bytearray(data)
        flipped[pos] ^= 0xFF
        bad.write_bytes(bytes(flipped))
        failures += isinstance(_error_or_info(bad), ModelFileError)
    assert failures > end // 2  # most header bytes matter


def test_not_gguf_inputs(tmp_path):
    cases = {
        "png.gguf": b"\x89PNG\r\n\x1a\n" + b"\0" * 100,
        "short.gguf": b"GGU",
        "magic_only.gguf": b"GGUF",
        "text.gguf": "GGUF is a file format\n".encode(),
    }
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
    with pytest.raises(ModelFileError, match=r"png.gguf: not a GGUF model file \(starts with b'\\x89PNG'"):
        read_gguf(tmp_path / "png.gguf")
    with pytest.raises(ModelFileError, match="not a GGUF model file"):
        read_gguf(tmp_path / "short.gguf")
    with pytest.raises(ModelFileError, match="truncated or corrupt GGUF: the header needs bytes up to 24 but the "
                                             "file has 4 bytes"):
        read_gguf(tmp_path / "magic_only.gguf")
    with pytest.raises(ModelFileError, match="unsupported GGUF version"):  # "GGUF" then " is a"
        read_gguf(tmp_path / "text.gguf")
    big = tmp_path / "big_endian.gguf"
    big.write_bytes(b"GGUF" + struct.pack(">IQQ", 3, 0, 0))
    with pytest.raises(ModelFileError, match="big-endian GGUF"):
        read_gguf(big)
    p = tmp_path / "huge_kv.gguf"
    p.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, 1 << 40))
    with pytest.raises(ModelFileError, match="implausible metadata count"):
        read_gguf(p)


def test_corrupt_metadata_through_the_reader(tmp_path):
    arch = _kv("general.architecture", STR, _str("llama"))
    p = _raw_gguf(tmp_path / "dup.gguf", [arch, _kv("general.architecture", STR, _str("qwen3"))])
    with pytest.raises(ModelFileError, match=r"dup.gguf: corrupt GGUF: Duplicate general.architecture"):
        read_gguf(p)
    p = _raw_gguf(tmp_path / "vtype.gguf", [arch, _kv("x.weird", 77, b"\0" * 8)])
    with pytest.raises(ModelFileError, match="vtype.gguf: corrupt GGUF: .*77"):
        read_gguf(p)
    p = _raw_gguf(tmp_path / "etype.gguf", [arch, _kv("x.arr", ARR, struct.pack("<IQ", 66, 0))])
    with pytest.raises(ModelFileError, match="corrupt GGUF: array 'x.arr' has unknown element type 66"):
        read_gguf(p)
    p = _raw_gguf(tmp_path / "longstr.gguf", [arch, _kv("x.s", STR, struct.pack("<Q", 1 << 62) + b"abc")])
    with pytest.raises(ModelFileError, match=r"truncated or corrupt GGUF: metadata entry #1 \(after "
                                             r"'general.architecture'\) needs bytes up to \d+ but the file has"):
        read_gguf(p)
    p = _raw_gguf(tmp_path / "utf8v.gguf", [arch, _kv("x.s", STR, struct.pack("<Q", 2) + b"\xff\xfe")])
    with pytest.raises(ModelFileError, match="corrupt GGUF: metadata 'x.s' is not valid UTF-8"):
        read_gguf(p)
    p = _raw_gguf(tmp_path / "utf8k.gguf", [arch, struct.pack("<Q", 2) + b"\xff\xfe" + struct.pack("<IB", U8, 1)])
    with pytest.raises(ModelFileError, match="corrupt GGUF: a metadata key or tensor name is not valid UTF-8"):
        read_gguf(p)
    nested = b"".join(struct.pack("<IQ", ARR, 1) for _ in range(5000)) + struct.pack("<IQ", U8, 0)
    p = _raw_gguf(tmp_path / "nested.gguf", [arch, _kv("x.deep", ARR, nested)])
    with pytest.raises(ModelFileError, match="nested.gguf: corrupt GGUF: metadata arrays nested too deeply"):
        read_gguf(p)
    p = _raw_gguf(tmp_path / "align.gguf", [arch, _kv("general.alignment", U32, struct.pack("<I", 48))])
    with pytest.raises(ModelFileError, match="align.gguf: corrupt GGUF: .*power of two"):
        read_gguf(p)
    p = _raw_gguf(tmp_path / "align64.gguf", [arch, _kv("general.alignment", U64, struct.pack("<Q", 64))])
    with pytest.raises(ModelFileError, match="align64.gguf: corrupt GGUF: .*general.alignment"):
        read_gguf(p)


def test_corrupt_tensor_table_through_the_reader(tmp_path):
    arch = _kv("general.architecture", STR, _str("llama"))
    p = _raw_gguf(tmp_path / "duptensor.gguf", [arch], _tensor_info("w", (4,), 0) + _tensor_info("w", (4,), 0, 32),
                  n_tensors=2)
    with pytest.raises(ModelFileError, match="duptensor.gguf: corrupt GGUF: duplicate tensor 'w'"):
        read_gguf(p)
    p = _raw_gguf(tmp_path / "dims.gguf", [arch], _tensor_info("w", (1, 1, 1, 1, 4), 0), n_tensors=1)
    with pytest.raises(ModelFileError, match="tensor 'w' has 5 dimensions"):
        read_gguf(p)
    p = _raw_gguf(tmp_path / "unaligned.gguf", [arch], _tensor_info("w", (4,), 0, 8), n_tensors=1)
    with pytest.raises(ModelFileError, match="tensor 'w' offset 8 is not aligned to 32"):
        read_gguf(p)
    p = _raw_gguf(tmp_path / "row.gguf", [arch], _tensor_info("w", (33, 2), 2), n_tensors=1)
    with pytest.raises(ModelFileError, match="row.gguf: corrupt GGUF: tensor 'w' row of 33 elements"):
        read_gguf(p)
    p = _raw_gguf(tmp_path / "huge.gguf", [arch], _tensor_info("w", (1 << 40, 1 << 20), 0), n_tensors=1)
    with pytest.raises(ModelFileError, match=r"truncated: tensor w ends at byte \d+ but file has"):
        read_gguf(p)
    p = _raw_gguf(tmp_path / "cut_dims.gguf", [arch], _str("w") + struct.pack("<I", 1 << 31), n_tensors=1, tail=b"")
    with pytest.raises(ModelFileError, match="truncated or corrupt GGUF: the tensor table needs bytes up to"):
        read_gguf(p)


def test_tensor_types_follow_libggml_not_gguf_py(tmp_path):
    """A type llama.cpp knows (checked against libggml above) is accepted even where gguf-py's own
    table lags; every type gguf-py knows has the same block and type size in both tables."""
    import gguf

    differ = {qtype.name for qtype, (block, size) in gguf.GGML_QUANT_SIZES.items()
              if GGML_TYPES[int(qtype)] != (qtype.name, block, size)}
    # gguf-py 0.19 gives Q8_1 40 bytes per block; libggml (what reads the file) says 36. Q8_1 is
    # ggml's internal activation type, not a weight type found in model files.
    assert differ <= {"Q8_1"}
    for ftype in gguf.LlamaFileType:
        if ftype != gguf.LlamaFileType.GUESSED:
            assert FILE_TYPES[int(ftype)] == ftype.name.removeprefix("MOSTLY_").removeprefix("ALL_")
    newest = max(GGML_TYPES)
    tensors = tiny_llama_tensors() + [("blk.1.new", (GGML_TYPES[newest][1] * 2,), newest)]
    info = read_gguf(write_gguf(tmp_path / "new.gguf", tiny_llama_metadata(), tensors))
    assert info.tensors[-1].type_name == GGML_TYPES[newest][0]


def _mapped(path) -> bool:
    maps = Path("/proc/self/maps")
    return str(path.resolve()) in maps.read_text()


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs /proc (Linux)")
def test_the_file_is_not_left_mapped(tmp_path, damaged_models):
    """GGUFReader maps the file; read_gguf drops the map before it returns or raises (Windows would
    otherwise keep the model file locked while an error is on screen)."""
    good = write_gguf(tmp_path / "good.gguf", tiny_llama_metadata(), tiny_llama_tensors())
    info = read_gguf(good)
    assert info.n_layers == 2 and not _mapped(good)
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(good.read_bytes()[:300])
    with pytest.raises(ModelFileError) as caught:
        read_gguf(cut)
    assert not _mapped(cut) and caught.value.__cause__ is None and caught.value.__context__ is None
    with pytest.raises(ModelFileError):
        read_gguf(damaged_models["truncated"])
    assert not _mapped(damaged_models["truncated"])
    arch = _kv("general.architecture", STR, _str("llama"))
    bad_value = _raw_gguf(tmp_path / "utf8.gguf", [arch, _kv("x.s", STR, struct.pack("<Q", 1) + b"\xff")])
    with pytest.raises(ModelFileError, match="not valid UTF-8") as caught:  # fails after the reader was built
        read_gguf(bad_value)
    assert not _mapped(bad_value)
