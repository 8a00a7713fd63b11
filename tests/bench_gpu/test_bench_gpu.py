"""bench/gpu on CPU: trim rules, the synthetic GGUF writer, the result parsers, the report, the device call."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from bench.gpu import measure, synth_gguf, trim

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).parent / "data"
MiB = 1 << 20


# ---------------------------------------------------------------- trim rules
@pytest.mark.parametrize("path, kept", [
    ("CMakeLists.txt", True), ("pyproject.toml", True), ("README.md", True), ("llama_cpp/llama.py", True),
    ("llama_cpp/lib", True), ("docs/index.md", False), ("tests/test_llama.py", False), ("examples/x.py", False),
    ("vendor/llama.cpp/CMakeLists.txt", True), ("vendor/llama.cpp/src/llama-model.cpp", True),
    ("vendor/llama.cpp/ggml/src/ggml.c", True), ("vendor/llama.cpp/ggml/src/ggml-cuda/mmq.cu", True),
    ("vendor/llama.cpp/ggml/src/ggml-cuda/template-instances/fattn-mma-f16-instance-ncols1_1-ncols2_8.cu", True),
    ("vendor/llama.cpp/ggml/src/ggml-cpu/ggml-cpu.c", True), ("vendor/llama.cpp/ggml/src/ggml-vulkan/x.cpp", False),
    ("vendor/llama.cpp/ggml/src/ggml-metal", False), ("vendor/llama.cpp/ggml/src/ggml-backend.cpp", True),
    ("vendor/llama.cpp/models/ggml-vocab-llama-spm.gguf", False), ("vendor/llama.cpp/docs/build.md", False),
    ("vendor/llama.cpp/tests/test-backend-ops.cpp", False), ("vendor/llama.cpp/tools/llama-bench/llama-bench.cpp", True),
    ("vendor/llama.cpp/tools/quantize/quantize.cpp", True), ("vendor/llama.cpp/tools/server/server.cpp", False),
    ("vendor/llama.cpp/tools/mtmd/clip.cpp", False), ("vendor/llama.cpp/tools/CMakeLists.txt", True),
    ("vendor/llama.cpp/common/common.cpp", True), ("vendor/llama.cpp/vendor/nlohmann/json.hpp", True),
    ("vendor/llama.cpp/media/llama.png", False), ("vendor/llama.cpp/.github/workflows/x.yml", False),
])
def test_trim_keep(path, kept):
    assert trim.keep(path) is kept


def test_trim_rewrites_tools_cmake_to_the_kept_tools():
    text = trim.REWRITES["vendor/llama.cpp/tools/CMakeLists.txt"]
    assert re.findall(r"add_subdirectory\((\S+)\)", text) == sorted(trim.TOOLS_KEEP)


def test_copy_trimmed(tmp_path):
    src = tmp_path / "sdist"
    for rel in ("pyproject.toml", "docs/a.md", "vendor/llama.cpp/models/v.gguf", "vendor/llama.cpp/src/a.cpp",
                "vendor/llama.cpp/tools/server/s.cpp", "vendor/llama.cpp/tools/CMakeLists.txt"):
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text("x")
    dst = tmp_path / "out"
    trim.copy_trimmed(src, dst)
    files = sorted(p.relative_to(dst).as_posix() for p in dst.rglob("*") if p.is_file())
    assert files == ["pyproject.toml", "vendor/llama.cpp/src/a.cpp", "vendor/llama.cpp/tools/CMakeLists.txt"]
    assert "llama-bench" in (dst / "vendor/llama.cpp/tools/CMakeLists.txt").read_text()


# ---------------------------------------------------------------- synthetic GGUF
@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    d = tmp_path_factory.mktemp("synth")
    return {t: synth_gguf.write_gguf(d / f"tiny-{t}.gguf", synth_gguf.PRESETS["tiny"], t) for t in ("q4_0", "f16")}


def test_synthetic_gguf_passes_the_apps_reader(tiny_models):
    from safemed_desktop.inference.gguf_file import read_gguf

    shape = synth_gguf.PRESETS["tiny"]
    for t, m in tiny_models.items():
        info = read_gguf(m["path"])
        assert info.architecture == "llama" and info.n_layers == shape.n_layer
        assert info.quantization == t.upper() and info.parameter_count == shape.n_params()
        assert info.head_count_kv == shape.n_head_kv and len(info.layer_bytes) == shape.n_layer
        assert info.tensor_bytes == m["tensor_bytes"]


def test_synthetic_gguf_runs_in_the_apps_engine(tiny_models):
    from safemed_desktop.inference.engine import Engine, EngineSettings

    for m in tiny_models.values():
        with Engine(EngineSettings(model_path=Path(m["path"]), n_ctx=256, n_threads=1)) as engine:
            events = list(engine.stream_chat([{"role": "user", "content": "w1 w2 dose?"}], max_tokens=12,
                                             temperature=0.0))
        done = events[-1]
        # control rows of the output matrix are zero: greedy decoding never stops early
        assert done.finish_reason == "length" and done.timings.completion_tokens == 12
        assert all(lp <= 0.0 for lp in done.token_logprobs)


def test_presets_are_valid_and_realistic():
    for shape in synth_gguf.PRESETS.values():
        shape.check()
    assert 1.0e9 < synth_gguf.PRESETS["1.5b"].n_params() < 3.0e9
    tokens, scores, types = synth_gguf.vocab(600)
    assert len(tokens) == len(set(tokens)) == len(scores) == len(types) == 600
    assert "<0x0A>" in tokens and tokens[synth_gguf.EOS_ID] == "</s>"


# ---------------------------------------------------------------- parsers and arithmetic
def test_parse_llama_bench_json():
    rows = measure.parse_llama_bench_json("ggml_cuda_init: found 1 CUDA devices\n" + (DATA / "llama_bench_sample.json").read_text())
    assert [r["kind"] for r in rows] == ["pp", "tg"]
    assert rows[0]["n_prompt"] == 512 and rows[0]["tps"] == pytest.approx(24112.5)
    assert measure.bench_tps(rows, "tg", "off") == pytest.approx(425.25)
    assert measure.bench_tps(rows, "tg", "on") is None
    with pytest.raises(ValueError):
        measure.parse_llama_bench_json("error: failed to load model")


def test_rates_and_ratios():
    r = measure.rates_from_times(10.0, [10.5, 10.6, 10.7, 10.8, 10.9], n_prompt=500)
    assert r["ttft_s"] == pytest.approx(0.5) and r["prompt_tps"] == pytest.approx(1000.0)
    assert r["decode_tps"] == pytest.approx(10.0) and r["n_gen"] == 5
    assert measure.rates_from_times(0.0, [], 10)["decode_tps"] == 0.0
    assert measure.ratio(97.0, 100.0) == pytest.approx(0.97) and measure.ratio(1.0, None) is None
    assert measure.error_pct(110, 100) == pytest.approx(10.0) and measure.error_pct(5, 0) is None
    assert measure.median_of([{"x": 3.0}, {"x": 1.0}, {"x": 2.0}], "x") == 2.0


def test_llama_cpp_placement_counts_the_output_layer():
    # n_gpu_layers == n_layer leaves the FIRST repeating layer on the CPU (the output layer takes a slot)
    assert measure.llama_cpp_placement(24, 24) == {"output_on_gpu": True, "repeating_on_gpu": 23,
                                                   "first_gpu_layer": 1}
    assert measure.llama_cpp_placement(25, 24)["repeating_on_gpu"] == 24
    assert measure.llama_cpp_placement(-1, 24)["repeating_on_gpu"] == 24
    assert measure.llama_cpp_placement(1, 24) == {"output_on_gpu": True, "repeating_on_gpu": 0,
                                                  "first_gpu_layer": 24}
    assert measure.llama_cpp_placement(0, 24)["output_on_gpu"] is False
    b = measure.predicted_gpu_bytes(n_gpu_layers=3, layer_bytes=[10, 20, 30, 40], output_bytes=5, kv_per_layer=1)
    assert b == 5 + 30 + 40 + 2
    assert measure.kv_bytes_per_layer(2000, 4, 128, 128) == 2048 * 4 * 256 * 2


def test_capped_budget_makes_the_planner_choose_about_half():
    from safemed_desktop.inference.offload import DEFAULT_MARGIN_BYTES, DeviceInfo, plan_offload

    n, layer, other, kv = 24, 40 * MiB, 200 * MiB, 8 * MiB
    for scale in (1, 40):  # margin = 512 MiB floor, and margin = 10 % of the free memory
        lb = [layer * scale] * n
        need_half = other + sum(lb[-12:]) + 12 * kv
        cap = measure.capped_budget(need_half, DEFAULT_MARGIN_BYTES)
        plan = plan_offload(requested="auto", n_layers=n, layer_bytes=lb, other_bytes=other, kv_bytes_per_layer=kv,
                            supports_offload=True, devices=[DeviceInfo("CUDA0", 10 * cap, cap)])
        assert plan.n_gpu_layers == 12


class _T:
    def __init__(self, name, n_bytes):
        self.name, self.n_bytes = name, n_bytes


def test_output_tensor_bytes_tied_and_untied():
    untied = [_T("token_embd.weight", 100), _T("output.weight", 90), _T("output_norm.weight", 1)]
    assert measure.output_tensor_bytes(untied) == (91, 100)
    assert measure.output_tensor_bytes([_T("token_embd.weight", 100), _T("output_norm.weight", 1)]) == (101, 100)


def _sample_results():
    return {
        "started": "2026-12-02T06:40:00Z",
        "env": {"gpu": "NVIDIA H200", "driver": "580.159.04", "cpu_count": 16,
                "llama_cpp": {"python_package": "0.3.36", "gpu_offload": True}},
        "models": {"q4_0": {"n_params": 1214425088, "file_bytes": 700 * MiB, "shape": {"n_layer": 24}}},
        "throughput": {"q4_0": {"n_prompt": 512, "engine": {"prompt_tps": 20000.0, "decode_tps": 400.0},
                                "raw": {"prompt_tps": 20500.0, "decode_tps": 405.0}, "bench_pp": 24000.0,
                                "bench_tg": 425.0, "engine_auto": {"decode_tps": 300.0},
                                "engine_vs_raw_decode": 400 / 405, "engine_vs_bench_decode": 400 / 425},
                       "f16": {"error": "RuntimeError: boom"}},
        "planner": [{"model": "q4_0", "n_ctx": 2048, "free_given": 140000 * MiB, "n_gpu_layers": 24,
                     "planned_bytes": 900 * MiB, "rule_bytes": 800 * MiB, "used_after_load": 850 * MiB,
                     "used_after_prompt": 870 * MiB, "planner_error_pct": 3.4, "loaded": True, "hog_ok": None,
                     "over_budget": False},
                    {"model": "q4_0", "n_ctx": 2048, "free_given": 1200 * MiB, "capped": True, "n_gpu_layers": 12,
                     "planned_bytes": 500 * MiB, "used_after_prompt": 600 * MiB, "planner_error_pct": -16.7,
                     "loaded": True, "hog_ok": True, "over_budget": False}],
        "partial": {"n_gpu_layers": 12, "prompt_tps": 5000.0, "decode_tps": 80.0, "used_after_prompt": 500 * MiB},
        "fallback": {"simulated GPU load failure": {"n_gpu_layers": 0, "placement": "CPU",
                                                    "reason": "loading 25 layers on the GPU failed (x); fell back to CPU"}},
        "doctor": {"rc": 0, "gpu_offload": True, "devices": ["NVIDIA H200"], "offload_reason": "auto: all 24 layers fit"},
        "errors": ["cpu: skipped"],
    }


def test_evaluate_goals():
    goals = {g["metric"]: g for g in measure.evaluate_goals(_sample_results())}
    assert goals["q4_0: app decode / raw llama-cpp-python"]["pass"] is True
    assert goals["q4_0: app decode / llama-bench tg"]["pass"] is True
    worst = goals["planner estimate vs measured GPU memory, worst |error| %"]
    assert worst["value"] == pytest.approx(16.7) and worst["pass"] is False
    assert goals["planned configurations that ran out of memory (or over budget)"]["pass"] is True
    assert not any(k.startswith("f16") for k in goals)  # a failed section has no goal rows
    assert measure.evaluate_goals({}) == []


def test_render_markdown_and_write(tmp_path):
    md = measure.render_markdown(_sample_results())
    for needle in ("NVIDIA H200", "| q4_0 | 512 | 20000.00 |", "error: RuntimeError: boom", "fell back to CPU",
                   "## Goals", "| planner estimate vs measured GPU memory, worst |error| % | 16.70 |", "cpu: skipped"):
        assert needle in md
    table = [ln for ln in md.splitlines() if ln.startswith("| q4_0 | 2048 |")]
    assert len(table) == 2 and all(ln.count("|") == table[0].count("|") for ln in table)
    measure.write_results(tmp_path, _sample_results())
    assert json.loads((tmp_path / measure.RESULTS_JSON).read_text())["env"]["gpu"] == "NVIDIA H200"
    assert (tmp_path / measure.RESULTS_MD).read_text() == md


def test_parse_doctor():
    rep = {"llama_cpp": {"gpu_offload": True}, "gpu": {"note": "1 GPU device(s)",
           "devices": [{"name": "CUDA0", "description": "NVIDIA H200"}]},
           "offload": {"n_gpu_layers": 24, "reason": "auto: all 24 layers fit"}, "healthy": True}
    d = measure.parse_doctor(0, json.dumps(rep))
    assert d["gpu_offload"] is True and d["devices"] == ["NVIDIA H200"] and d["offload_layers"] == 24
    assert "error" in measure.parse_doctor(1, "", "Traceback: boom")


def test_throughput_section_on_cpu(tiny_models):
    t = measure.measure_throughput(tiny_models["q4_0"]["path"], 2, 2, None, n_prompt=160, n_gen=8, reps=1, threads=1)
    assert 152 <= t["n_prompt"] <= 168  # one token per "w<N>" word
    assert t["engine"]["decode_tps"] > 0 and t["raw"]["decode_tps"] > 0 and t["engine_vs_raw_decode"] > 0
    assert "engine_auto" in t and t["engine_vs_bench_decode"] is None


# ---------------------------------------------------------------- scripts and the device call
def test_scripts_parse():
    for script in ("prepare.sh", "run.sh"):
        subprocess.run(["bash", "-n", str(ROOT / "bench/gpu" / script)], check=True)


def test_documented_device_call_fits_the_tool():
    readme = (ROOT / "bench/gpu/README.md").read_text()
    block = readme.split("<!-- device-call -->", 1)[1]
    command = re.search(r"command: `([^`]+)`", block).group(1)
    carry = json.loads(re.search(r"carry: `([^`]+)`", block).group(1))
    timeout = int(re.search(r"timeout_s: `(\d+)`", block).group(1))
    assert len(command) <= 2000 and command.startswith("bash bench/gpu/run.sh")
    assert len(carry) <= 8 and all(len(c) <= 200 for c in carry) and set(carry) == {".whl", ".gpu-src"}
    assert 1 <= timeout <= 600
    prepare = (ROOT / "bench/gpu/prepare.sh").read_text()
    for c in carry:  # what travels is made by prepare.sh and ignored by git
        assert f"/{c}/" in prepare
    perf = (ROOT / "docs/performance.md").read_text()
    assert command in perf
