"""The site's keys and the public cards that carry trust between the site and its workstations.

* **Site keys** (``SITE/site-keys.json``, 0600): an X25519 key pair (bundles are encrypted to it), an
  Ed25519 key pair (acknowledgements and site packs are signed with it) and a random 32-byte data key
  (sensitive fields at rest in the collection). The three secrets are wrapped together with
  AES-256-GCM under a key derived from ``SAFEMED_SITE_PASSPHRASE`` by Argon2id (the store's own KDF,
  ``store.crypto``); the associated data binds them to the site id and both public keys.
* **Site card** (``SITE/site-card.json``): site id, both public keys, a short fingerprint, self-signed.
  A workstation trusts it with ``safemed sync enroll`` after IT compares the fingerprint by eye.
* **Workstation card**: the store's Ed25519 checkpoint key and the store's id (the workstation id),
  self-signed with that key; the site enrolls it with ``safemed collect accept``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from ..errors import BundleError, InputError, StoreError, WrongPassphraseError
from ..paths import make_dir, write_file_atomic
from ..store import crypto
from .formats import b64, canonical, check_id, expect, fingerprint, read_json_doc, sign_message, unb64

SITE_KEYS_FILE = "site-keys.json"
SITE_CARD_FILE = "site-card.json"
SITE_CARD_FORMAT = "safemed-site-card"
WORKSTATION_CARD_FORMAT = "safemed-workstation-card"
_RAW = serialization.Encoding.Raw


def _pub(key: Any) -> bytes:
    return key.public_key().public_bytes(_RAW, serialization.PublicFormat.Raw)


def _priv(key: Any) -> bytes:
    return key.private_bytes(_RAW, serialization.PrivateFormat.Raw, serialization.NoEncryption())


def verify_signed(doc: dict[str, Any], public: bytes, purpose: str, what: str) -> None:
    """BundleError unless ``doc["signature"]`` is ``public``'s signature of the rest of ``doc``."""
    sig = unb64(doc.get("signature"), f"the signature of {what}")
    body = canonical({k: v for k, v in doc.items() if k != "signature"})
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(sig, sign_message(purpose, body))
    except (InvalidSignature, ValueError):
        raise BundleError(f"{what}: the signature is invalid (altered, or signed by another key)") from None


def signed(doc: dict[str, Any], purpose: str, sign: Callable[[bytes], bytes]) -> dict[str, Any]:
    """``doc`` with its signature; ``sign(message)`` signs the sync message over its canonical form."""
    out = dict(doc)
    out["signature"] = b64(sign(sign_message(purpose, canonical(doc))))
    return out


# ---------------------------------------------------------------------- cards
@dataclass(frozen=True)
class SiteCard:
    site_id: str
    enc_public: bytes  # X25519
    sign_public: bytes  # Ed25519

    @property
    def fingerprint(self) -> str:
        return fingerprint("site", self.site_id, self.enc_public, self.sign_public)

    @classmethod
    def from_doc(cls, doc: dict[str, Any], what: str = "the site card") -> "SiteCard":
        expect(doc, SITE_CARD_FORMAT, 1, what)
        card = cls(check_id(doc.get("site_id"), f"the site id of {what}"),
                   unb64(doc.get("enc_public"), f"the encryption key of {what}"),
                   unb64(doc.get("sign_public"), f"the signing key of {what}"))
        if len(card.enc_public) != 32 or len(card.sign_public) != 32:
            raise BundleError(f"{what}: a public key has the wrong length")
        verify_signed(doc, card.sign_public, "site-card", what)
        if doc.get("fingerprint") != card.fingerprint:
            raise BundleError(f"{what}: the fingerprint does not match its keys")
        return card

    @classmethod
    def read(cls, path: str | Path) -> "SiteCard":
        return cls.from_doc(read_json_doc(path, "site card"), f"site card {path}")


@dataclass(frozen=True)
class WorkstationCard:
    workstation_id: str  # the store's uuid
    site_id: str  # the site the workstation is configured for
    sign_public: bytes  # the store's Ed25519 checkpoint key

    @property
    def fingerprint(self) -> str:
        return fingerprint("workstation", self.workstation_id, self.sign_public)

    def to_doc(self, sign: Callable[[bytes], bytes]) -> dict[str, Any]:
        return signed({"format": WORKSTATION_CARD_FORMAT, "version": 1, "workstation_id": self.workstation_id,
                       "site_id": self.site_id, "sign_public": b64(self.sign_public),
                       "fingerprint": self.fingerprint, "created_at": time.time()}, "workstation-card", sign)

    @classmethod
    def from_doc(cls, doc: dict[str, Any], what: str = "the workstation card") -> "WorkstationCard":
        expect(doc, WORKSTATION_CARD_FORMAT, 1, what)
        card = cls(check_id(doc.get("workstation_id"), f"the workstation id of {what}"),
                   check_id(doc.get("site_id"), f"the site id of {what}"),
                   unb64(doc.get("sign_public"), f"the signing key of {what}"))
        if len(card.sign_public) != 32:
            raise BundleError(f"{what}: the public key has the wrong length")
        verify_signed(doc, card.sign_public, "workstation-card", what)
        return card

    @classmethod
    def read(cls, path: str | Path) -> "WorkstationCard":
        return cls.from_doc(read_json_doc(path, "workstation card"), f"workstation card {path}")


# ---------------------------------------------------------------------- site keys
def _wrap_aad(site_id: str, enc_public: bytes, sign_public: bytes, kdf_json: str) -> bytes:
    return b"|".join((b"safemed-site-keys-v1", site_id.encode(), enc_public, sign_public, kdf_json.encode()))


class SiteKeys:
    """The unlocked site: its card, X25519 decryption key, Ed25519 signer and collection data key."""

    def __init__(self, site_dir: Path, card: SiteCard, enc_private: X25519PrivateKey, signer: Ed25519PrivateKey,
                 data_key: bytearray):
        self.site_dir = site_dir
        self.card = card
        self.enc_private = enc_private
        self.signer = signer
        self._data_key = data_key
        self.cipher = crypto.FieldCipher(data_key)

    @property
    def site_id(self) -> str:
        return self.card.site_id

    def sign(self, message: bytes) -> bytes:
        return self.signer.sign(message)

    def seal_many(self, items: list[tuple[str, str, str | None]]) -> list[bytes | None]:
        """Each ``(type, id, text)``'s text under the data key (None stays None), in ``store.crypto.FieldCipher``'s
        format bound to (type, id, "sealed"), so ``self.cipher.decrypt(type, id, "sealed", blob)`` opens it.
        One AES-GCM object and one call for all the random nonces, for a whole merge."""
        import os

        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        encrypt, version, n = AESGCM(bytes(self._data_key)).encrypt, bytes([crypto.FIELD_VERSION]), crypto.NONCE_BYTES
        nonces = os.urandom(n * len(items))
        prefix = crypto.AAD_PREFIX.decode() + "|"
        out: list[bytes | None] = []
        append = out.append
        for i, (rtype, rid, text) in enumerate(items):
            if text is None:
                append(None)
                continue
            nonce = nonces[i * n:(i + 1) * n]
            append(version + nonce + encrypt(nonce, text.encode(), f"{prefix}{rtype}|{rid}|sealed".encode()))
        return out

    def close(self) -> None:
        crypto.zero(self._data_key)
        self.cipher.close()

    @staticmethod
    def card_doc(card: SiteCard, signer: Ed25519PrivateKey) -> dict[str, Any]:
        return signed({"format": SITE_CARD_FORMAT, "version": 1, "site_id": card.site_id,
                       "enc_public": b64(card.enc_public), "sign_public": b64(card.sign_public),
                       "fingerprint": card.fingerprint, "created_at": time.time()}, "site-card", signer.sign)

    @classmethod
    def create(cls, site_dir: str | Path, site_id: str, passphrase: str,
               kdf_params: crypto.KdfParams | None = None) -> "SiteKeys":
        """New site keys in ``site_dir`` (0700): the wrapped secrets and the public site card."""
        site_id = check_id(site_id, "the site id") if isinstance(site_id, str) else site_id
        if not isinstance(passphrase, str) or len(passphrase) < 8:
            raise InputError("the site passphrase must be at least 8 characters")
        d = Path(site_dir)
        if (d / SITE_KEYS_FILE).exists():
            raise StoreError(f"{d} already holds site keys; refusing to overwrite them")
        make_dir(d)
        params = kdf_params or crypto.KdfParams.default()
        enc, signer, data_key = X25519PrivateKey.generate(), Ed25519PrivateKey.generate(), crypto.new_data_key()
        card = SiteCard(site_id, _pub(enc), _pub(signer))
        kek = crypto.derive_kek(passphrase, params)
        try:
            kdf_json = params.to_json()
            nonce, wrapped = crypto.wrap_key(kek, _priv(enc) + _priv(signer) + bytes(data_key),
                                             _wrap_aad(site_id, card.enc_public, card.sign_public, kdf_json))
        finally:
            crypto.zero(kek)
        keys_doc = {"format": "safemed-site-keys", "version": 1, "site_id": site_id, "kdf": kdf_json,
                    "enc_public": b64(card.enc_public), "sign_public": b64(card.sign_public),
                    "wrap_nonce": b64(nonce), "wrapped": b64(wrapped), "created_at": time.time()}
        write_file_atomic(d / SITE_KEYS_FILE, canonical(keys_doc))
        write_file_atomic(d / SITE_CARD_FILE, canonical(cls.card_doc(card, signer)))
        return cls(d, card, enc, signer, data_key)

    @classmethod
    def unlock(cls, site_dir: str | Path, passphrase: str) -> "SiteKeys":
        d = Path(site_dir)
        path = d / SITE_KEYS_FILE
        if not path.is_file():
            raise StoreError(f"no site keys in {d}", hint="create them with `safemed site init --dir SITE`")
        doc = read_json_doc(path, "site keys")
        expect(doc, "safemed-site-keys", 1, f"site keys {path}")
        site_id = check_id(doc.get("site_id"), "the site id of the site keys")
        enc_pub, sign_pub = unb64(doc.get("enc_public"), "site key"), unb64(doc.get("sign_public"), "site key")
        kdf_json = doc.get("kdf")
        if not isinstance(kdf_json, str):
            raise BundleError(f"site keys {path} lack their key-derivation parameters")
        kek = crypto.derive_kek(passphrase, crypto.KdfParams.from_json(kdf_json))
        try:
            raw = crypto.unwrap_key(kek, unb64(doc.get("wrap_nonce"), "site key nonce"),
                                    unb64(doc.get("wrapped"), "wrapped site keys"),
                                    _wrap_aad(site_id, enc_pub, sign_pub, kdf_json))
        except WrongPassphraseError:
            raise WrongPassphraseError("wrong site passphrase: it does not unlock the site keys",
                                       hint="set SAFEMED_SITE_PASSPHRASE") from None
        finally:
            crypto.zero(kek)
        if len(raw) != 96:
            raise BundleError(f"site keys {path} are damaged")
        enc = X25519PrivateKey.from_private_bytes(bytes(raw[:32]))
        signer = Ed25519PrivateKey.from_private_bytes(bytes(raw[32:64]))
        data_key = bytearray(raw[64:])
        crypto.zero(raw)
        if _pub(enc) != enc_pub or _pub(signer) != sign_pub:
            raise BundleError(f"site keys {path} do not match their public keys")
        return cls(d, SiteCard(site_id, enc_pub, sign_pub), enc, signer, data_key)


def read_site_card_in(site_dir: str | Path) -> SiteCard:
    return SiteCard.read(Path(site_dir) / SITE_CARD_FILE)
