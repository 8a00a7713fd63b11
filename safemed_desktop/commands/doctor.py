"""``safemed doctor [--json]``: can this workstation run the configured model, and where is everything.

Reports the llama.cpp build and GPU support, devices, the offload plan (layers and why) for
the configured model and context size, the model's hash status, config file locations and
data paths, and whether the desktop window can start (the Qt xcb platform plugin's system libraries,
naming the missing ones and their packages). Exit 0 when the configured model is usable, 2 when it is not
(report still printed); a missing window library makes "healthy: no" but keeps exit 0 (the CLI works).
"""

from __future__ import annotations

import json

from ..service import fmt_bytes
from ._common import cli_service


def register(sub) -> None:
    p = sub.add_parser("doctor", help="check llama.cpp, GPU, the configured model and paths")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    report, usable = cli_service().diagnose()
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
    desk = report.get("desktop") or {}
    print(f"desktop window   Qt {desk.get('platform', 'xcb')} plugin: {desk.get('status', 'not_checked')}"
          + (f" - {desk['message']}" if desk.get("message") else ""))
    sp = report.get("site_pack") or {}
    if sp.get("problem"):
        print(f"site pack        NOT USED - {sp['problem']}")
    elif sp.get("in_effect"):
        eff = sp["in_effect"]
        print(f"site pack        version {eff['pack_version']} in effect: knowledge packs "
              f"{', '.join(f'{k}@{v}' for k, v in eff['knowledge_packs'].items()) or 'none'}; approved models "
              f"{', '.join(eff['model_manifests']) or 'none'}; guard tightened "
              f"{', '.join(eff['guard_tightened']) or 'nowhere'}")
    if not usable:
        print("healthy: no - the configured model cannot be used")
    elif desk.get("status") == "missing_libraries":
        print("healthy: no - the desktop window cannot start (the command line works); install the libraries above")
    else:
        print("healthy: yes")
    return 0 if usable else 2
