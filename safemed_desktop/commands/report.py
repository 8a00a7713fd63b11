"""``safemed report --out DIR``: the governance report (index.html with embedded figures, and a PDF where
Chromium is installed) of the store (acting as a lead profile: site_admin or attending), or of the site
collection with `--site SITE [--db URL]` (clear columns only)."""

from __future__ import annotations

import json

from ..errors import InputError
from ._common import add_as_argument, cli_service, unlocked_store


def register(sub) -> None:
    p = sub.add_parser("report", help="write the governance report (HTML, and PDF where Chromium is installed)")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for index.html (created 0700)")
    p.add_argument("--site", metavar="SITE", help="report on the site collection in this site folder instead of the store")
    p.add_argument("--db", metavar="URL", help="the collection's database (postgresql://...; default SITE/collection.db)")
    p.add_argument("--no-pdf", action="store_true", help="write the HTML only")
    p.add_argument("--json", action="store_true", help="print the report's data as JSON")
    add_as_argument(p)
    p.set_defaults(func=run_report)


def run_report(args) -> int:
    if args.db and not args.site:
        raise InputError("--db needs --site SITE")
    service = cli_service()
    if args.site:
        done = service.write_report(None, args.out, pdf=not args.no_pdf, site_dir=args.site, db_url=args.db)
    else:
        with unlocked_store(service, who=args.as_profile) as store:
            done = service.write_report(store, args.out, pdf=not args.no_pdf)
    if args.json:
        print(json.dumps(done["data"], indent=2, sort_keys=True, default=str))
    else:
        print(f"report {done['index']}" + (f"\npdf {done['pdf']}" if done["pdf"] else " (no PDF: Chromium not found)"))
    return 0
