"""Clinician profiles: the roles a profile may hold."""

from __future__ import annotations

#: Every role a clinician profile may hold (the store's schema checks the same list).
ROLES: tuple[str, ...] = ("resident", "attending", "pharmacist", "nurse", "reviewer", "site_admin")
