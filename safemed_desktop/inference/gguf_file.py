"""Read a GGUF model file's header, metadata and tensor table without llama.cpp.

llama.cpp can crash (not raise) on a truncated or corrupt file, so SafeMed checks the
file first: magic, version, every metadata value, every tensor's type and shape, and
that every tensor's data lies inside the file. Only the header is read (buffered), never
the tensor data, so a 20 GB production model is checked in well under a second.

Layout (GGUF v2/v3, little-endian): ``"GGUF"`` u32 version, u64 tensor_count, u64 kv_count,
kv pairs, tensor infos (name, u32 n_dims, u64 dims[n_dims], u32 ggml_type, u64 offset),
padding to ``general.alignment`` (default 32), then the tensor data. Offsets are
relative to the start of the data section.
"""

from __future__ import annotations

import math
import os
import re
import struct
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from ..errors import ModelFileError

GGUF_MAGIC = b"GGUF"
SUPPORTED_VERSIONS = (2, 3)
DEFAULT_ALIGNMENT = 32
MAX_DIMS = 4  # GGML_MAX_DIMS

# ggml_type id -> (name, elements per block, bytes per block). Checked against libggml's
# ggml_blck_size()/ggml_type_size() in tests/models/test_models_gguf.py.
GGML_TYPES: dict[int, tuple[str, int, int]] = {
    0: ("F32", 1, 4),
    1: ("F16", 1, 2),
    2: ("Q4_0", 32, 18),
    3: ("Q4_1", 32, 20),
    6: ("Q5_0", 32, 22),
    7: ("Q5_1", 32, 24),
    8: ("Q8_0", 32, 34),
    9: ("Q8_1", 32, 36),
    10: ("Q2_K", 256, 84),
    11: ("Q3_K", 256, 110),
    12: ("Q4_K", 256, 144),
    13: ("Q5_K", 256, 176),
    14: ("Q6_K", 256, 210),
    15: ("Q8_K", 256, 292),
    16: ("IQ2_XXS", 256, 66),
    17: ("IQ2_XS", 256, 74),
    18: ("IQ3_XXS", 256, 98),
    19: ("IQ1_S", 256, 50),
    20: ("IQ4_NL", 32, 18),
    21: ("IQ3_S", 256, 110),
    22: ("IQ2_S", 256, 82),
    23: ("IQ4_XS", 256, 136),
    24: ("I8", 1, 1),
    25: ("I16", 1, 2),
    26: ("I32", 1, 4),
    27: ("I64", 1, 8),
    28: ("F64", 1, 8),
    29: ("IQ1_M", 256, 56),
    30: ("BF16", 1, 2),
    34: ("TQ1_0", 256, 54),
    35: ("TQ2_0", 256, 66),
    39: ("MXFP4", 32, 17),
    40: ("NVFP4", 64, 36),
    41: ("Q1_0", 128, 18),
    42: ("Q2_0", 64, 18),
}

# llama_ftype (general.file_type) -> name, as llama.cpp's llama.h numbers them.
FILE_TYPES: dict[int, str] = {
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K",
    11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S",
    17: "Q5_K_M", 18: "Q6_K", 19: "IQ2_XXS", 20: "IQ2_XS", 21: "Q2_K_S", 22: "IQ3_XS",
    23: "IQ3_XXS", 24: "IQ1_S", 25: "IQ4_NL", 26: "IQ3_S", 27: "IQ3_M", 28: "IQ2_S",
    29: "IQ2_M", 30: "IQ4_XS", 31: "IQ1_M", 32: "BF16", 36: "TQ1_0", 37: "TQ2_0",
    38: "MXFP4_MOE", 39: "NVFP4", 40: "Q1_0", 41: "Q2_0",
}

# Metadata value types: id -> (name, struct format or None for string/array).
_VALUE_TYPES: dict[int, tuple[str, str | None]] = {
    0: ("uint8", "<B"), 1: ("int8", "<b"), 2: ("uint16", "<H"), 3: ("int16", "<h"),
    4: ("uint32", "<I"), 5: ("int32", "<i"), 6: ("float32", "<f"), 7: ("bool", "<?"),
    8: ("string", None), 9: ("array", None), 10: ("uint64", "<Q"), 11: ("int64", "<q"),
    12: ("float64", "<d"),
}
_T_STRING, _T_ARRAY = 8, 9
# Arrays longer than this (tokenizer vocabularies: 150k strings) are skipped, not kept.
MAX_KEPT_ARRAY = 64
_MAX_COUNT = 1 << 32  # a tensor/kv/array count above this is corruption, not a model
_BLOCK_RE = re.compile(r"^blk\.(\d+)\.")


@dataclass(frozen=True)
class ArraySummary:
    """A long metadata array, skipped while reading: its element type and length only."""

    type_name: str
    count: int

    def __str__(self) -> str:
        return f"[{self.count} x {self.type_name}]"


@dataclass(frozen=True)
class TensorInfo:
    name: str
    dims: tuple[int, ...]
    ggml_type: int
    type_name: str
    offset: int  # relative to the data section
    n_bytes: int

    @property
    def n_elements(self) -> int:
        return math.prod(self.dims)


@dataclass
class GGUFInfo:
    path: Path
    version: int
    size_bytes: int
    alignment: int
    data_offset: int
    architecture: str
    name: str | None
    n_layers: int
    context_length: int | None
    embedding_length: int | None
    head_count: int | None
    head_count_kv: int | None
    key_length: int | None
    value_length: int | None
    parameter_count: int
    quantization: str
    chat_template: str | None
    layer_bytes: list[int]  # tensor bytes of blk.N.*, index N
    other_bytes: int  # tensor bytes outside blk.N.* (token embedding, output, norms)
    tensors: list[TensorInfo] = field(repr=False)
    metadata: dict[str, Any] = field(repr=False)

    @property
    def tensor_bytes(self) -> int:
        return sum(self.layer_bytes) + self.other_bytes

    def summary(self) -> dict[str, Any]:
        """JSON-ready facts for reports (no tensor table, no long arrays)."""
        return {
            "path": str(self.path), "version": self.version, "size_bytes": self.size_bytes,
            "architecture": self.architecture, "name": self.name, "n_layers": self.n_layers,
            "context_length": self.context_length, "embedding_length": self.embedding_length,
            "head_count": self.head_count, "head_count_kv": self.head_count_kv,
            "parameter_count": self.parameter_count, "quantization": self.quantization,
            "has_chat_template": self.chat_template is not None, "n_tensors": len(self.tensors),
            "layer_bytes_total": sum(self.layer_bytes), "other_bytes": self.other_bytes,
        }


class _Reader:
    """Little-endian reads from a buffered file; running out of bytes means truncation."""

    def __init__(self, fh: BinaryIO, path: Path, file_size: int):
        self.fh = fh
        self.path = path
        self.file_size = file_size
        self.pos = 0

    def read(self, n: int, what: str) -> bytes:
        if n < 0 or self.pos + n > self.file_size:
            raise ModelFileError(
                f"{self.path.name}: truncated or corrupt GGUF: {what} needs bytes up to "
                f"{self.pos + n} but the file has {self.file_size} bytes")
        data = self.fh.read(n)
        if len(data) != n:  # file shrank while reading
            raise ModelFileError(f"{self.path.name}: truncated GGUF: short read at byte {self.pos}")
        self.pos += n
        return data

    def skip(self, n: int, what: str) -> None:
        if n < 0 or self.pos + n > self.file_size:
            self.read(n, what)  # raises with the standard message
        self.fh.seek(n, 1)
        self.pos += n

    def unpack(self, fmt: str, what: str) -> Any:
        return struct.unpack(fmt, self.read(struct.calcsize(fmt), what))[0]

    def u32(self, what: str) -> int:
        return self.unpack("<I", what)

    def u64(self, what: str) -> int:
        return self.unpack("<Q", what)

    def string(self, what: str) -> str:
        n = self.u64(f"length of {what}")
        raw = self.read(n, what)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ModelFileError(f"{self.path.name}: corrupt GGUF: {what} is not valid UTF-8") from None

    def count(self, what: str) -> int:
        n = self.u64(what)
        if n >= _MAX_COUNT:
            raise ModelFileError(f"{self.path.name}: corrupt GGUF: implausible {what} {n}")
        return n


def _read_value(r: _Reader, vtype: int, key: str) -> Any:
    spec = _VALUE_TYPES.get(vtype)
    if spec is None:
        raise ModelFileError(f"{r.path.name}: corrupt GGUF: metadata {key!r} has unknown value type {vtype}")
    name, fmt = spec
    if fmt is not None:
        return r.unpack(fmt, f"metadata {key!r}")
    if vtype == _T_STRING:
        return r.string(f"metadata {key!r}")
    # array
    etype = r.u32(f"element type of {key!r}")
    count = r.count(f"array length of {key!r}")
    espec = _VALUE_TYPES.get(etype)
    if espec is None:
        raise ModelFileError(f"{r.path.name}: corrupt GGUF: array {key!r} has unknown element type {etype}")
    ename, efmt = espec
    if count > MAX_KEPT_ARRAY:
        if efmt is not None:
            r.skip(count * struct.calcsize(efmt), f"array {key!r}")
        elif etype == _T_STRING:  # walk the lengths, skip the bytes (no decoding)
            what = f"array {key!r}"
            for _ in range(count):
                r.skip(r.u64(what), what)
        else:
            for _ in range(count):
                _read_value(r, etype, key)  # nested arrays must be walked
        return ArraySummary(ename, count)
    return [_read_value(r, etype, key) for _ in range(count)]


def tensor_nbytes(name: str, dims: tuple[int, ...], ggml_type: int, *, file: str = "") -> int:
    """Bytes of a tensor's data: rows of ``dims[0]`` elements packed in the type's blocks."""
    spec = GGML_TYPES.get(ggml_type)
    where = f"{file}: " if file else ""
    if spec is None:
        raise ModelFileError(f"{where}tensor {name!r} has unknown or unsupported ggml type {ggml_type}")
    type_name, block, type_size = spec
    if dims and dims[0] % block:
        raise ModelFileError(
            f"{where}corrupt GGUF: tensor {name!r} row of {dims[0]} elements is not a multiple "
            f"of the {type_name} block size {block}")
    row = (dims[0] if dims else 1) // block * type_size
    return row * math.prod(dims[1:])


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return int(value)


def read_gguf(path: str | Path) -> GGUFInfo:
    """Parse and check a GGUF file. Raises ModelFileError for a missing, non-GGUF,
    unsupported-version, corrupt or truncated file."""
    path = Path(path)
    try:
        fh = open(path, "rb", buffering=1 << 20)
    except FileNotFoundError:
        raise ModelFileError(f"model file not found: {path}") from None
    except IsADirectoryError:
        raise ModelFileError(f"model path is a directory, not a file: {path}") from None
    except OSError as exc:
        raise ModelFileError(f"cannot read model file {path}: {exc.strerror}") from exc
    with fh:
        file_size = os.fstat(fh.fileno()).st_size
        r = _Reader(fh, path, file_size)
        magic = fh.read(4)
        if magic != GGUF_MAGIC:
            raise ModelFileError(f"{path.name}: not a GGUF model file (starts with {magic[:4]!r}, expected b'GGUF')")
        r.pos = 4
        version = r.u32("version")
        if version not in SUPPORTED_VERSIONS:
            raise ModelFileError(f"{path.name}: unsupported GGUF version {version} (supported: 2, 3)")
        n_tensors = r.count("tensor count")
        n_kv = r.count("metadata count")

        metadata: dict[str, Any] = {}
        for i in range(n_kv):
            key = r.string(f"metadata key #{i}")
            vtype = r.u32(f"type of metadata {key!r}")
            metadata[key] = _read_value(r, vtype, key)

        alignment = metadata.get("general.alignment", DEFAULT_ALIGNMENT)
        if not isinstance(alignment, int) or alignment <= 0 or alignment & (alignment - 1):
            raise ModelFileError(f"{path.name}: corrupt GGUF: general.alignment {alignment!r} is not a power of two")

        tensors: list[TensorInfo] = []
        for i in range(n_tensors):
            name = r.string(f"name of tensor #{i}")
            n_dims = r.u32(f"dimension count of tensor {name!r}")
            if not 1 <= n_dims <= MAX_DIMS:
                raise ModelFileError(f"{path.name}: corrupt GGUF: tensor {name!r} has {n_dims} dimensions")
            dims = tuple(r.u64(f"dimensions of tensor {name!r}") for _ in range(n_dims))
            gtype = r.u32(f"type of tensor {name!r}")
            offset = r.u64(f"offset of tensor {name!r}")
            n_bytes = tensor_nbytes(name, dims, gtype, file=path.name)
            if offset % alignment:
                raise ModelFileError(
                    f"{path.name}: corrupt GGUF: tensor {name!r} offset {offset} is not aligned to {alignment}")
            tensors.append(TensorInfo(name, dims, gtype, GGML_TYPES[gtype][0], offset, n_bytes))

    data_offset = -(-r.pos // alignment) * alignment
    for t in tensors:
        end = data_offset + t.offset + t.n_bytes
        if end > file_size:
            raise ModelFileError(
                f"{path.name}: truncated: tensor {t.name} ends at byte {end} but file has {file_size} bytes")

    return _describe(path, version, file_size, alignment, data_offset, tensors, metadata)


def _describe(path: Path, version: int, file_size: int, alignment: int, data_offset: int,
              tensors: list[TensorInfo], metadata: dict[str, Any]) -> GGUFInfo:
    arch = metadata.get("general.architecture")
    if not isinstance(arch, str) or not arch:
        raise ModelFileError(f"{path.name}: GGUF has no general.architecture: not a language model file")

    def arch_int(key: str) -> int | None:
        value = metadata.get(f"{arch}.{key}")
        if isinstance(value, list):  # per-layer values (e.g. head_count_kv): the largest bounds memory
            ints = [v for v in (_int_or_none(x) for x in value) if v is not None]
            return max(ints) if ints else None
        return _int_or_none(value)

    layer_of: dict[int, int] = {}
    other = 0
    for t in tensors:
        m = _BLOCK_RE.match(t.name)
        if m:
            layer_of[int(m.group(1))] = layer_of.get(int(m.group(1)), 0) + t.n_bytes
        else:
            other += t.n_bytes
    n_layers = arch_int("block_count")
    if n_layers is None:
        n_layers = max(layer_of) + 1 if layer_of else 0
    if layer_of and max(layer_of) >= n_layers:
        raise ModelFileError(
            f"{path.name}: corrupt GGUF: tensor blk.{max(layer_of)} but {arch}.block_count is {n_layers}")
    layer_bytes = [layer_of.get(i, 0) for i in range(n_layers)]

    file_type = metadata.get("general.file_type")
    if isinstance(file_type, int) and file_type in FILE_TYPES:
        quantization = FILE_TYPES[file_type]
    else:  # guess: the most common type among the 2-D weight tensors
        counts = Counter(t.type_name for t in tensors if len(t.dims) >= 2)
        quantization = f"{counts.most_common(1)[0][0]} (guessed)" if counts else "unknown"

    template = metadata.get("tokenizer.chat_template")
    name = metadata.get("general.name")
    return GGUFInfo(
        path=path, version=version, size_bytes=file_size, alignment=alignment, data_offset=data_offset,
        architecture=arch, name=name if isinstance(name, str) else None, n_layers=n_layers,
        context_length=arch_int("context_length"), embedding_length=arch_int("embedding_length"),
        head_count=arch_int("attention.head_count"), head_count_kv=arch_int("attention.head_count_kv"),
        key_length=arch_int("attention.key_length"), value_length=arch_int("attention.value_length"),
        parameter_count=sum(t.n_elements for t in tensors), quantization=quantization,
        chat_template=template if isinstance(template, str) else None,
        layer_bytes=layer_bytes, other_bytes=other, tensors=tensors, metadata=metadata,
    )
