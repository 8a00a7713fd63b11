"""``safemed store init|unlock-check|verify|stats|rekey|change-passphrase|add-profile|profiles``."""

from __future__ import annotations

import json
import sys

from ..errors import IntegrityError
from ..records import ROLES
from ._common import NEW_PASSPHRASE_ENV, cli_service, read_passphrase, unlocked_store


def register(sub) -> None:
    p = sub.add_parser("store", help="the encrypted clinical store")
    ssub = p.add_subparsers(dest="store_command", metavar="ACTION", required=True)
    init = ssub.add_parser("init", help="create the store (asks for a new site passphrase twice)")
    init.add_argument("--site-id", help="pilot site id (default: the configured site_id)")
    init.set_defaults(func=run_init)
    ssub.add_parser("unlock-check", help="check that the passphrase unlocks the store").set_defaults(func=run_unlock_check)
    verify = ssub.add_parser("verify", help="recompute the audit chain and run SQLite's integrity check")
    verify.add_argument("--json", action="store_true", help="print JSON")
    verify.add_argument("--locked", action="store_true",
                        help="verify without the passphrase (cannot authenticate the signing key)")
    verify.set_defaults(func=run_verify)
    stats = ssub.add_parser("stats", help="record counts and settings (no clinical content)")
    stats.add_argument("--json", action="store_true", help="print JSON")
    stats.set_defaults(func=run_stats)
    ssub.add_parser("rekey", help="re-encrypt every record under a new data key").set_defaults(func=run_rekey)
    ssub.add_parser("change-passphrase", help=f"change the site passphrase (new one from {NEW_PASSPHRASE_ENV} "
                    "or a prompt)").set_defaults(func=run_change_passphrase)
    prof = ssub.add_parser("add-profile", help="add a clinician profile; prints its pseudonymous id")
    prof.add_argument("display_name")
    prof.add_argument("--role", required=True, choices=ROLES)
    prof.set_defaults(func=run_add_profile)
    profs = ssub.add_parser("profiles", help="list clinician profiles")
    profs.add_argument("--json", action="store_true", help="print JSON")
    profs.set_defaults(func=run_profiles)


def run_init(args) -> int:
    service = cli_service()
    site = args.site_id or service.config.site_id
    passphrase = read_passphrase("New store passphrase: ", confirm=True)
    with service.create_store(passphrase, site_id=site):
        pass
    print(f"created encrypted store {service.store_path} for site {site}")
    return 0


def run_unlock_check(args) -> int:
    with unlocked_store() as store:
        n = store.stats()["records"]["answers"]
        print(f"ok: the passphrase unlocks {store.path} (site {store.site_id}, {n} answers)")
    return 0


def run_verify(args) -> int:
    service = cli_service()
    if args.locked:
        with service.open_store() as store:
            report = service.verify_store(store)
    else:
        with unlocked_store(service) as store:
            report = service.verify_store(store)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(f"audit events: {report.n_events}, checkpoints: {report.n_checkpoints}, records: {report.n_records}")
        print(f"sqlite integrity: {report.integrity}")
        auth = {True: "yes", False: "NO", None: "not checked (locked)"}[report.key_authenticated]
        print(f"signing key authenticated: {auth}")
        for problem in report.problems[1:6]:
            print(f"  also: {problem}", file=sys.stderr)
    if not report.ok:
        raise IntegrityError(f"store verification failed: first broken link: {report.first_broken}")
    if not args.json:
        print("ok: the audit chain and every record verify")
    return 0


def run_stats(args) -> int:
    with cli_service().open_store() as store:
        stats = store.stats()
    if args.json:
        print(json.dumps(stats, indent=2))
        return 0
    for key, value in stats.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k}={v}" for k, v in value.items())
        print(f"{key:<20} {value}")
    return 0


def run_rekey(args) -> int:
    with unlocked_store() as store:
        store.rekey()
        gen = store.stats()["key_generation"]
    print(f"ok: every record re-encrypted under a new data key (generation {gen})")
    return 0


def run_change_passphrase(args) -> int:
    with cli_service().open_store() as store:
        old = read_passphrase("Current passphrase: ")
        new = read_passphrase("New passphrase: ", env=NEW_PASSPHRASE_ENV, confirm=True)
        store.change_passphrase(old, new)
    print("ok: passphrase changed")
    return 0


def run_add_profile(args) -> int:
    with unlocked_store() as store:
        print(store.add_profile(args.display_name, args.role))
    return 0


def run_profiles(args) -> int:
    with unlocked_store() as store:
        profiles = store.list_profiles()
    if args.json:
        print(json.dumps(profiles, indent=2))
    else:
        for p in profiles:
            print(f"{p['id']}  {p['role']:<11} {p['display_name']}")
    return 0
