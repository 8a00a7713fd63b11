"""Read and check a GGUF model file's header, metadata and tensor table before llama.cpp sees it.

llama.cpp can crash (not raise) on a truncated or corrupt file, so SafeMed checks the file
first. The parsing is llama.cpp's own ``gguf`` package (``gguf.GGUFReader``, from llama.cpp's
``gguf-py``); this module is the thin layer SafeMed puts around it:

- the fixed header (magic, byte order, version, tensor and metadata counts) is checked with
  ``struct`` before GGUFReader runs, so a non-GGUF file, a big-endian or unsupported-version
  file and an implausible count get their own one-line message;
- GGUFReader maps the file read-only (numpy memmap, nothing is read until touched); every read
  it makes goes through ``_get``, which this layer bounds-checks: a field that runs past the end
  of the file is "truncated", never a numpy/struct exception or a silently short array;
- tensor types and sizes are checked against ``GGML_TYPES`` (verified against libggml by the
  tests: gguf-py's own table can lag the llama.cpp we ship), and every tensor's data range
  must lie inside the file;
- any other failure inside GGUFReader (duplicate key, unknown value type, bad alignment,
  invalid UTF-8) becomes a ModelFileError naming the file.

Only the header and tensor table are touched, never the tensor data. The memory map is dropped
before ``read_gguf`` returns (no numpy array escapes), so the file is not held open (Windows
would otherwise keep it locked).

Layout (GGUF v2/v3, little-endian): ``"GGUF"`` u32 version, u64 tensor_count, u64 kv_count,
kv pairs, tensor infos (name, u32 n_dims, u64 dims[n_dims], u32 ggml_type, u64 offset),
padding to ``general.alignment`` (default 32), then the tensor data. Offsets are
relative to the start of the data section.
"""

from __future__ import annotations

import functools
import math
import re
import struct
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ModelFileError

if TYPE_CHECKING:  # gguf (and numpy) are imported on first use: CLI commands without a model start fast
    import numpy as np

GGUF_MAGIC = b"GGUF"
SUPPORTED_VERSIONS = (2, 3)
DEFAULT_ALIGNMENT = 32
MAX_DIMS = 4  # GGML_MAX_DIMS
MAX_LAYERS = 512  # LLAMA_MAX_LAYERS

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

# GGUF metadata value type ids (gguf.GGUFValueType) -> the names ArraySummary reports.
_VALUE_TYPE_NAMES: dict[int, str] = {
    0: "uint8", 1: "int8", 2: "uint16", 3: "int16", 4: "uint32", 5: "int32", 6: "float32", 7: "bool",
    8: "string", 9: "array", 10: "uint64", 11: "int64", 12: "float64",
}
_T_STRING, _T_ARRAY = 8, 9
_HEADER = struct.Struct("<4sIQQ")  # magic, version, tensor count, metadata count
# Arrays longer than this (tokenizer vocabularies: 150k strings) are summarised, not kept.
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


class _OutOfRange(Exception):
    """A read past the end of the file, raised inside GGUFReader and reported as truncation."""

    def __init__(self, what: str, end: int, size: int):
        super().__init__(what, end, size)
        self.what = what
        self.end = end
        self.size = size


@functools.cache
def _reader_class() -> type:
    """GGUFReader with bounds-checked reads; built on first use (imports gguf and numpy)."""
    import numpy as np
    from gguf import GGUFReader

    class CheckedGGUFReader(GGUFReader):
        """``gguf.GGUFReader`` over a read-only map of the file, with three changes:

        - ``_get`` (the reader's one primitive read) refuses to read past the end of the file;
          numpy slicing would silently return a short array instead;
        - ``data`` is a plain ndarray view of the memmap GGUFReader opens (same mapped bytes,
          no copy): slicing the memmap subclass runs its ``__array_finalize__`` on every one of
          the ~250k small reads a tokenizer vocabulary takes, which made parsing ~2x slower;
        - ``_build_tensors`` keeps the tensor table and builds no views of the tensor data (never
          read here; read_gguf checks types and ranges against GGML_TYPES instead).
        """

        def __init__(self, path: Path, n_kv: int):
            self._n_kv = n_kv
            self._size = 0
            self.tensor_fields: list[Any] = []
            super().__init__(path, "r")

        @property  # type: ignore[override]
        def data(self) -> np.ndarray:
            return self._view

        @data.setter
        def data(self, value: np.ndarray) -> None:
            self._view = value.view(np.ndarray)
            self._size = int(value.nbytes)

        @property
        def mapped_size(self) -> int:
            return self._size

        def _get(self, offset: int, dtype: Any, count: int = 1, override_order: Any = None) -> np.ndarray:
            end = int(offset) + np.dtype(dtype).itemsize * int(count)
            if offset < 0 or end > self._size:
                raise _OutOfRange(self._where(), end, self._size)
            return super()._get(offset, dtype, count, override_order)

        def _where(self) -> str:
            fields = list(getattr(self, "fields", {}))
            if len(fields) < 3:  # GGUF.version, GGUF.tensor_count, GGUF.kv_count come first
                return "the header"
            done = len(fields) - 3
            if done < self._n_kv:
                after = f" (after {fields[-1]!r})" if done else ""
                return f"metadata entry #{done}{after}"
            return "the tensor table"

        def _build_tensors(self, start_offs: int, fields: list[Any]) -> None:
            self.tensor_fields = list(fields)

    return CheckedGGUFReader


def _check_header(path: Path) -> tuple[int, int, int]:
    """Magic, byte order, version and counts, before GGUFReader maps the file: (version, n_tensors, n_kv)."""
    try:
        fh = open(path, "rb")
    except FileNotFoundError:
        raise ModelFileError(f"model file not found: {path}") from None
    except IsADirectoryError:
        raise ModelFileError(f"model path is a directory, not a file: {path}") from None
    except OSError as exc:
        raise ModelFileError(f"cannot read model file {path}: {exc.strerror}") from exc
    with fh:
        head = fh.read(_HEADER.size)
    if head[:4] != GGUF_MAGIC:
        raise ModelFileError(f"{path.name}: not a GGUF model file (starts with {head[:4]!r}, expected b'GGUF')")
    if len(head) >= 8:
        version = int.from_bytes(head[4:8], "little")
        if version not in SUPPORTED_VERSIONS:
            if int.from_bytes(head[4:8], "big") in SUPPORTED_VERSIONS:
                raise ModelFileError(
                    f"{path.name}: big-endian GGUF file: llama.cpp here reads little-endian files only")
            raise ModelFileError(f"{path.name}: unsupported GGUF version {version} (supported: 2, 3)")
    if len(head) < _HEADER.size:
        raise ModelFileError(f"{path.name}: truncated or corrupt GGUF: the header needs bytes up to "
                             f"{_HEADER.size} but the file has {len(head)} bytes")
    _, version, n_tensors, n_kv = _HEADER.unpack(head)
    for what, n in (("tensor count", n_tensors), ("metadata count", n_kv)):
        if n >= _MAX_COUNT:
            raise ModelFileError(f"{path.name}: corrupt GGUF: implausible {what} {n}")
    return version, n_tensors, n_kv


def _value(parts: list[Any], i: int, vtype: int, key: str) -> tuple[Any, int]:
    """Decode the metadata value whose GGUFReader parts start at ``parts[i]``: (value, next index).

    Walks the parts itself because ``ReaderField.contents()`` flattens nested arrays, and so
    that long arrays become an ArraySummary without building a Python list of them.
    """
    if vtype == _T_STRING:  # parts: u64 length, uint8 bytes
        try:
            return parts[i + 1].tobytes().decode("utf-8"), i + 2
        except UnicodeDecodeError:
            raise ModelFileError(f"metadata {key!r} is not valid UTF-8") from None
    if vtype != _T_ARRAY:  # a scalar: one 1-element array
        return parts[i].tolist()[0], i + 1
    etype, count = int(parts[i][0]), int(parts[i + 1][0])  # parts: u32 element type, u64 length, elements
    i += 2
    if etype not in _VALUE_TYPE_NAMES:
        raise ModelFileError(f"array {key!r} has unknown element type {etype}")
    if count <= MAX_KEPT_ARRAY:
        items = []
        for _ in range(count):
            item, i = _value(parts, i, etype, key)
            items.append(item)
        return items, i
    if etype == _T_STRING:
        i += 2 * count
    elif etype == _T_ARRAY:
        for _ in range(count):  # nested arrays take a varying number of parts: walk them
            _, i = _value(parts, i, etype, key)
    else:
        i += count
    return ArraySummary(_VALUE_TYPE_NAMES[etype], count), i


def _tensor_entry(field: Any) -> _TensorEntry:
    """(name, n_dims, dims, ggml type, offset) of one tensor-info ReaderField, as Python ints."""
    _name_len, _name, n_dims, dims, gtype, offset = field.parts
    return field.name, int(n_dims[0]), tuple(int(d) for d in dims.tolist()), int(gtype[0]), int(offset[0])


_TensorEntry = tuple[str, int, tuple[int, ...], int, int]  # name, n_dims, dims, ggml type, offset


def _parse(path: Path, n_kv: int) -> tuple[int, int, int, dict[str, Any], list[_TensorEntry]]:
    """Run GGUFReader: (file size, alignment, data offset, metadata, tensor entries), all plain Python.

    Every failure comes back as one ModelFileError raised here, after the reader (and with it
    the memory map) is gone: an exception chained to GGUFReader's would keep its frames, and
    so the mapped file, alive for as long as the error is shown.
    """
    failure = None
    reader = None
    try:
        reader = _reader_class()(path, n_kv)
        parsed = _extract(reader)
    except _OutOfRange as exc:
        failure = (f"truncated or corrupt GGUF: {exc.what} needs bytes up to {exc.end} "
                   f"but the file has {exc.size} bytes")
    except ModelFileError as exc:
        failure = f"corrupt GGUF: {exc.message}"
    except UnicodeDecodeError:
        failure = "corrupt GGUF: a metadata key or tensor name is not valid UTF-8"
    except RecursionError:  # GGUFReader walks nested arrays recursively (llama.cpp rejects them)
        failure = "corrupt GGUF: metadata arrays nested too deeply"
    except (ValueError, KeyError, IndexError, TypeError, OverflowError) as exc:
        reason = " ".join(str(exc.args[0] if exc.args else type(exc).__name__).split())
        failure = f"corrupt GGUF: {reason}"
    except OSError as exc:
        failure = f"cannot map the file: {exc.strerror or exc}"
    finally:
        reader = None  # the last reference to the memory map (this frame outlives a raise below)
    if failure is not None:
        raise ModelFileError(f"{path.name}: {failure}")
    return parsed


def _extract(reader: Any) -> tuple[int, int, int, dict[str, Any], list[_TensorEntry]]:
    """Copy what read_gguf needs out of the reader into plain Python (no array keeps the map alive)."""
    metadata: dict[str, Any] = {}
    for key, f in list(reader.fields.items())[3:]:  # after GGUF.version, .tensor_count, .kv_count
        metadata[key], _ = _value(f.parts, 3, int(f.parts[2][0]), key)  # parts: key len, key, type, value
    tensors = [_tensor_entry(f) for f in reader.tensor_fields]
    return reader.mapped_size, int(reader.alignment), int(reader.data_offset), metadata, tensors


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
    version, _n_tensors, n_kv = _check_header(path)
    file_size, alignment, data_offset, metadata, entries = _parse(path, n_kv)

    tensors: list[TensorInfo] = []
    seen: set[str] = set()
    for name, n_dims, dims, gtype, offset in entries:
        if name in seen:
            raise ModelFileError(f"{path.name}: corrupt GGUF: duplicate tensor {name!r}")
        seen.add(name)
        if not 1 <= n_dims <= MAX_DIMS:
            raise ModelFileError(f"{path.name}: corrupt GGUF: tensor {name!r} has {n_dims} dimensions")
        n_bytes = tensor_nbytes(name, dims, gtype, file=path.name)
        if offset % alignment:
            raise ModelFileError(
                f"{path.name}: corrupt GGUF: tensor {name!r} offset {offset} is not aligned to {alignment}")
        tensors.append(TensorInfo(name, dims, gtype, GGML_TYPES[gtype][0], offset, n_bytes))

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
    if not 0 <= n_layers <= MAX_LAYERS:  # a flipped bit here must not become a 4-billion-entry list
        raise ModelFileError(
            f"{path.name}: corrupt GGUF: implausible {arch}.block_count {n_layers} (llama.cpp allows {MAX_LAYERS})")
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
