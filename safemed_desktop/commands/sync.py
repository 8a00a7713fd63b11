"""``safemed sync enroll|card|export|ack|status|pull``: the workstation's side of sync (docs/sync.md)."""

from __future__ import annotations

import json
import sys

from ._common import add_as_argument, cli_service, unlocked_store


def register(sub) -> None:
    p = sub.add_parser("sync", help="bundles to the site's collection on removable media; site packs back")
    ssub = p.add_subparsers(dest="sync_command", metavar="ACTION", required=True)
    enroll = ssub.add_parser("enroll", help="trust a site's card (compare the printed fingerprint with IT's)")
    enroll.add_argument("card", help="the site's site-card.json")
    add_as_argument(enroll)
    enroll.set_defaults(func=run_enroll)
    card = ssub.add_parser("card", help="write this workstation's public card for the site")
    card.add_argument("--out", required=True, help="file to write (e.g. on the removable medium)")
    card.set_defaults(func=run_card)
    export = ssub.add_parser("export", help="write one bundle with every record not yet acknowledged")
    export.add_argument("--out", required=True, help="bundle file to write")
    export.add_argument("--json", action="store_true", help="print the manifest as JSON")
    add_as_argument(export)
    export.set_defaults(func=run_export)
    ack = ssub.add_parser("ack", help="verify the site's acknowledgement(s) and advance the watermark")
    ack.add_argument("files", nargs="+", metavar="FILE")
    ack.set_defaults(func=run_ack)
    status = ssub.add_parser("status", help="records waiting, the last export and acknowledgement")
    status.add_argument("--json", action="store_true", help="print JSON")
    status.set_defaults(func=run_status)
    pull = ssub.add_parser("pull", help="verify and apply a signed site pack")
    pull.add_argument("file")
    pull.set_defaults(func=run_pull)


def run_enroll(args) -> int:
    service = cli_service()
    with unlocked_store(service, who=args.as_profile) as store:  # a site administrator decides which site this workstation trusts
        site = service.sync_enroll(store, args.card)
    print(f"enrolled site {site['site_id']}")
    print(f"fingerprint: {site['fingerprint']}  (compare it with the one IT read at the site)")
    return 0


def run_card(args) -> int:
    service = cli_service()
    with unlocked_store(service, sign_in=False) as store:
        card = service.sync_card(store, args.out)
    print(f"wrote workstation card {card['file']} (workstation {card['workstation_id']}, "
          f"fingerprint {card['fingerprint']})")
    return 0


class _Bar:
    """A tqdm progress bar on standard error for large exports (none for small ones or when not a terminal)."""

    def __init__(self, desc: str):
        self.desc, self.bar = desc, None

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None and total >= 5000 and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=self.desc, unit="rec", file=sys.stderr)
        if self.bar is not None:
            self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def run_export(args) -> int:
    service = cli_service()
    bar = _Bar("export")
    with unlocked_store(service, who=args.as_profile) as store:
        try:
            manifest = service.sync_export(store, args.out, bar)
        finally:
            bar.close()
    if args.json:
        print(json.dumps(manifest, indent=2))
    else:
        n = sum(manifest["counts"].values())
        ch = manifest["chain"]
        print(f"wrote bundle {args.out}: {n} records, {ch['events']} audit events "
              f"(events #{ch['from_seq'] + 1}..#{ch['to_seq']}), bundle {manifest['bundle_id']}")
    return 0


def run_ack(args) -> int:
    service = cli_service()
    with service.open_store() as store:
        for f in args.files:
            res = service.sync_ack(store, f)
            how = "advanced" if res["advanced"] else "unchanged"
            print(f"ok: acknowledgement of bundle {res['bundle_id']} verified; watermark {how} at event "
                  f"#{res['watermark']}")
    return 0


def run_status(args) -> int:
    service = cli_service()
    with service.open_store() as store:
        st = service.sync_status(store)
    if args.json:
        print(json.dumps(st, indent=2))
        return 0
    site = st["site"]
    print(f"site:            {site['site_id'] + '  ' + site['fingerprint'] if site else 'none enrolled'}")
    print(f"records waiting: {st['records_waiting']} ({st['events_waiting']} audit events)")
    last = st.get("last_export")
    print(f"last export:     {last['bundle_id'] + ' to event #' + str(last['to_seq']) if last else 'never'}")
    ack = st.get("last_ack")
    print(f"last ack:        {ack['bundle_id'] + ' (watermark #' + str(st['watermark']) + ')' if ack else 'never'}")
    pack = st.get("pack")
    print(f"site pack:       {'version ' + str(pack['version']) if pack else 'none'}")
    return 0


def run_pull(args) -> int:
    service = cli_service()
    with service.open_store() as store:
        res = service.sync_pull(store, args.file)
    if res["applied"]:
        print(f"ok: site pack version {res['version']} verified and applied")
    else:
        print(f"ok: site pack version {res['version']} is already applied")
    return 0
