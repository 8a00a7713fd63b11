"""``safemed``: the command-line face of the service API (headless; no Qt)."""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys

from . import __version__, commands, netguard
from .errors import GenerationCancelled, SafeMedError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="safemed", description="SafeMed Desktop: offline clinical assistant")
    parser.add_argument("--version", action="version", version=f"safemed {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):  # shared helpers, not command groups
            continue
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    netguard.install_from_env()  # SAFEMED_NETGUARD=1: fail on any network use (tests, smoke test)
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except GenerationCancelled as exc:
        print(f"safemed: {exc}", file=sys.stderr)
        return exc.exit_code
    except SafeMedError as exc:
        print(f"safemed: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("safemed: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (e.g. `safemed doctor | head`): not an error of ours. Point stdout
        # at devnull so the interpreter's final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
