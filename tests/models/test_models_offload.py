"""Offload planning on made-up devices (pure), KV cache sizing, and detection on this build."""

from __future__ import annotations

import pytest

from safemed_desktop.inference.gguf_file import read_gguf
from safemed_desktop.inference.offload import (GiB, MiB, NO_GPU_BACKEND, DeviceInfo, detect_gpu,
                                               kv_cache_bytes_per_layer, list_backend_devices, plan_for_model,
                                               plan_offload)

N = 10
LAYER = 100 * MiB
OTHER = 300 * MiB
KV = 20 * MiB
MARGIN = 512 * MiB


def plan(requested="auto", free=None, supports=True, margin=MARGIN, layers=None):
    devices = [] if free is None else [DeviceInfo("Test GPU", 2 * free, free)]
    lb = layers if layers is not None else [LAYER] * N
    return plan_offload(requested=requested, n_layers=len(lb), layer_bytes=lb, other_bytes=OTHER,
                        kv_bytes_per_layer=KV, supports_offload=supports, devices=devices, margin_bytes=margin)


def test_everything_fits():
    p = plan(free=8 * GiB)
    assert p.n_gpu_layers == N and p.n_layers == N
    assert p.needed_bytes == OTHER + N * (LAYER + KV)
    assert p.device.name == "Test GPU"
    assert "all 10 layers fit" in p.reason


def test_some_layers_fit_exactly_at_the_boundary():
    # room for other + 4 layers (+ their KV) + margin, one byte short of 5
    free = OTHER + 4 * (LAYER + KV) + MARGIN
    p = plan(free=free)
    assert p.n_gpu_layers == 4
    assert "4 of 10 layers fit" in p.reason and "other 6 run on CPU" in p.reason
    assert plan(free=free - 1).n_gpu_layers == 3
    assert plan(free=OTHER + 5 * (LAYER + KV) + MARGIN).n_gpu_layers == 5


def test_uneven_layers_counted_from_the_end():
    # llama.cpp offloads the LAST layers: a big last layer limits what fits
    layers = [LAYER] * 9 + [3 * LAYER]
    free = OTHER + 3 * LAYER + 2 * LAYER + 3 * KV + MARGIN  # last three layers
    assert plan(free=free, layers=layers).n_gpu_layers == 3


def test_nothing_fits():
    p = plan(free=OTHER + MARGIN)  # no room for even one layer
    assert p.n_gpu_layers == 0
    assert "not even one layer fits" in p.reason and "running on CPU" in p.reason


def test_default_margin_is_512_mib_or_ten_percent():
    free = OTHER + N * (LAYER + KV) + 512 * MiB
    assert plan(free=free, margin=None).n_gpu_layers == N
    assert plan(free=free - 1, margin=None).n_gpu_layers == N - 1
    # on a large device 10% of free memory is the margin
    big = 40 * GiB
    heavy = [int(3.7 * GiB)] * N  # 37 GiB of layers + 0.3 + 0.2 > 36 GiB budget
    p = plan_offload(requested="auto", n_layers=N, layer_bytes=heavy, other_bytes=OTHER, kv_bytes_per_layer=KV,
                     supports_offload=True, devices=[DeviceInfo("Big", big, big)])
    assert p.n_gpu_layers == 9


def test_largest_free_device_is_used():
    devices = [DeviceInfo("small", 4 * GiB, 1 * GiB), DeviceInfo("large", 24 * GiB, 20 * GiB)]
    p = plan_offload(requested="auto", n_layers=N, layer_bytes=[LAYER] * N, other_bytes=OTHER,
                     kv_bytes_per_layer=KV, supports_offload=True, devices=devices, margin_bytes=MARGIN)
    assert p.device.name == "large" and p.n_gpu_layers == N


def test_explicit_number_is_clamped_and_said():
    p = plan(requested=99, free=8 * GiB)
    assert p.n_gpu_layers == N
    assert "gpu_layers = 99 but the model has 10 layers" in p.reason
    p = plan(requested=3, free=8 * GiB)
    assert p.n_gpu_layers == 3 and "as configured" in p.reason and "warning" not in p.reason


def test_explicit_number_too_big_for_memory_is_honoured_with_warning():
    p = plan(requested=N, free=1 * GiB)
    assert p.n_gpu_layers == N
    assert "warning" in p.reason and "loading may fail" in p.reason


def test_zero_means_cpu():
    p = plan(requested=0, free=8 * GiB)
    assert p.n_gpu_layers == 0 and "CPU only" in p.reason


def test_no_gpu_backend():
    p = plan(supports=False, free=8 * GiB)
    assert p.n_gpu_layers == 0 and NO_GPU_BACKEND in p.reason
    p = plan(requested=5, supports=False)
    assert p.n_gpu_layers == 0 and "gpu_layers = 5 ignored" in p.reason


def test_supported_but_no_device_memory_known():
    p = plan(free=None)
    assert p.n_gpu_layers == 0 and "no GPU with known free memory" in p.reason


def test_bad_arguments_rejected():
    with pytest.raises(ValueError):
        plan_offload(requested="auto", n_layers=3, layer_bytes=[1, 2], other_bytes=0, kv_bytes_per_layer=0,
                     supports_offload=True, devices=[])
    with pytest.raises(ValueError):
        plan(requested=-1)


def test_kv_cache_size_of_demo_model(demo_model_path):
    info = read_gguf(demo_model_path)
    # SmolLM2-135M: 3 KV heads x head_dim 64 (576 / 9), K and V, f16
    assert kv_cache_bytes_per_layer(info, 2048) == 2048 * 3 * 64 * 2 * 2
    assert kv_cache_bytes_per_layer(info, 4096) == 2 * kv_cache_bytes_per_layer(info, 2048)


def test_detection_on_this_build(demo_model_path):
    import llama_cpp

    gpu = detect_gpu()
    assert gpu.supports_offload == bool(llama_cpp.llama_supports_gpu_offload())
    if not gpu.supports_offload:
        assert gpu.devices == [] and gpu.note == NO_GPU_BACKEND
    # the device registry is reachable through ctypes: the CPU device is always listed, with real memory
    devices = list_backend_devices()
    cpu = [d for d in devices if d[2] == "cpu"]
    assert cpu and cpu[0][4] > 0
    p = plan_for_model(read_gguf(demo_model_path), requested="auto", n_ctx=2048, gpu=gpu)
    assert p.n_layers == 30 and p.reason
