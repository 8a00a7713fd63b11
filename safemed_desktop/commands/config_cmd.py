"""``safemed config show``: the effective configuration and where each value came from."""

from __future__ import annotations

import json

from ..config import SETTINGS, load_config


def register(sub) -> None:
    p = sub.add_parser("config", help="show the effective configuration")
    csub = p.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    show = csub.add_parser("show", help="print every setting, its value and its source")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(func=run_show)


def run_show(args) -> int:
    cfg = load_config()
    if args.json:
        print(json.dumps({
            "settings": {s.key: {"value": cfg.values[s.key], "source": cfg.sources[s.key]} for s in SETTINGS},
            "paths": cfg.paths.as_dict(),
        }, indent=2))
        return 0
    width = max(len(s.key) for s in SETTINGS)
    for s in SETTINGS:
        value = cfg.values[s.key]
        if isinstance(value, dict):
            value = ", ".join(f"{k}={v}" for k, v in value.items())
        elif value is None:
            value = "(not set)"
        print(f"{s.key:<{width}}  {value!s:<28}  [{cfg.sources[s.key]}]")
    print()
    for name, path in cfg.paths.as_dict().items():
        print(f"{name:<{width}}  {path}")
    return 0
