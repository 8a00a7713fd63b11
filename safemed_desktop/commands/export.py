"""``safemed export training --format sft|dpo --out FILE``: clinician audits as fine-tuning JSONL.

From the store (site administrators only), or from the site collection (`--site SITE [--db URL]`, the
site passphrase unseals the text). The patient context is left out unless the site config allows it."""

from __future__ import annotations

import json

from ..errors import InputError
from ._common import add_as_argument, cli_service, read_site_passphrase, unlocked_store


def register(sub) -> None:
    p = sub.add_parser("export", help="export records for other tools")
    esub = p.add_subparsers(dest="export_command", metavar="WHAT", required=True)
    t = esub.add_parser("training", help="clinician audits as SFT or DPO JSONL (TRL's conversational format)")
    t.add_argument("--format", required=True, choices=("sft", "dpo"), dest="fmt")
    t.add_argument("--out", required=True, metavar="FILE", help="the JSONL file to write (0600)")
    t.add_argument("--threshold", type=int, default=4, help="SFT: lowest score on every criterion (default 4)")
    t.add_argument("--site", metavar="SITE", help="export from the site collection in this site folder (site passphrase from SAFEMED_SITE_PASSPHRASE or a prompt)")
    t.add_argument("--db", metavar="URL", help="the collection's database (postgresql://...; default SITE/collection.db)")
    t.add_argument("--json", action="store_true", help="print a JSON summary")
    add_as_argument(t)
    t.set_defaults(func=run_training)


def run_training(args) -> int:
    if args.db and not args.site:
        raise InputError("--db needs --site SITE")
    service = cli_service()
    if args.site:
        done = service.export_training(None, args.fmt, args.out, threshold=args.threshold, site_dir=args.site,
                                       db_url=args.db, site_passphrase=read_site_passphrase())
    else:
        with unlocked_store(service, who=args.as_profile) as store:
            done = service.export_training(store, args.fmt, args.out, threshold=args.threshold)
    if args.json:
        print(json.dumps(done, sort_keys=True))
    else:
        print(f"{done['n']} {done['format']} example(s) written to {done['out']}")
    return 0
