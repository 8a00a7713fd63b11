"""Per-profile credentials: a PIN or passphrase that proves who is acting, wrapping nothing but the identity.

A profile's credential row holds its Argon2id parameters (salt included) and the profile's own id
sealed with AES-256-GCM under the key derived from its PIN, with associated data binding it to the
store and the profile. Authenticating opens the seal: a wrong PIN fails the tag, and a row copied
from another profile or store fails the associated data. The row is audited like every row, so a
credential written outside SafeMed (a forged PIN for an administrator) fails the chain check. The
site passphrase still opens the data key; the PIN only says which profile acts.
"""

from __future__ import annotations

from typing import Any

from ..errors import AuthenticationError, InputError, WrongPassphraseError
from . import crypto

MIN_PIN_LEN = 4
MAX_PIN_LEN = 1024


def check_new_pin(pin: Any) -> str:
    if not isinstance(pin, str) or len(pin) < MIN_PIN_LEN:
        raise InputError(f"a profile PIN or passphrase must be at least {MIN_PIN_LEN} characters")
    if len(pin) > MAX_PIN_LEN:
        raise InputError(f"a profile PIN or passphrase must be at most {MAX_PIN_LEN} characters")
    return pin


def _aad(store_uuid: str, profile_id: str, kdf_json: str) -> bytes:
    return f"safemed-credential-v1|{store_uuid}|{profile_id}|{kdf_json}".encode()


def credential_row(profile_id: str, pin: str, store_uuid: str, params: crypto.KdfParams, now: float) -> dict[str, Any]:
    """The credential row of ``profile_id`` for ``pin`` (fresh salt; ``params`` give the Argon2id cost)."""
    check_new_pin(pin)
    params = params.with_new_salt()
    kdf_json = params.to_json()
    key = crypto.derive_kek(pin, params)
    try:
        nonce, sealed = crypto.wrap_key(key, profile_id.encode(), _aad(store_uuid, profile_id, kdf_json))
    finally:
        crypto.zero(key)
    return {"id": profile_id, "kdf": kdf_json, "nonce": nonce, "sealed_id": sealed, "created_at": now}


def open_credential(row: dict[str, Any], pin: str, store_uuid: str, label: str) -> None:
    """AuthenticationError unless ``pin`` opens the credential of ``row['id']`` (``label`` names the profile)."""
    if not isinstance(pin, str) or not pin:
        raise AuthenticationError(f"no PIN given for profile {label}")
    key = crypto.derive_kek(pin, crypto.KdfParams.from_json(row["kdf"]))
    try:
        opened = crypto.unwrap_key(key, bytes(row["nonce"]), bytes(row["sealed_id"]),
                                   _aad(store_uuid, row["id"], row["kdf"]))
    except WrongPassphraseError:
        raise AuthenticationError(f"wrong PIN for profile {label}") from None
    finally:
        crypto.zero(key)
    if bytes(opened) != row["id"].encode():
        raise AuthenticationError(f"the credential of profile {label} does not seal its identity")
