"""``safemed site init``: the pilot site's keys and public card (docs/sync.md)."""

from __future__ import annotations

from ._common import cli_service, read_site_passphrase


def register(sub) -> None:
    p = sub.add_parser("site", help="the pilot site's keys (for the collection)")
    ssub = p.add_subparsers(dest="site_command", metavar="ACTION", required=True)
    init = ssub.add_parser("init", help="create the site's keys and SITE/site-card.json")
    init.add_argument("--dir", required=True, metavar="SITE", help="the site folder to create")
    init.add_argument("--site-id", help="the site id (default: the configured site_id)")
    init.set_defaults(func=run_init)


def run_init(args) -> int:
    service = cli_service()
    passphrase = read_site_passphrase("New site passphrase: ", confirm=True)
    res = service.site_init(args.dir, args.site_id or service.config.site_id, passphrase)
    print(f"created site keys for {res['site_id']} in {args.dir}")
    print(f"site card: {res['card']}")
    print(f"fingerprint: {res['fingerprint']}  (read it to each workstation's IT when enrolling)")
    return 0
