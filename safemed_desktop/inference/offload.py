"""GPU detection and offload planning: how many layers go to the GPU, and why.

``detect_gpu()`` asks the installed llama.cpp build (``llama_supports_gpu_offload``) and,
through ctypes, ggml's backend device registry for device names and free memory.
``plan_offload()`` is pure arithmetic on those numbers and the GGUF tensor sizes, so it is
unit-tested on made-up devices. llama.cpp offloads the LAST ``n_gpu_layers`` blocks; the
plan counts, for ``k`` offloaded layers: ``other_bytes`` (output / embedding / norm tensors
and compute scratch, reserved as soon as anything is offloaded) + the k layers' tensor bytes
+ k layers of KV cache for the context size + a safety margin.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass, field
from typing import Any, Literal

from .gguf_file import GGUFInfo

MiB = 1 << 20
GiB = 1 << 30
DEFAULT_MARGIN_BYTES = 512 * MiB
MARGIN_FRACTION = 0.10  # margin is max(512 MiB, 10% of the device's free memory)
NO_GPU_BACKEND = "this llama.cpp build has no GPU backend"

# enum ggml_backend_dev_type (ggml-backend.h)
_DEV_TYPES = {0: "cpu", 1: "gpu", 2: "igpu", 3: "accel", 4: "meta"}


@dataclass(frozen=True)
class DeviceInfo:
    name: str
    total_bytes: int
    free_bytes: int
    description: str = ""
    kind: str = "gpu"  # gpu | igpu (shares host memory)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "kind": self.kind,
                "total_bytes": self.total_bytes, "free_bytes": self.free_bytes}


@dataclass(frozen=True)
class GpuSupport:
    supports_offload: bool
    devices: list[DeviceInfo] = field(default_factory=list)
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"supports_offload": self.supports_offload, "devices": [d.to_dict() for d in self.devices],
                "note": self.note}


@dataclass(frozen=True)
class OffloadPlan:
    n_gpu_layers: int
    n_layers: int
    device: DeviceInfo | None
    reason: str  # human-readable, shown by `safemed doctor` and the GUI's model panel
    needed_bytes: int = 0  # estimated GPU memory for the chosen layers (0 when none)

    def to_dict(self) -> dict[str, Any]:
        return {"n_gpu_layers": self.n_gpu_layers, "n_layers": self.n_layers,
                "device": self.device.to_dict() if self.device else None, "reason": self.reason,
                "needed_bytes": self.needed_bytes}


def fmt_bytes(n: int) -> str:
    """1536 MiB -> '1.5 GiB' (binary units, one decimal)."""
    for unit, size in (("GiB", GiB), ("MiB", MiB), ("KiB", 1024)):
        if abs(n) >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} B"


# --- detection ---------------------------------------------------------------------------

def llama_build_info() -> dict[str, Any]:
    """The llama-cpp-python version, whether the build can offload to a GPU, and llama.cpp's system info."""
    try:
        import llama_cpp

        return {"python_package": llama_cpp.__version__,
                "gpu_offload": bool(llama_cpp.llama_supports_gpu_offload()),
                "system_info": llama_cpp.llama_print_system_info().decode("utf-8", "replace").strip()}
    except Exception as exc:  # noqa: BLE001 - reported in the doctor output, never hidden
        return {"python_package": None, "gpu_offload": False, "system_info": "", "error": str(exc)}


def list_backend_devices() -> list[tuple[str, str, str, int, int]]:
    """Every device ggml's backend registry knows (CPU included) as
    ``(name, description, kind, free_bytes, total_bytes)``. Raises OSError/AttributeError when
    the build's libggml does not export the device API."""
    from llama_cpp import _ggml  # loads libggml from the llama_cpp package

    lib = _ggml.libggml
    lib.ggml_backend_dev_count.restype = ctypes.c_size_t
    lib.ggml_backend_dev_count.argtypes = []
    lib.ggml_backend_dev_get.restype = ctypes.c_void_p
    lib.ggml_backend_dev_get.argtypes = [ctypes.c_size_t]
    for fn in (lib.ggml_backend_dev_name, lib.ggml_backend_dev_description):
        fn.restype = ctypes.c_char_p
        fn.argtypes = [ctypes.c_void_p]
    lib.ggml_backend_dev_type.restype = ctypes.c_int
    lib.ggml_backend_dev_type.argtypes = [ctypes.c_void_p]
    lib.ggml_backend_dev_memory.restype = None
    lib.ggml_backend_dev_memory.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_size_t),
                                            ctypes.POINTER(ctypes.c_size_t)]
    out = []
    for i in range(lib.ggml_backend_dev_count()):
        dev = lib.ggml_backend_dev_get(i)
        if not dev:
            continue
        free, total = ctypes.c_size_t(0), ctypes.c_size_t(0)
        lib.ggml_backend_dev_memory(dev, ctypes.byref(free), ctypes.byref(total))
        name = (lib.ggml_backend_dev_name(dev) or b"?").decode("utf-8", "replace")
        desc = (lib.ggml_backend_dev_description(dev) or b"").decode("utf-8", "replace")
        kind = _DEV_TYPES.get(lib.ggml_backend_dev_type(dev), "unknown")
        out.append((name, desc, kind, int(free.value), int(total.value)))
    return out


def detect_gpu() -> GpuSupport:
    """What the installed llama.cpp build can offload to. Never raises."""
    try:
        import llama_cpp

        supports = bool(llama_cpp.llama_supports_gpu_offload())
    except Exception as exc:  # noqa: BLE001 - a broken llama_cpp install is reported, not fatal here
        return GpuSupport(False, [], f"llama.cpp not usable: {exc}")
    if not supports:
        return GpuSupport(False, [], NO_GPU_BACKEND)
    try:
        devices = [DeviceInfo(name, total, free, desc, kind)
                   for name, desc, kind, free, total in list_backend_devices() if kind in ("gpu", "igpu")]
    except (OSError, AttributeError) as exc:
        return GpuSupport(True, [], f"GPU offload supported, but device memory cannot be queried ({exc})")
    if not devices:
        return GpuSupport(True, [], "GPU offload supported, but no GPU device was found")
    return GpuSupport(True, devices, f"{len(devices)} GPU device(s)")


# --- planning ----------------------------------------------------------------------------

def kv_cache_bytes_per_layer(info: GGUFInfo, n_ctx: int, bytes_per_element: int = 2) -> int:
    """f16 K and V cache for one layer: n_ctx * n_head_kv * (key_len + value_len) * 2 bytes."""
    n_head = info.head_count or 0
    n_head_kv = info.head_count_kv or n_head
    head_dim = (info.embedding_length // n_head) if info.embedding_length and n_head else 0
    k_len = info.key_length or head_dim
    v_len = info.value_length or head_dim
    return n_ctx * n_head_kv * (k_len + v_len) * bytes_per_element


def _need(k: int, layer_bytes: list[int], other_bytes: int, kv_bytes_per_layer: int) -> int:
    """GPU bytes for offloading the last k layers (without margin)."""
    if k <= 0:
        return 0
    return other_bytes + sum(layer_bytes[len(layer_bytes) - k:]) + k * kv_bytes_per_layer


def plan_offload(*, requested: Literal["auto"] | int, n_layers: int, layer_bytes: list[int],
                 other_bytes: int, kv_bytes_per_layer: int, supports_offload: bool,
                 devices: list[DeviceInfo], margin_bytes: int | None = None) -> OffloadPlan:
    """Choose ``n_gpu_layers``. PURE: no I/O; every number comes in as an argument.

    ``requested``: "auto" (largest count that fits the device with the most free memory) or an
    explicit count (clamped to ``n_layers``; honoured even if the estimate says it will not fit,
    with a warning in ``reason``). ``margin_bytes`` None means max(512 MiB, 10% of free memory).
    """
    if len(layer_bytes) != n_layers:
        raise ValueError(f"layer_bytes has {len(layer_bytes)} entries for {n_layers} layers")
    if requested != "auto" and (isinstance(requested, bool) or not isinstance(requested, int) or requested < 0):
        raise ValueError(f"requested must be 'auto' or an int >= 0, got {requested!r}")
    device = max(devices, key=lambda d: d.free_bytes) if devices else None

    if requested == 0:
        return OffloadPlan(0, n_layers, None, "gpu_layers = 0: CPU only, as configured")
    if not supports_offload:
        why = NO_GPU_BACKEND
        if requested != "auto":
            why += f" (gpu_layers = {requested} ignored)"
        return OffloadPlan(0, n_layers, None, f"{why}: running on CPU")

    margin = margin_bytes
    if margin is None:
        margin = max(DEFAULT_MARGIN_BYTES, int(MARGIN_FRACTION * device.free_bytes)) if device else DEFAULT_MARGIN_BYTES

    if requested != "auto":
        k = min(requested, n_layers)
        why = (f"gpu_layers = {requested} but the model has {n_layers} layers: offloading all {n_layers}"
               if requested > n_layers else f"gpu_layers = {k} as configured")
        need = _need(k, layer_bytes, other_bytes, kv_bytes_per_layer)
        if device is None:
            why += "; GPU free memory unknown, fit not checked"
        elif need + margin > device.free_bytes:
            why += (f"; warning: needs about {fmt_bytes(need)} + {fmt_bytes(margin)} margin but "
                    f"{device.name} has {fmt_bytes(device.free_bytes)} free, loading may fail")
        return OffloadPlan(k, n_layers, device, why, need)

    if device is None:
        return OffloadPlan(0, n_layers, None,
                           "GPU offload is supported but no GPU with known free memory was found: running on CPU "
                           "(set gpu_layers to a number to force offload)")
    budget = device.free_bytes - margin
    best = 0
    for k in range(n_layers, 0, -1):
        if _need(k, layer_bytes, other_bytes, kv_bytes_per_layer) <= budget:
            best = k
            break
    need = _need(best, layer_bytes, other_bytes, kv_bytes_per_layer)
    free = f"{device.name} has {fmt_bytes(device.free_bytes)} free, keeping {fmt_bytes(margin)} margin"
    if best == n_layers:
        why = f"auto: all {n_layers} layers fit ({fmt_bytes(need)} incl. KV cache); {free}"
    elif best > 0:
        why = (f"auto: {best} of {n_layers} layers fit ({fmt_bytes(need)} incl. KV cache); {free}; "
               f"the other {n_layers - best} run on CPU")
    else:
        one = _need(1, layer_bytes, other_bytes, kv_bytes_per_layer) if n_layers else other_bytes
        why = f"auto: not even one layer fits (needs {fmt_bytes(one)}); {free}: running on CPU"
    return OffloadPlan(best, n_layers, device, why, need)


def plan_for_model(info: GGUFInfo, *, requested: Literal["auto"] | int, n_ctx: int,
                   gpu: GpuSupport | None = None, margin_bytes: int | None = None) -> OffloadPlan:
    """Convenience: detect (unless given) and plan for a parsed model and context size."""
    gpu = detect_gpu() if gpu is None else gpu
    return plan_offload(requested=requested, n_layers=info.n_layers, layer_bytes=info.layer_bytes,
                        other_bytes=info.other_bytes, kv_bytes_per_layer=kv_cache_bytes_per_layer(info, n_ctx),
                        supports_offload=gpu.supports_offload, devices=gpu.devices, margin_bytes=margin_bytes)
