"""Clinician profiles: the roles a profile may hold, and the roles the core checks for."""

from __future__ import annotations

#: Every role a clinician profile may hold (the store's schema checks the same list).
ROLES: tuple[str, ...] = ("resident", "attending", "pharmacist", "nurse", "reviewer", "site_admin")

#: Manages profiles, rekeys the store, changes the site passphrase and the guard policy (the first profile).
ADMIN_ROLE = "site_admin"
#: Takes expert-panel decisions (e.g. closing a model version's review after the five-strike rule).
REVIEWER_ROLE = "reviewer"
