"""``safemed store init|unlock-check|verify|stats|rekey|change-passphrase|add-profile|profiles|close-review``.

``init`` creates the first site administrator (``--admin NAME``, PIN from ``SAFEMED_PROFILE_PIN`` or a
prompt); ``add-profile``, ``rekey`` and ``change-passphrase`` act as a site administrator named by ``--as``
or ``SAFEMED_PROFILE``; the new profile's PIN comes from ``SAFEMED_NEW_PROFILE_PIN`` or a prompt.
"""

from __future__ import annotations

import json
import os
import sys

from ..errors import IntegrityError
from ..records import ROLES
from ._common import (NEW_PASSPHRASE_ENV, NEW_PIN_ENV, PIN_ENV, PROFILE_ENV, add_as_argument, cli_service,
                      profile_name, read_passphrase, read_pin, unlocked_store)


def register(sub) -> None:
    p = sub.add_parser("store", help="the encrypted clinical store")
    ssub = p.add_subparsers(dest="store_command", metavar="ACTION", required=True)
    init = ssub.add_parser("init", help="create the store (asks for a new site passphrase twice)")
    init.add_argument("--site-id", help="pilot site id (default: the configured site_id)")
    init.add_argument("--admin", default="admin", metavar="NAME",
                      help=f"the first site administrator's profile name (default admin; PIN from ${PIN_ENV} or a prompt)")
    init.set_defaults(func=run_init)
    check = ssub.add_parser("unlock-check", help="check that the passphrase (and, with --as, the profile's PIN) "
                            "unlocks the store")
    add_as_argument(check)
    check.set_defaults(func=run_unlock_check)
    verify = ssub.add_parser("verify", help="recompute the audit chain and run SQLite's integrity check")
    verify.add_argument("--json", action="store_true", help="print JSON")
    verify.add_argument("--locked", action="store_true",
                        help="verify without the passphrase (cannot authenticate the signing key)")
    verify.set_defaults(func=run_verify)
    stats = ssub.add_parser("stats", help="record counts and settings (no clinical content)")
    stats.add_argument("--json", action="store_true", help="print JSON")
    stats.set_defaults(func=run_stats)
    rekey = ssub.add_parser("rekey", help="re-encrypt every record under a new data key (site admin)")
    add_as_argument(rekey)
    rekey.set_defaults(func=run_rekey)
    chp = ssub.add_parser("change-passphrase", help=f"change the site passphrase (site admin; new one from "
                          f"{NEW_PASSPHRASE_ENV} or a prompt)")
    add_as_argument(chp)
    chp.set_defaults(func=run_change_passphrase)
    prof = ssub.add_parser("add-profile", help="add a profile (site admin); prints its pseudonymous id; its PIN "
                           f"from ${NEW_PIN_ENV} or a prompt")
    prof.add_argument("display_name")
    prof.add_argument("--role", required=True, choices=ROLES)
    add_as_argument(prof)
    prof.set_defaults(func=run_add_profile)
    review = ssub.add_parser("close-review", help="close a model version's open expert-panel review (reviewer)")
    review.add_argument("model_sha256")
    add_as_argument(review)
    review.set_defaults(func=run_close_review)
    profs = ssub.add_parser("profiles", help="list clinician profiles")
    profs.add_argument("--json", action="store_true", help="print JSON")
    profs.set_defaults(func=run_profiles)


def run_init(args) -> int:
    service = cli_service()
    site = args.site_id or service.config.site_id
    passphrase = read_passphrase("New store passphrase: ", confirm=True)
    pin = read_pin(f"PIN for the site administrator {args.admin}: ", confirm=True)
    with service.create_store(passphrase, site_id=site, admin_name=args.admin, admin_pin=pin) as store:
        admin = store.profile
    print(f"created encrypted store {service.store_path} for site {site}; site administrator "
          f"{admin['display_name']} ({admin['id']})")
    return 0


def run_unlock_check(args) -> int:
    sign_in = bool(args.as_profile or os.environ.get(PROFILE_ENV))
    with unlocked_store(who=args.as_profile, sign_in=sign_in) as store:
        n = store.stats()["records"]["answers"]
        who = f", signed in as {store.profile['display_name']} ({store.profile['role']})" if store.profile else ""
        print(f"ok: the passphrase unlocks {store.path} (site {store.site_id}, {n} answers){who}")
    return 0


def run_verify(args) -> int:
    service = cli_service()
    if args.locked:
        with service.open_store() as store:
            report = service.verify_store(store)
    else:
        with unlocked_store(service, sign_in=False) as store:
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
    with unlocked_store(who=args.as_profile) as store:
        store.rekey()
        gen = store.stats()["key_generation"]
    print(f"ok: every record re-encrypted under a new data key (generation {gen})")
    return 0


def run_change_passphrase(args) -> int:
    service = cli_service()
    name = profile_name(args.as_profile)
    with service.open_store() as store:
        old = read_passphrase("Current passphrase: ")
        new = read_passphrase("New passphrase: ", env=NEW_PASSPHRASE_ENV, confirm=True)
        service.unlock_store(old, store)
        service.authenticate(store, name, read_pin(f"PIN for profile {name}: "))
        store.change_passphrase(old, new)
    print("ok: passphrase changed")
    return 0


def run_add_profile(args) -> int:
    service = cli_service()
    with unlocked_store(service, who=args.as_profile) as store:
        store.require_profile("site_admin")  # refused before the new PIN is asked for
        pin = read_pin(f"PIN for the new profile {args.display_name}: ", env=NEW_PIN_ENV, confirm=True)
        pid, _ = service.add_profile(store, args.display_name, args.role, pin)
        print(pid)
    return 0


def run_profiles(args) -> int:
    with unlocked_store(sign_in=False) as store:
        profiles = store.list_profiles()
    if args.json:
        print(json.dumps(profiles, indent=2))
    else:
        for p in profiles:
            if p.get("failed"):
                print(f"{p['id']}  FAILED      {p['failed']}")
            else:
                print(f"{p['id']}  {p['role']:<11} {p['display_name']}")
    return 0


def run_close_review(args) -> int:
    service = cli_service()
    with unlocked_store(service, who=args.as_profile) as store:
        rid = service.close_model_review(store, args.model_sha256)
    print(f"ok: review {rid} closed")
    return 0
