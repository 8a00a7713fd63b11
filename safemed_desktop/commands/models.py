"""``safemed models list | verify [MODEL] | add PATH``: the site's approved models."""

from __future__ import annotations

import json
import sys
import time
from typing import TextIO

from ..service import fmt_bytes
from ._common import cli_service


class ProgressBar:
    """Plain-text progress on stderr: redrawn in place on a terminal, a line per 10% otherwise."""

    def __init__(self, label: str, stream: TextIO | None = None, width: int = 30):
        self.label = label
        self.stream = stream or sys.stderr
        self.width = width
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.last_step = -1
        self.last_draw = 0.0
        self.started = time.monotonic()

    def __call__(self, done: int, total: int) -> None:
        frac = done / total if total else 1.0
        if self.tty:
            now = time.monotonic()
            if done < total and now - self.last_draw < 0.1:
                return
            self.last_draw = now
            filled = int(frac * self.width)
            bar = "#" * filled + "." * (self.width - filled)
            end = "\n" if done >= total else ""
            self.stream.write(f"\r{self.label} [{bar}] {frac:4.0%} {fmt_bytes(done)}/{fmt_bytes(total)}{end}")
        else:
            step = int(frac * 10)
            if step == self.last_step:
                return
            self.last_step = step
            self.stream.write(f"{self.label}: {frac:.0%} of {fmt_bytes(total)}\n")
        self.stream.flush()


def register(sub) -> None:
    p = sub.add_parser("models", help="list, verify and approve model files")
    msub = p.add_subparsers(dest="models_command", metavar="ACTION", required=True)

    ls = msub.add_parser("list", help="list model manifests and whether their files are present")
    ls.add_argument("--json", action="store_true", help="print JSON")
    ls.set_defaults(func=run_list)

    ver = msub.add_parser("verify", help="re-hash model files against their manifests (ignores the hash cache)")
    ver.add_argument("model", nargs="?", help="one manifest id or .gguf path (default: every manifest)")
    ver.add_argument("--json", action="store_true", help="print JSON")
    ver.set_defaults(func=run_verify)

    add = msub.add_parser("add", help="approve a GGUF file: check it, hash it, write a site manifest")
    add.add_argument("path", help="path to the .gguf file")
    add.add_argument("--id", dest="model_id", help="manifest id (default: the manifest naming this file, "
                                                    "else derived from the file name)")
    add.add_argument("--name", help="display name")
    add.add_argument("--chat-format", choices=("plain", "think-answer"),
                     help="prompt format (default: from the manifest or the GGUF chat template)")
    add.set_defaults(func=run_add)


def run_list(args) -> int:
    service = cli_service()
    configured = service.config.model
    rows = service.list_models()
    if args.json:
        print(json.dumps({"models": rows, "configured": configured}, indent=2))
        return 0
    for r in rows:
        flags = []
        if r["configured"]:
            flags.append("configured")
        if r["demo"]:
            flags.append("demo")
        if not r["clinically_validated"]:
            flags.append("not clinically validated")
        print(f"{r['id']}  [{r['state']}]  {r['quantization']}  {r['chat_format']}  ({', '.join(flags)})")
        print(f"    {r['name']}; license {r['license']}")
        print(f"    file: {r['found_at'] or r['file']}")
        if r["notes"]:
            print(f"    {r['notes']}")
    if configured not in {r["id"] for r in rows}:
        print(f"configured model: {configured} (not a manifest id: treated as a file path)")
    return 0


def run_verify(args) -> int:
    service = cli_service()
    if args.model and args.model not in {r["id"] for r in service.list_models()}:
        # a path: full resolution (raises with the clear message; exit 2)
        r = service.verify_model_file(args.model, progress=ProgressBar(f"sha256 {args.model}"))
        out = {"model": r.label, "path": str(r.path), "approved": r.approved, "sha256": r.sha256}
        print(json.dumps(out, indent=2) if args.json else
              f"{r.label}: {'approved' if r.approved else 'unapproved (allowed by site policy)'}; "
              f"sha256 {r.sha256}; {r.path}")
        return 0
    checks = service.verify_models(args.model, progress=lambda mid: ProgressBar(f"sha256 {mid}"))
    # one named model must be usable; over every manifest, only damaged files fail (missing ones are listed)
    bad = [c for c in checks if c.status != "ok"] if args.model else [c for c in checks if c.status in ("mismatch", "corrupt")]
    if args.json:
        print(json.dumps({"models": [{"id": c.manifest.id, "status": c.status, "path": str(c.path) if c.path else None,
                                      "detail": c.detail} for c in checks], "ok": not bad}, indent=2))
    else:
        for c in checks:
            print(f"{c.manifest.id}: {c.status}" + (f" - {c.detail}" if c.status != "ok" else f" ({c.path})"))
    for c in bad:
        print(f"safemed: error: {c.manifest.id}: {c.detail}", file=sys.stderr)
    return 2 if bad else 0


def run_add(args) -> int:
    m = cli_service().add_model(args.path, model_id=args.model_id, name=args.name, chat_format=args.chat_format,
                                progress=ProgressBar(f"sha256 {args.path}"))
    print(f"approved {m.id}: {m.file} sha256 {m.sha256}")
    print(f"site manifest written: {m.manifest_path}")
    return 0
