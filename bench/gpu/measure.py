"""GPU offload measured on real hardware: the app's engine, the offload planner and the CPU fallback.

Run by ``bench/gpu/run.sh`` on the GPU machine after it has built llama-cpp-python with CUDA and
``llama-bench``; writes ``gpu_results.json`` and ``gpu_results.md`` to ``--out`` after every
section, so a run stopped by its time limit still returns what it measured.

Sections (each one's failure is recorded, never fatal):

- ``models``: synthetic llama GGUFs (``synth_gguf``) of a realistic shape, Q4_0 and F16;
- ``throughput``: decode and prompt tokens/s, all layers offloaded, for the app's ``Engine``
  (log-probabilities captured per token), raw llama-cpp-python (same prompt tokens, same
  sampler, no log-probabilities) and ``llama-bench`` (same prompt and generation lengths,
  flash attention off like llama-cpp-python's default; ``-fa on`` informational);
- ``planner``: for several context sizes and a simulated memory budget, the planner's layer
  count and estimate (``plan_offload`` called directly with the device's free memory capped)
  against the GPU memory a fresh process actually uses after loading and after a prompt;
  where possible the budget is made real by holding the rest of the GPU's memory with
  ``cudaMalloc`` first, so an over-optimistic plan runs out of memory for real;
- ``partial`` / ``cpu``: half the layers, and none, with their speed;
- ``fallback``: ``SafeMedService.load_model`` with an engine factory that fails every GPU load
  (the app's CPU fallback and the reason it reports), and once for real with the GPU full;
- ``doctor``: ``safemed doctor --json`` on the CUDA build.

The parsing, aggregation and rendering functions at the top are pure and tested on CPU
(``tests/bench_gpu``). ``python -m bench.gpu.measure --probe JSON`` is the per-configuration
subprocess (one load per process, so memory deltas are clean and an abort stays contained).
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterable

MiB = 1 << 20
KV_PAD = 256  # llama.cpp pads the KV cache size to a multiple of 256 cells
RESULTS_JSON = "gpu_results.json"
RESULTS_MD = "gpu_results.md"

# Goals of issue 17.
GOAL_DECODE_VS_RAW = 0.97
GOAL_DECODE_VS_BENCH = 0.90
GOAL_PLANNER_ERROR = 0.10


# ============================================================================ pure helpers

def parse_llama_bench_json(text: str) -> list[dict[str, Any]]:
    """llama-bench ``-o json`` output -> one row per test: kind ("pp"/"tg"), n_prompt, n_gen,
    n_gpu_layers, flash_attn, tokens/s (avg, stddev), model type and size, gpu_info, build."""
    start = text.find("[")
    if start < 0:
        raise ValueError("no JSON array in llama-bench output")
    data = json.loads(text[start:text.rfind("]") + 1])
    rows = []
    for t in data:
        n_prompt, n_gen = int(t.get("n_prompt", 0)), int(t.get("n_gen", 0))
        kind = "pp" if n_gen == 0 else "tg" if n_prompt == 0 else "pg"
        rows.append({"kind": kind, "n_prompt": n_prompt, "n_gen": n_gen,
                     "n_gpu_layers": t.get("n_gpu_layers"), "flash_attn": t.get("flash_attn"),
                     "tps": float(t["avg_ts"]), "tps_stddev": float(t.get("stddev_ts", 0.0)),
                     "model_type": t.get("model_type"), "model_size": t.get("model_size"),
                     "gpu_info": t.get("gpu_info"), "build_commit": t.get("build_commit"),
                     "n_batch": t.get("n_batch"), "n_ubatch": t.get("n_ubatch")})
    return rows


def bench_tps(rows: list[dict[str, Any]], kind: str, flash_attn: Any = None) -> float | None:
    """The tokens/s of the first ``kind`` row (optionally with that flash_attn value)."""
    for r in rows:
        if r["kind"] == kind and (flash_attn is None or _fa_on(r["flash_attn"]) == _fa_on(flash_attn)):
            return r["tps"]
    return None


def _fa_on(value: Any) -> bool:
    return str(value).strip().lower() in ("1", "true", "on", "enabled")


def rates_from_times(t_start: float, token_times: list[float], n_prompt: int) -> dict[str, float]:
    """Prompt and decode tokens/s from a request's start and each token's arrival time.

    Prompt: ``n_prompt`` tokens over the time to the first token (prompt processing plus one
    sample, as a user sees it). Decode: the tokens after the first over the time between
    the first and the last one.
    """
    if not token_times:
        return {"ttft_s": float("nan"), "prompt_tps": 0.0, "decode_tps": 0.0, "n_gen": 0}
    ttft = token_times[0] - t_start
    span = token_times[-1] - token_times[0]
    n = len(token_times)
    return {"ttft_s": ttft, "prompt_tps": n_prompt / ttft if ttft > 0 else 0.0,
            "decode_tps": (n - 1) / span if n > 1 and span > 0 else 0.0, "n_gen": n}


def median_of(runs: list[dict[str, float]], key: str) -> float:
    vals = [r[key] for r in runs if r.get(key)]
    return statistics.median(vals) if vals else 0.0


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a and b else None


def error_pct(estimate: float | None, measured: float | None) -> float | None:
    """(estimate - measured) / measured * 100; positive = the estimate is too high."""
    if estimate is None or not measured:
        return None
    return (estimate - measured) / measured * 100.0


def llama_cpp_placement(n_gpu_layers: int, n_layer: int) -> dict[str, Any]:
    """Which parts llama.cpp puts on the GPU for ``n_gpu_layers`` (src/llama-model.cpp,
    load_tensors): the n_layer repeating blocks and the output layer form n_layer + 1 slots,
    the LAST n_gpu_layers of them go to the GPU (the output layer is slot n_layer, so it goes
    first); the input embedding always stays on the CPU. -1 means all."""
    k = n_layer + 1 if n_gpu_layers < 0 else min(n_gpu_layers, n_layer + 1)
    start = n_layer + 1 - k
    return {"output_on_gpu": k > 0, "repeating_on_gpu": max(0, n_layer - start) if k > 0 else 0,
            "first_gpu_layer": start if k > 0 else None}


def kv_bytes_per_layer(n_ctx: int, n_head_kv: int, head_dim_k: int, head_dim_v: int, elt: int = 2) -> int:
    """f16 K+V for one layer, with the KV size padded like llama.cpp does."""
    cells = -(-n_ctx // KV_PAD) * KV_PAD
    return cells * n_head_kv * (head_dim_k + head_dim_v) * elt


def predicted_gpu_bytes(*, n_gpu_layers: int, layer_bytes: list[int], output_bytes: int, kv_per_layer: int,
                        compute_bytes: int = 0) -> int:
    """What llama.cpp allocates on the GPU for ``n_gpu_layers``, by its placement rule:
    output tensors + the last r repeating layers' weights + r layers of KV + compute buffer."""
    if n_gpu_layers == 0:
        return 0
    p = llama_cpp_placement(n_gpu_layers, len(layer_bytes))
    r = p["repeating_on_gpu"]
    return output_bytes + sum(layer_bytes[len(layer_bytes) - r:]) + r * kv_per_layer + compute_bytes


def output_tensor_bytes(tensors: Iterable[Any]) -> tuple[int, int]:
    """(bytes of the output layer on the GPU, bytes of the input embedding kept on the CPU).

    The output layer is ``output.weight`` + ``output_norm.weight``; a model without
    ``output.weight`` ties it to ``token_embd.weight``, which llama.cpp then duplicates there."""
    by_name = {t.name: t.n_bytes for t in tensors}
    emb = by_name.get("token_embd.weight", 0)
    out = by_name.get("output.weight", emb) + by_name.get("output_norm.weight", 0)
    return out, emb


def capped_budget(needed: int, min_margin: int, *, margin_fraction: float = 0.10, slack: int = 0) -> int:
    """The free memory F for which the planner's budget, F - max(min_margin, fraction * F), is
    ``needed + slack``: a device that size should get (about) the layers ``needed`` counts."""
    cap = needed + slack + min_margin
    if margin_fraction * cap > min_margin:
        cap = int((needed + slack) / (1.0 - margin_fraction)) + 1
    return cap


def evaluate_goals(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's goals as rows: metric, value, target, pass (None when not measured)."""
    rows: list[dict[str, Any]] = []
    for name, t in (results.get("throughput") or {}).items():
        if not isinstance(t, dict) or "error" in t:
            continue
        vr = t.get("engine_vs_raw_decode")
        vb = t.get("engine_vs_bench_decode")
        rows.append({"metric": f"{name}: app decode / raw llama-cpp-python", "value": vr,
                     "target": f">= {GOAL_DECODE_VS_RAW}", "pass": None if vr is None else vr >= GOAL_DECODE_VS_RAW})
        rows.append({"metric": f"{name}: app decode / llama-bench tg", "value": vb,
                     "target": f">= {GOAL_DECODE_VS_BENCH}",
                     "pass": None if vb is None else vb >= GOAL_DECODE_VS_BENCH})
    probes = [p for p in results.get("planner") or [] if isinstance(p, dict)]
    errs = [abs(p["planner_error_pct"]) for p in probes if p.get("planner_error_pct") is not None]
    if probes:
        worst = max(errs) if errs else None
        rows.append({"metric": "planner estimate vs measured GPU memory, worst |error| %", "value": worst,
                     "target": f"<= {GOAL_PLANNER_ERROR * 100:.0f} %",
                     "pass": None if worst is None else worst <= GOAL_PLANNER_ERROR * 100})
        ooms = [p for p in probes if not p.get("loaded") or p.get("over_budget")]
        rows.append({"metric": "planned configurations that ran out of memory (or over budget)",
                     "value": len(ooms), "target": "0", "pass": not ooms})
    return rows


def _fmt(v: Any, nd: int = 2) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.{nd}f}"
    return str(v)


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    out += ["| " + " | ".join(_fmt(c) for c in r) + " |" for r in rows]
    return out


def render_markdown(results: dict[str, Any]) -> str:
    """The Markdown report (also pasted into docs/performance.md)."""
    env = results.get("env") or {}
    lines = [f"# GPU offload measurement ({results.get('started', '?')})", "",
             f"Machine: {env.get('gpu', '?')}, driver {env.get('driver', '?')}, {env.get('cpu_count', '?')} CPU cores; "
             f"llama-cpp-python {env.get('llama_cpp', {}).get('python_package', '?')} "
             f"(GPU offload: {_fmt(env.get('llama_cpp', {}).get('gpu_offload'))}).", ""]
    models = results.get("models") or {}
    if models:
        lines += ["## Models (synthetic, random weights)", ""]
        lines += _table(["model", "parameters", "file MiB", "layers"],
                        [[k, f"{m.get('n_params', 0) / 1e6:,.0f} M", m.get("file_bytes", 0) // MiB,
                          (m.get("shape") or {}).get("n_layer")] for k, m in models.items() if isinstance(m, dict)])
        lines.append("")
    thr = results.get("throughput") or {}
    if thr:
        lines += ["## Throughput, all layers offloaded (tokens/s)", ""]
        rows = []
        for k, t in thr.items():
            if "error" in t:
                rows.append([k, "error: " + t["error"][:80], None, None, None, None, None, None, None])
                continue
            rows.append([k, t.get("n_prompt"), t.get("engine", {}).get("prompt_tps"), t.get("raw", {}).get("prompt_tps"),
                         t.get("bench_pp"), t.get("engine", {}).get("decode_tps"), t.get("raw", {}).get("decode_tps"),
                         t.get("bench_tg"), t.get("engine_auto", {}).get("decode_tps")])
        lines += _table(["model", "prompt tokens", "app pp", "raw pp", "llama-bench pp", "app tg", "raw tg",
                         "llama-bench tg", "app tg, planner's auto layers"], rows)
        lines.append("")
    probes = results.get("planner") or []
    if probes:
        lines += ["## Planner vs measured GPU memory", "",
                  "Measured = the drop in the device's free memory (cudaMemGetInfo through ggml) in a fresh "
                  "process, after load / after a prompt. Error = (estimate - measured after the prompt) / measured.", ""]
        lines += _table(["model", "context", "free memory given (MiB)", "layers", "planner estimate MiB",
                         "llama.cpp-rule estimate MiB", "measured after load MiB", "measured after prompt MiB",
                         "planner error %", "loaded", "budget real"],
                        [[p.get("model"), p.get("n_ctx"), _mib(p.get("free_given")), p.get("n_gpu_layers"),
                          _mib(p.get("planned_bytes")), _mib(p.get("rule_bytes")), _mib(p.get("used_after_load")),
                          _mib(p.get("used_after_prompt")), p.get("planner_error_pct"), p.get("loaded"),
                          p.get("hog_ok")] for p in probes])
        lines.append("")
    extra = [(k, results.get(k)) for k in ("full", "partial", "cpu") if results.get(k)]
    if extra:
        lines += ["## Partial offload and CPU", ""]
        lines += _table(["run", "layers", "prompt tps", "decode tps", "GPU MiB after prompt"],
                        [[k, v.get("n_gpu_layers"), v.get("prompt_tps"), v.get("decode_tps"),
                          _mib(v.get("used_after_prompt"))] for k, v in extra])
        lines.append("")
    fb = results.get("fallback")
    if fb:
        lines += ["## CPU fallback", ""]
        for k, v in fb.items():
            lines.append(f"- {k}: layers {_fmt(v.get('n_gpu_layers'))}, placement {_fmt(v.get('placement'))}; "
                         f"reason: {v.get('reason') or v.get('error')}")
        lines.append("")
    doc = results.get("doctor")
    if doc:
        lines += ["## safemed doctor --json", "",
                  f"exit {doc.get('rc')}; GPU offload: {_fmt(doc.get('gpu_offload'))}; devices: {doc.get('devices')}; "
                  f"plan: {doc.get('offload_reason')}", ""]
    goals = evaluate_goals(results)
    if goals:
        lines += ["## Goals", ""]
        lines += _table(["metric", "value", "target", "pass"],
                        [[g["metric"], g["value"], g["target"], g["pass"]] for g in goals])
        lines.append("")
    errors = results.get("errors") or []
    if errors:
        lines += ["## Errors", ""] + [f"- {e}" for e in errors] + [""]
    return "\n".join(lines)


def _mib(v: Any) -> Any:
    return None if v is None else round(v / MiB, 1)


def write_results(out: Path, results: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / RESULTS_JSON).write_text(json.dumps(results, indent=2, default=str))
    (out / RESULTS_MD).write_text(render_markdown(results))


# ============================================================================ device side

def cuda_free_total() -> tuple[int, int] | None:
    """(free, total) of the first GPU through ggml's device registry (None without a GPU)."""
    from safemed_desktop.inference.offload import list_backend_devices

    for _name, _desc, kind, free, total in list_backend_devices():
        if kind in ("gpu", "igpu"):
            return free, total
    return None


def nvidia_smi() -> dict[str, Any]:
    try:
        q = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total,memory.used",
                            "--format=csv,noheader,nounits"], capture_output=True, text=True, timeout=30)
        name, driver, total, used = [s.strip() for s in q.stdout.strip().splitlines()[0].split(",")]
        return {"gpu": name, "driver": driver, "memory_total_mib": int(total), "memory_used_mib": int(used)}
    except Exception as exc:  # noqa: BLE001
        return {"gpu": None, "error": str(exc)}


def smi_process_mib(pid: int) -> int | None:
    try:
        q = subprocess.run(["nvidia-smi", "--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits"],
                           capture_output=True, text=True, timeout=30)
        for line in q.stdout.splitlines():
            p, m = [s.strip() for s in line.split(",")]
            if int(p) == pid:
                return int(m)
    except Exception:  # noqa: BLE001
        pass
    return None


class _Hog:
    """Holds GPU memory with cudaMalloc so that only ``leave`` bytes stay free."""

    def __init__(self) -> None:
        self.ptr = ctypes.c_void_p()
        self.lib = None
        for name in ("libcudart.so", "libcudart.so.13", "libcudart.so.12"):
            try:
                self.lib = ctypes.CDLL(name)
                break
            except OSError:
                continue

    def hold(self, nbytes: int) -> bool:
        if self.lib is None or nbytes <= 0:
            return nbytes <= 0
        return self.lib.cudaMalloc(ctypes.byref(self.ptr), ctypes.c_size_t(nbytes)) == 0


def probe(spec: dict[str, Any]) -> dict[str, Any]:
    """One configuration in this (fresh) process: optionally fill the GPU down to ``leave_free``,
    load with ``n_gpu_layers`` and ``n_ctx``, evaluate a prompt, generate a few tokens; memory
    and speed. ``mode`` "service" loads through SafeMedService instead (real fallback path)."""
    import llama_cpp  # noqa: F401  (loads the backends)

    res: dict[str, Any] = {"spec": spec}
    ft = cuda_free_total()
    res["free_at_start"] = ft[0] if ft else None
    leave = spec.get("leave_free")
    if leave is not None and ft:
        res["hog_ok"] = _Hog().hold(ft[0] - leave)
    ft = cuda_free_total()
    free0 = ft[0] if ft else None
    res["free_before_load"] = free0
    if spec.get("mode") == "service":
        return {**res, **_service_load(spec)}
    t0 = time.perf_counter()
    try:
        llm = llama_cpp.Llama(model_path=spec["model"], n_ctx=spec["n_ctx"], n_gpu_layers=spec["n_gpu_layers"],
                              n_threads=spec.get("threads") or os.cpu_count(), logits_all=False, verbose=False)
    except Exception as exc:  # noqa: BLE001
        res.update(loaded=False, error=str(exc))
        return res
    res["load_s"] = time.perf_counter() - t0
    res["loaded"] = True
    ft = cuda_free_total()
    res["used_after_load"] = free0 - ft[0] if ft and free0 is not None else None
    n_prompt = min(spec.get("n_prompt", 512), spec["n_ctx"] - 80)
    prompt = [1] + [300 + (i % 1000) for i in range(n_prompt - 1)]
    times: list[float] = []
    t_start = time.perf_counter()
    try:
        for tok in llm.generate(prompt, temp=0.0):
            times.append(time.perf_counter())
            if len(times) >= spec.get("n_gen", 32):
                break
    except Exception as exc:  # noqa: BLE001
        res["error"] = f"generation failed: {exc}"
    res.update(rates_from_times(t_start, times, n_prompt))
    ft = cuda_free_total()
    res["used_after_prompt"] = free0 - ft[0] if ft and free0 is not None else None
    res["smi_process_mib"] = smi_process_mib(os.getpid())
    llm.close()
    return res


def _service_config(model: str, home: str, gpu_layers: str | int, n_ctx: int):
    from safemed_desktop.config import load_config
    from safemed_desktop.paths import resolve_paths

    env = {"SAFEMED_HOME": home, "SAFEMED_MODEL": model, "SAFEMED_GPU_LAYERS": str(gpu_layers),
           "SAFEMED_CONTEXT_SIZE": str(n_ctx)}
    return load_config(resolve_paths(env), environ=env)


def _service_load(spec: dict[str, Any]) -> dict[str, Any]:
    """Load through SafeMedService (the app's path, fallback included) and report the plan."""
    from safemed_desktop.errors import ModelLoadError
    from safemed_desktop.inference.engine import Engine
    from safemed_desktop.service import SafeMedService

    calls: list[int] = []

    def failing_gpu(settings):
        calls.append(settings.n_gpu_layers)
        if spec.get("fail_gpu") and settings.n_gpu_layers > 0:
            raise ModelLoadError("simulated GPU load failure (bench.gpu.measure)")
        return Engine(settings)

    with tempfile.TemporaryDirectory() as home:
        svc = SafeMedService(_service_config(spec["model"], home, spec.get("gpu_layers", "auto"), spec["n_ctx"]),
                             engine_factory=failing_gpu)
        try:
            loaded = svc.load_model()
        except Exception as exc:  # noqa: BLE001
            return {"loaded": False, "error": f"{type(exc).__name__}: {exc}", "factory_calls": calls}
        out = {"loaded": True, "n_gpu_layers": loaded.plan.n_gpu_layers, "placement": loaded.placement,
               "reason": loaded.plan.reason, "load_note": loaded.load_note, "factory_calls": calls}
        t0 = time.perf_counter()
        done = None
        for ev in loaded.engine.stream_chat([{"role": "user", "content": "w1 w2 w3"}], max_tokens=8, temperature=0.0):
            done = ev
        out["answer_tokens"] = done.timings.completion_tokens if done else 0
        out["answer_s"] = time.perf_counter() - t0
        svc.unload_model()
        return out


def run_probe(spec: dict[str, Any], timeout: float = 240) -> dict[str, Any]:
    """``probe(spec)`` in a subprocess; a crash (abort on out-of-memory) becomes a result."""
    cmd = [sys.executable, "-m", "bench.gpu.measure", "--probe", json.dumps(spec)]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"spec": spec, "loaded": False, "error": f"probe timed out after {timeout} s"}
    for line in reversed(p.stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    return {"spec": spec, "loaded": False, "error": f"probe exited {p.returncode}: {p.stderr.strip()[-400:]}"}


def _messages_for(engine: Any, n_prompt: int) -> tuple[list[dict], int]:
    """Chat messages whose formatted prompt is about ``n_prompt`` tokens (one token per word)."""
    def msgs(m: int) -> list[dict]:
        return [{"role": "user", "content": " ".join(f"w{i % 100}" for i in range(m))}]  # "▁w0".."▁w99"
    base = engine.count_chat_tokens(msgs(1)) - 1
    m = max(1, n_prompt - base)
    return msgs(m), engine.count_chat_tokens(msgs(m))


def _engine_run(engine: Any, messages: list[dict], n_gen: int) -> dict[str, float]:
    engine.reset_cache()
    times: list[float] = []
    t0 = time.perf_counter()
    n_prompt = 0
    for ev in engine.stream_chat(messages, max_tokens=n_gen, temperature=0.0):
        if hasattr(ev, "logprob"):
            times.append(time.perf_counter())
        else:
            n_prompt = ev.timings.prompt_tokens
    return rates_from_times(t0, times, n_prompt)


def _raw_run(llm: Any, prompt: list[int], n_gen: int) -> dict[str, float]:
    from safemed_desktop.inference import engine as eng

    llm.reset()
    times: list[float] = []
    t0 = time.perf_counter()
    for _tok in llm.generate(prompt, top_k=eng.TOP_K, top_p=eng.TOP_P, min_p=eng.MIN_P, temp=0.0,
                             repeat_penalty=eng.REPEAT_PENALTY):
        times.append(time.perf_counter())
        if len(times) >= n_gen:
            break
    return rates_from_times(t0, times, len(prompt))


def measure_throughput(model: str, n_layer: int, auto_layers: int, llama_bench: str | None, *, n_prompt: int,
                       n_gen: int, reps: int, threads: int) -> dict[str, Any]:
    import llama_cpp

    from safemed_desktop.inference.engine import Engine, EngineSettings

    n_ctx = 2048 if n_prompt + n_gen < 2000 else n_prompt + n_gen + 64
    out: dict[str, Any] = {"n_gen": n_gen, "n_ctx": n_ctx, "reps": reps}
    if llama_bench:
        rows = []
        for fa in ("off", "on"):
            p = subprocess.run([llama_bench, "-m", model, "-p", str(n_prompt), "-n", str(n_gen), "-ngl", "999",
                                "-fa", fa, "-r", str(reps), "-t", str(threads), "-o", "json"],
                               capture_output=True, text=True, timeout=300)
            try:
                rows += parse_llama_bench_json(p.stdout)
            except ValueError:
                out.setdefault("bench_errors", []).append(p.stderr[-400:])
        out["bench_rows"] = rows
        out["bench_pp"] = bench_tps(rows, "pp", "off")
        out["bench_tg"] = bench_tps(rows, "tg", "off")
        out["bench_pp_fa"] = bench_tps(rows, "pp", "on")
        out["bench_tg_fa"] = bench_tps(rows, "tg", "on")
    all_layers = n_layer + 1  # llama.cpp counts the output layer as one more
    engine = Engine(EngineSettings(model_path=Path(model), n_ctx=n_ctx, n_threads=threads, n_gpu_layers=all_layers))
    messages, n_tok = _messages_for(engine, n_prompt)
    out["n_prompt"] = n_tok
    prompt = engine._prompt_tokens(messages)  # the same tokens for the raw side
    raw = llama_cpp.Llama(model_path=model, n_ctx=n_ctx, n_threads=threads, n_threads_batch=threads,
                          n_gpu_layers=all_layers, logits_all=False, verbose=False)
    _engine_run(engine, messages, 16)
    _raw_run(raw, prompt, 16)  # warm-up
    e_runs, r_runs = [], []
    for i in range(reps):
        pair = [(_engine_run, engine, messages, e_runs), (_raw_run, raw, prompt, r_runs)]
        for fn, obj, arg, acc in (pair if i % 2 == 0 else pair[::-1]):
            acc.append(fn(obj, arg, n_gen))
    out["engine"] = {k: median_of(e_runs, k) for k in ("prompt_tps", "decode_tps", "ttft_s")}
    out["raw"] = {k: median_of(r_runs, k) for k in ("prompt_tps", "decode_tps", "ttft_s")}
    out["engine_runs"], out["raw_runs"] = e_runs, r_runs
    raw.close()
    engine.close()
    if auto_layers != all_layers:  # what the app does today with gpu_layers = "auto"
        engine = Engine(EngineSettings(model_path=Path(model), n_ctx=n_ctx, n_threads=threads,
                                       n_gpu_layers=auto_layers))
        _engine_run(engine, messages, 16)
        runs = [_engine_run(engine, messages, n_gen) for _ in range(reps)]
        out["engine_auto"] = {"n_gpu_layers": auto_layers,
                              **{k: median_of(runs, k) for k in ("prompt_tps", "decode_tps", "ttft_s")}}
        engine.close()
    out["engine_vs_raw_decode"] = ratio(out["engine"]["decode_tps"], out["raw"]["decode_tps"])
    out["engine_vs_raw_prompt"] = ratio(out["engine"]["prompt_tps"], out["raw"]["prompt_tps"])
    out["engine_vs_bench_decode"] = ratio(out["engine"]["decode_tps"], out.get("bench_tg"))
    out["engine_vs_bench_prompt"] = ratio(out["engine"]["prompt_tps"], out.get("bench_pp"))
    return out


def planner_cases(info: Any, free: int, total: int, contexts: list[int]) -> list[dict[str, Any]]:
    """The (context, free memory) pairs to check and the planner's answer for each (pure given inputs)."""
    from safemed_desktop.inference.offload import (DEFAULT_MARGIN_BYTES, MARGIN_FRACTION, DeviceInfo,
                                                   kv_cache_bytes_per_layer, plan_offload)

    def plan(n_ctx: int, free_given: int):
        dev = DeviceInfo("CUDA0", total, free_given, "capped" if free_given < free else "")
        return plan_offload(requested="auto", n_layers=info.n_layers, layer_bytes=info.layer_bytes,
                            other_bytes=info.other_bytes, kv_bytes_per_layer=kv_cache_bytes_per_layer(info, n_ctx),
                            supports_offload=True, devices=[dev])

    cases = []
    for n_ctx in contexts:
        cases.append({"n_ctx": n_ctx, "free_given": free, "capped": False, "plan": plan(n_ctx, free)})
    n_ctx = contexts[0]
    half = info.n_layers // 2
    kv = kv_cache_bytes_per_layer(info, n_ctx)
    need_half = info.other_bytes + sum(info.layer_bytes[-half:]) + half * kv
    cap = min(capped_budget(need_half, DEFAULT_MARGIN_BYTES, margin_fraction=MARGIN_FRACTION), free)
    cases.append({"n_ctx": n_ctx, "free_given": cap, "capped": True, "plan": plan(n_ctx, cap)})
    return cases


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="GPU offload measurement (issue 17)")
    ap.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "gpu-out")))
    ap.add_argument("--models-dir", type=Path, default=Path(tempfile.gettempdir()) / "safemed-gpu-models")
    ap.add_argument("--preset", default="1.5b")
    ap.add_argument("--types", default="q4_0,f16")
    ap.add_argument("--llama-bench", default=os.environ.get("LLAMA_BENCH"))
    ap.add_argument("--contexts", default="2048,8192,32768")
    ap.add_argument("--n-prompt", type=int, default=512)
    ap.add_argument("--n-gen", type=int, default=128)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--deadline-s", type=float, default=420.0, help="skip sections that start after this")
    ap.add_argument("--sections", default="models,throughput,planner,partial,fallback,doctor")
    ap.add_argument("--probe", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.probe:
        print(json.dumps(probe(json.loads(a.probe)), default=str))
        return 0
    return _measure(a)


def _measure(a: argparse.Namespace) -> int:
    from bench.gpu.synth_gguf import PRESETS, write_gguf
    from safemed_desktop.inference.gguf_file import read_gguf
    from safemed_desktop.inference.offload import detect_gpu, llama_build_info

    t_begin = time.perf_counter()
    threads = a.threads or os.cpu_count() or 1
    sections = set(a.sections.split(","))
    results: dict[str, Any] = {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "errors": []}
    smi = nvidia_smi()
    results["env"] = {**smi, "cpu_count": os.cpu_count(), "machine": platform.platform(),
                      "python": sys.version.split()[0], "llama_cpp": llama_build_info(),
                      "detect_gpu": detect_gpu().to_dict(), "threads": threads}
    write_results(a.out, results)

    def section(name: str, fn) -> None:
        if name not in sections:
            return
        if time.perf_counter() - t_begin > a.deadline_s:
            results["errors"].append(f"{name}: skipped, past the {a.deadline_s:.0f} s deadline")
            write_results(a.out, results)
            return
        t0 = time.perf_counter()
        print(f"== {name}", flush=True)
        try:
            fn()
        except Exception as exc:  # noqa: BLE001 - recorded, the next section still runs
            import traceback

            results["errors"].append(f"{name}: {type(exc).__name__}: {exc}")
            traceback.print_exc()
        results.setdefault("seconds", {})[name] = round(time.perf_counter() - t0, 1)
        write_results(a.out, results)

    models: dict[str, Any] = {}
    infos: dict[str, Any] = {}

    def do_models() -> None:
        for t in a.types.split(","):
            path = a.models_dir / f"synthetic-{a.preset}-{t}.gguf"
            models[t] = write_gguf(path, PRESETS[a.preset], t)
            infos[t] = read_gguf(path)
        results["models"] = models

    section("models", do_models)
    if not models:
        return 1
    first = next(iter(models))
    n_layer = infos[first].n_layers

    def auto_layers(t: str, n_ctx: int) -> int:
        from safemed_desktop.inference.offload import plan_for_model

        return plan_for_model(infos[t], requested="auto", n_ctx=n_ctx).n_gpu_layers

    def do_throughput() -> None:
        results["throughput"] = {}
        for t in models:
            try:
                results["throughput"][t] = measure_throughput(
                    models[t]["path"], n_layer, auto_layers(t, 2048), a.llama_bench, n_prompt=a.n_prompt,
                    n_gen=a.n_gen, reps=a.reps, threads=threads)
            except Exception as exc:  # noqa: BLE001
                results["throughput"][t] = {"error": f"{type(exc).__name__}: {exc}"}
            write_results(a.out, results)

    section("throughput", do_throughput)

    def do_planner() -> None:
        from safemed_desktop.inference.offload import kv_cache_bytes_per_layer

        results["planner"] = []
        ft = cuda_free_total()
        if ft is None:
            raise RuntimeError("no GPU device visible to ggml")
        free, total = ft
        contexts = [int(c) for c in a.contexts.split(",")]
        for t in models:
            info = infos[t]
            out_b, _emb = output_tensor_bytes(info.tensors)
            for case in planner_cases(info, free, total, contexts):
                plan = case["plan"]
                spec = {"model": models[t]["path"], "n_ctx": case["n_ctx"], "n_gpu_layers": plan.n_gpu_layers,
                        "n_prompt": a.n_prompt, "n_gen": 16, "threads": threads}
                if case["capped"]:
                    spec["leave_free"] = case["free_given"]
                r = run_probe(spec)
                kv = kv_bytes_per_layer(case["n_ctx"], info.head_count_kv or info.head_count,
                                        *(2 * [info.embedding_length // info.head_count]))
                row = {"model": t, "n_ctx": case["n_ctx"], "free_given": case["free_given"],
                       "capped": case["capped"], "n_gpu_layers": plan.n_gpu_layers, "n_layers": info.n_layers,
                       "reason": plan.reason, "planned_bytes": plan.needed_bytes,
                       "planner_kv_per_layer": kv_cache_bytes_per_layer(info, case["n_ctx"]),
                       "rule_bytes": predicted_gpu_bytes(n_gpu_layers=plan.n_gpu_layers, layer_bytes=info.layer_bytes,
                                                         output_bytes=out_b, kv_per_layer=kv),
                       "placement": llama_cpp_placement(plan.n_gpu_layers, info.n_layers),
                       **{k: r.get(k) for k in ("loaded", "error", "used_after_load", "used_after_prompt",
                                                "smi_process_mib", "hog_ok", "prompt_tps", "decode_tps",
                                                "load_s")}}
                measured = row["used_after_prompt"] or row["used_after_load"]
                row["planner_error_pct"] = error_pct(row["planned_bytes"], measured)
                row["rule_error_pct"] = error_pct(row["rule_bytes"], measured)
                row["compute_and_other_bytes"] = (measured - row["rule_bytes"]) if measured else None
                row["over_budget"] = bool(case["capped"] and measured and measured > case["free_given"])
                results["planner"].append(row)
                write_results(a.out, results)

    section("planner", do_planner)

    def do_partial() -> None:
        base = {"model": models[first]["path"], "n_ctx": 2048, "n_prompt": a.n_prompt, "n_gen": 64,
                "threads": threads}
        for name, k in (("partial", n_layer // 2), ("full", n_layer + 1), ("cpu", 0)):
            r = run_probe({**base, "n_gpu_layers": k})
            results[name] = {"n_gpu_layers": k, **{x: r.get(x) for x in ("loaded", "error", "prompt_tps",
                                                                          "decode_tps", "used_after_prompt")}}
            write_results(a.out, results)

    section("partial", do_partial)

    def do_fallback() -> None:
        base = {"mode": "service", "model": models[first]["path"], "n_ctx": 2048, "gpu_layers": "auto"}
        results["fallback"] = {}
        results["fallback"]["simulated GPU load failure"] = run_probe({**base, "fail_gpu": True})
        # For real: the planner is told nothing (it sees the little free memory left and should
        # choose CPU itself); then forced to offload everything into 256 MiB.
        results["fallback"]["GPU full, gpu_layers auto"] = run_probe({**base, "leave_free": 256 * MiB})
        results["fallback"]["GPU full, gpu_layers forced"] = run_probe({**base, "gpu_layers": n_layer,
                                                                        "leave_free": 256 * MiB})

    section("fallback", do_fallback)

    def do_doctor() -> None:
        with tempfile.TemporaryDirectory() as home:
            env = {**os.environ, "SAFEMED_HOME": home, "SAFEMED_MODEL": models[first]["path"]}
            p = subprocess.run([sys.executable, "-m", "safemed_desktop", "doctor", "--json"], capture_output=True,
                               text=True, timeout=180, env=env)
        results["doctor"] = parse_doctor(p.returncode, p.stdout, p.stderr)

    section("doctor", do_doctor)
    results["goals"] = evaluate_goals(results)
    results["total_s"] = round(time.perf_counter() - t_begin, 1)
    write_results(a.out, results)
    print(render_markdown(results))
    return 0


def parse_doctor(rc: int, stdout: str, stderr: str = "") -> dict[str, Any]:
    """The parts of ``safemed doctor --json`` the report shows (pure)."""
    try:
        rep = json.loads(stdout)
    except ValueError:
        return {"rc": rc, "error": (stderr or stdout)[-400:]}
    off = rep.get("offload") or {}
    return {"rc": rc, "gpu_offload": rep.get("llama_cpp", {}).get("gpu_offload"),
            "devices": [d.get("description") or d.get("name") for d in rep.get("gpu", {}).get("devices", [])],
            "gpu_note": rep.get("gpu", {}).get("note"), "offload_layers": off.get("n_gpu_layers"),
            "offload_reason": off.get("reason"), "healthy": rep.get("healthy"), "report": rep}


if __name__ == "__main__":
    sys.exit(main())
