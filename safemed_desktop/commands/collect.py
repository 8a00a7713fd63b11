"""``safemed collect accept|import|stats|pack``: the site's collection (SQLite, or PostgreSQL with --db)."""

from __future__ import annotations

import json
import os
import sys

from ..errors import InputError
from ._common import cli_service, read_site_passphrase

DB_ENV = "SAFEMED_COLLECTION_DB"


def _common(p, *, json_flag: bool = True) -> None:
    p.add_argument("--site", required=True, metavar="SITE", help="the site folder (keys, card, acks)")
    p.add_argument("--db", metavar="URL", help=f"postgresql://... collection (default ${DB_ENV}, else "
                                              "SITE/collection.db)")
    if json_flag:
        p.add_argument("--json", action="store_true", help="print JSON")


def register(sub) -> None:
    p = sub.add_parser("collect", help="the site's collection of workstation bundles")
    csub = p.add_subparsers(dest="collect_command", metavar="ACTION", required=True)
    accept = csub.add_parser("accept", help="enroll a workstation's card")
    accept.add_argument("card", metavar="FILE")
    _common(accept)
    accept.set_defaults(func=run_accept)
    imp = csub.add_parser("import", help="verify and merge bundles; writes a signed acknowledgement per bundle")
    imp.add_argument("files", nargs="+", metavar="FILE")
    imp.add_argument("--acks", metavar="DIR", help="where to write acknowledgements (default SITE/acks)")
    _common(imp)
    imp.set_defaults(func=run_import)
    stats = csub.add_parser("stats", help="per-type record counts")
    _common(stats)
    stats.set_defaults(func=run_stats)
    pack = csub.add_parser("pack", help="sign a site pack for the workstations")
    pack.add_argument("--out", required=True, metavar="FILE")
    _common(pack)
    pack.set_defaults(func=run_pack)


def _db(args) -> str | None:
    url = args.db or os.environ.get(DB_ENV) or None
    if url is not None and not url.startswith(("postgresql://", "postgres://")):
        raise InputError("--db must be a postgresql:// URL")
    return url


def run_accept(args) -> int:
    res = cli_service().collect_accept(args.site, args.card, _db(args))
    if args.json:
        print(json.dumps(res, indent=2))
    else:
        state = "enrolled" if res["new"] else "already enrolled"
        print(f"{state}: workstation {res['workstation_id']} (fingerprint {res['fingerprint']})")
    return 0


def run_import(args) -> int:
    service = cli_service()
    outcomes = service.collect_import(args.site, args.files, read_site_passphrase(), _db(args), args.acks)
    rejected = [o for o in outcomes if not o["ok"]]
    if args.json:
        print(json.dumps(outcomes, indent=2))
    else:
        for o in outcomes:
            if o["ok"]:
                how = "already imported (re-acknowledged)" if o["replay"] else f"{o['new_records']} new records"
                print(f"merged {o['file']}: {sum(o['counts'].values())} records, {how}; ack {o['ack']}")
    for o in rejected:
        print(f"safemed: rejected {o['file']}: {o['error']}", file=sys.stderr)
    return 2 if rejected else 0


def run_stats(args) -> int:
    st = cli_service().collect_stats(args.site, _db(args))
    if args.json:
        print(json.dumps(st, indent=2))
        return 0
    print(f"site {st['site_id']} ({st['backend']}): {st['total_records']} records, {st['audit_events']} audit events, "
          f"{st['bundles_imported']} bundles, {len(st['workstations'])} workstations")
    for t, n in st["records"].items():
        print(f"  {t:<22} {n}")
    return 0


def run_pack(args) -> int:
    res = cli_service().collect_pack(args.site, read_site_passphrase(), args.out, _db(args))
    print(f"wrote site pack {res['file']} (version {res['pack_version']}, "
          f"{res['track_record_rows']} track-record rows)")
    return 0
