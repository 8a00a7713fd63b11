"""Who acts: sign-in with a profile's PIN, profiles and roles, and the reviewer's expert-panel decision.

Roles are enforced in the store (``Store.require_profile``), so the GUI and the CLI meet the same rules:
profiles are created by a site administrator only (the first one with the store), a clinician acts as
the profile signed in (the audit actor of every write), reviewer-only actions (closing a model's expert
review) and admin-only actions (rekey, passphrase change, profile management) are refused otherwise.
"""

from __future__ import annotations

import tomllib
from typing import TYPE_CHECKING, Any

from ..config import Config, write_config_file
from ..errors import ConfigError, PermissionDeniedError
from ..records.profile import ADMIN_ROLE, REVIEWER_ROLE

if TYPE_CHECKING:
    from ..store import Store


class ProfileService:
    """Sign in, sign out, the signed-in profile, the reviewer's decision, admin checks for views."""

    @staticmethod
    def authenticate(store: "Store", who: str, pin: str) -> dict[str, Any]:
        """Sign in as profile ``who`` (display name or id) with its PIN or passphrase; returns id, role, name."""
        return store.authenticate(who, pin)

    @staticmethod
    def sign_out(store: "Store") -> None:
        store.sign_out()

    @staticmethod
    def signed_in(store: "Store") -> dict[str, Any] | None:
        return store.profile

    @staticmethod
    def list_profiles(store: "Store") -> list[dict[str, Any]]:
        return store.list_profiles()

    @staticmethod
    def close_model_review(store: "Store", model_sha256: str) -> str:
        """Reviewers only: close the open expert-panel review of a model version (an escalation decision)."""
        store.require_profile(REVIEWER_ROLE)
        return store.close_model_review(model_sha256)

    @staticmethod
    def require_admin(store: "Store") -> dict[str, Any]:
        """The signed-in site administrator (for admin-only settings such as the guard policy)."""
        return store.require_profile(ADMIN_ROLE)

    def set_guard_policy(self, store: "Store", policy: dict[str, str]) -> Config:
        """Site administrators only: write the per-signal guard policy into the site config file; returns the
        effective config with it (validated first: ConfigError, nothing written)."""
        store.require_profile(ADMIN_ROLE)
        config: Config = self.config  # type: ignore[attr-defined]  (SafeMedService holds it)
        updated = config.with_overrides({"guard": dict(policy)}, source=f"site:{config.paths.site_config_file}")
        site = config.paths.site_config_file
        try:
            existing = tomllib.loads(site.read_text(encoding="utf-8")) if site.exists() else {}
            existing["guard"] = dict(policy)
            write_config_file(site, existing)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot update the site policy in {site}: {exc}") from exc
        self.config = updated  # type: ignore[attr-defined]
        return updated

    @staticmethod
    def require_role(store: "Store", *roles: str) -> dict[str, Any]:
        return store.require_profile(*roles)


__all__ = ["ProfileService", "PermissionDeniedError"]
