"""Key lifecycle: the key-ring row, unlock and lock, rekey, passphrase change.

The key ring (one row, id ``data``) holds the data key wrapped under the key-encryption key
(KEK, derived from the site passphrase; see ``crypto``) and the workstation's Ed25519
checkpoint key, encrypted under the data key. ``KeyRing`` keeps the unwrapped secrets in
memory only while the store is unlocked, and overwrites them with zeros on ``drop``.
"""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlite_utils import Database

from ..errors import InputError, IntegrityError, StoreLockedError
from . import crypto
from .audit import latest_digests, record_digest
from .connection import Tx
from .schema import SENSITIVE_COLUMNS

MIN_PASSPHRASE_LEN = 8
WORKSTATION = "workstation"  # the actor of writes no clinician made (key ring, metadata, re-encryption)
REENCRYPT_CHUNK = 500


def check_new_passphrase(passphrase: str) -> None:
    if not isinstance(passphrase, str) or len(passphrase) < MIN_PASSPHRASE_LEN:
        raise InputError(f"the passphrase must be at least {MIN_PASSPHRASE_LEN} characters")


def locked_error() -> StoreLockedError:
    return StoreLockedError("the store is locked", hint="unlock it with the site passphrase")


def _sign_col(public: bytes) -> str:
    """Associated-data column label binding the encrypted signing key to its public key."""
    return "sign_private_enc|" + bytes(public).hex()


def _wrap_aad(store_uuid: str, kdf_json: str, generation: int) -> bytes:
    return f"safemed-keyring-v1|{store_uuid}|{generation}|{kdf_json}".encode()


def _public_bytes(signer: Ed25519PrivateKey) -> bytes:
    return signer.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def signing_key_matches(ring: dict[str, Any], cipher: crypto.FieldCipher) -> bool:
    """The ring's private checkpoint key decrypts under ``cipher`` and belongs to its public key."""
    try:
        priv = cipher.decrypt_bytes("keyring", "data", _sign_col(ring["sign_public"]), ring["sign_private_enc"])
        return _public_bytes(Ed25519PrivateKey.from_private_bytes(priv)) == bytes(ring["sign_public"])
    except (IntegrityError, ValueError):
        return False


class KeyRing:
    """The unlocked store's secrets: KEK, data key, field cipher, checkpoint signer and key generation."""

    def __init__(self) -> None:
        self.kek: bytearray | None = None
        self.data_key: bytearray | None = None
        self.cipher: crypto.FieldCipher | None = None
        self.signer: Ed25519PrivateKey | None = None
        self.generation = 0

    @property
    def unlocked(self) -> bool:
        return self.cipher is not None

    def cipher_or_raise(self) -> crypto.FieldCipher:
        if self.cipher is None:
            raise locked_error()
        return self.cipher

    def sign(self, message: bytes) -> bytes:
        if self.signer is None:
            raise locked_error()
        return self.signer.sign(message)

    def load(self, kek: bytearray, data_key: bytearray, signer: Ed25519PrivateKey, generation: int) -> None:
        self.drop()
        self.kek, self.data_key, self.signer = kek, data_key, signer
        self.cipher = crypto.FieldCipher(data_key)
        self.generation = generation

    def create(self, passphrase: str, params: crypto.KdfParams) -> None:
        """Fresh secrets for a new store: KEK from the passphrase, random data key, new checkpoint key."""
        self.load(crypto.derive_kek(passphrase, params), crypto.new_data_key(), Ed25519PrivateKey.generate(), 1)

    def drop(self) -> None:
        """Forget every key (key buffers are overwritten with zeros)."""
        crypto.zero(self.kek)
        crypto.zero(self.data_key)
        if self.cipher is not None:
            self.cipher.close()
        self.kek = self.data_key = None
        self.cipher = None
        self.signer = None

    def unlock(self, ring: dict[str, Any], passphrase: str, store_uuid: str) -> None:
        """Derive the KEK, unwrap the data key, load the signing key (``ring`` already verified)."""
        kek = crypto.derive_kek(passphrase, crypto.KdfParams.from_json(ring["kdf"]))
        data_key = None
        try:
            data_key = crypto.unwrap_key(kek, ring["wrap_nonce"], ring["wrapped_key"],
                                         _wrap_aad(store_uuid, ring["kdf"], ring["key_generation"]))
            priv = crypto.FieldCipher(data_key).decrypt_bytes("keyring", "data", _sign_col(ring["sign_public"]),
                                                              ring["sign_private_enc"])
            signer = Ed25519PrivateKey.from_private_bytes(priv)
            if _public_bytes(signer) != bytes(ring["sign_public"]):
                raise IntegrityError("the workstation signing key does not match its public key")
        except BaseException:  # WrongPassphraseError above all: keep no key material
            crypto.zero(kek)
            crypto.zero(data_key)
            raise
        self.load(kek, data_key, signer, ring["key_generation"])

    def check_passphrase(self, ring: dict[str, Any], passphrase: str, store_uuid: str) -> None:
        """WrongPassphraseError unless ``passphrase`` unwraps the ring's data key. Keeps nothing."""
        probe = crypto.derive_kek(passphrase, crypto.KdfParams.from_json(ring["kdf"]))
        try:
            crypto.unwrap_key(probe, ring["wrap_nonce"], ring["wrapped_key"],
                              _wrap_aad(store_uuid, ring["kdf"], ring["key_generation"]))
        finally:
            crypto.zero(probe)

    def row(self, store_uuid: str, params: crypto.KdfParams, ts: float, *, kek: bytearray | None = None,
            data_key: bytearray | None = None, cipher: crypto.FieldCipher | None = None,
            generation: int | None = None) -> dict[str, Any]:
        """The key-ring row: data key wrapped under the KEK, signing key encrypted under the data key.

        The keyword arguments replace the current secrets (a new KEK, or a new data key and generation).
        """
        kek = kek if kek is not None else self.kek
        data_key = data_key if data_key is not None else self.data_key
        cipher = cipher if cipher is not None else self.cipher_or_raise()
        generation = generation if generation is not None else self.generation
        if kek is None or data_key is None or self.signer is None:
            raise locked_error()
        kdf_json = params.to_json()
        nonce, wrapped = crypto.wrap_key(kek, data_key, _wrap_aad(store_uuid, kdf_json, generation))
        pub = _public_bytes(self.signer)
        priv_raw = self.signer.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                             serialization.NoEncryption())
        return {"id": "data", "kdf": kdf_json, "key_generation": generation, "wrap_nonce": nonce,
                "wrapped_key": wrapped, "sign_public": pub,
                "sign_private_enc": cipher.encrypt("keyring", "data", _sign_col(pub), priv_raw),
                "updated_at": ts}

    def use_kek(self, kek: bytearray) -> None:
        """Switch to a new KEK (after a committed passphrase change); the old one is zeroed."""
        old, self.kek = self.kek, kek
        crypto.zero(old)

    def use_data_key(self, data_key: bytearray, cipher: crypto.FieldCipher) -> None:
        """Switch to a new data key (after a committed rekey); the old one is zeroed."""
        old_key, old_cipher = self.data_key, self.cipher
        self.data_key, self.cipher = data_key, cipher
        self.generation += 1
        crypto.zero(old_key)
        if old_cipher is not None:
            old_cipher.close()


def reencrypt(db: Database, tx: Tx, old: crypto.FieldCipher, new: crypto.FieldCipher) -> None:
    """Rewrite every sensitive field under ``new``; IntegrityError (nothing kept) if a record was altered."""
    for table, cols in SENSITIVE_COLUMNS.items():
        latest = latest_digests(tx.conn, table)
        ids = [r["id"] for r in db[table].rows_where(select="id")]
        for start in range(0, len(ids), REENCRYPT_CHUNK):  # read a chunk, then rewrite it
            chunk = ids[start:start + REENCRYPT_CHUNK]
            for row in list(db[table].rows_where(f"id IN ({', '.join('?' * len(chunk))})", chunk)):
                if latest.get(row["id"]) != record_digest(table, row):
                    raise IntegrityError(f"{table} record {row['id']} was altered on disk; rekey refused",
                                         hint="run `safemed store verify`")
                for col in cols:
                    row[col] = new.encrypt(table, row["id"], col, old.decrypt_bytes(table, row["id"], col, row[col]))
                tx.update(table, row, WORKSTATION, "reencrypt")
