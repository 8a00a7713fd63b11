"""``safemed doctor [--json]``: can this workstation run the configured model, and where is everything.

Reports the llama.cpp build and GPU support, devices, the offload plan (layers and why) for
the configured model and context size, the model's hash status, config file locations and
data paths. Exit 0 when the configured model is usable, 2 when it is not (report still printed).
"""

from __future__ import annotations

import json
from typing import Any

from ..config import load_config
from ..errors import (ModelError, ModelFileError, ModelHashMismatchError,
                      SafeMedError, UnapprovedModelError)
from ..inference.offload import detect_gpu, fmt_bytes, plan_for_model
from ..model_registry import identity, resolve_model


def register(sub) -> None:
    p = sub.add_parser("doctor", help="check llama.cpp, GPU, the configured model and paths")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def _llama_info() -> dict[str, Any]:
    try:
        import llama_cpp

        return {"python_package": llama_cpp.__version__,
                "gpu_offload": bool(llama_cpp.llama_supports_gpu_offload()),
                "system_info": llama_cpp.llama_print_system_info().decode("utf-8", "replace").strip()}
    except Exception as exc:  # noqa: BLE001 - reported in the doctor output
        return {"python_package": None, "gpu_offload": False, "system_info": "", "error": str(exc)}


def _status_of(exc: SafeMedError) -> str:
    tagged = getattr(exc, "status", None)  # set by model_registry: missing / not imported / unknown
    if tagged:
        return tagged
    if isinstance(exc, ModelHashMismatchError):
        return "mismatch"
    if isinstance(exc, UnapprovedModelError):
        return "unapproved (forbidden by site policy)"
    if isinstance(exc, ModelFileError):
        return "corrupt"
    return "error"


def collect(cfg=None) -> tuple[dict[str, Any], bool]:
    """The doctor report as a dict, and whether the configured model is usable."""
    cfg = cfg or load_config()
    gpu = detect_gpu()
    report: dict[str, Any] = {
        "llama_cpp": _llama_info(),
        "gpu": gpu.to_dict(),
        "config": {"site_file": str(cfg.paths.site_config_file), "site_file_exists": cfg.paths.site_config_file.is_file(),
                   "user_file": str(cfg.paths.user_config_file), "user_file_exists": cfg.paths.user_config_file.is_file(),
                   "model": {"value": cfg.model, "source": cfg.sources["model"]},
                   "gpu_layers": {"value": cfg.gpu_layers, "source": cfg.sources["gpu_layers"]},
                   "context_size": {"value": cfg.context_size, "source": cfg.sources["context_size"]},
                   "allow_unapproved_models": cfg.allow_unapproved_models},
        "paths": {**cfg.paths.as_dict(), "site_models_dir": str(cfg.paths.site_models_dir),
                  "store_file": str(cfg.paths.store_file)},
    }
    model: dict[str, Any] = {"requested": cfg.model}
    usable = False
    try:
        r = resolve_model(cfg)
    except ModelError as exc:
        model.update(status=_status_of(exc), error=str(exc))
        report["offload"] = None
    else:
        usable = True
        model.update(status="ok" if r.approved else "unapproved", label=r.label, path=str(r.path),
                     identity=identity(r).to_dict(), gguf=r.gguf.summary(),
                     manifest=r.manifest.manifest_path.as_posix() if r.manifest else None,
                     clinically_validated=bool(r.manifest and r.manifest.clinically_validated))
        plan = plan_for_model(r.gguf, requested=cfg.gpu_layers, n_ctx=cfg.context_size, gpu=gpu)
        report["offload"] = plan.to_dict()
    report["model"] = model
    report["healthy"] = usable
    return report, usable


def run(args) -> int:
    report, usable = collect()
    if args.json:
        print(json.dumps(report, indent=2))
        return 0 if usable else 2
    ll, gpu, m = report["llama_cpp"], report["gpu"], report["model"]
    print(f"llama.cpp        llama-cpp-python {ll['python_package']}; GPU offload: "
          f"{'yes' if ll['gpu_offload'] else 'no'}")
    if ll.get("error"):
        print(f"                 error: {ll['error']}")
    print(f"GPU              {gpu['note']}")
    for d in gpu["devices"]:
        print(f"  - {d['name']} ({d['description']}): {fmt_bytes(d['free_bytes'])} free of {fmt_bytes(d['total_bytes'])}")
    print(f"model            {m['requested']}: {m['status']}")
    if "error" in m:
        print(f"                 {m['error']}")
    else:
        g = m["gguf"]
        print(f"                 {m['path']}")
        print(f"                 {g['architecture']}, {g['parameter_count'] / 1e6:.0f}M parameters, {g['n_layers']} layers, "
              f"{g['quantization']}, trained context {g['context_length']}")
        print(f"                 sha256 {m['identity']['sha256']}")
        if not m["clinically_validated"]:
            print("                 not clinically validated")
    off = report["offload"]
    if off:
        print(f"gpu layers       {off['n_gpu_layers']} of {off['n_layers']} (context {report['config']['context_size']['value']}):"
              f" {off['reason']}")
    c = report["config"]
    print(f"site config      {c['site_file']}{'' if c['site_file_exists'] else ' (absent)'}")
    print(f"user config      {c['user_file']}{'' if c['user_file_exists'] else ' (absent)'}")
    for name, path in report["paths"].items():
        print(f"{name:<16} {path}")
    print("healthy: yes" if usable else "healthy: no - the configured model cannot be used")
    return 0 if usable else 2
