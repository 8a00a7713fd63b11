"""Cryptography of the store: passphrase KDF, data-key wrapping, per-field AES-256-GCM.

* The **data key** (32 random bytes) encrypts every sensitive field.
* The **key-encryption key** (KEK) is derived from the site passphrase with Argon2id
  (scrypt where argon2-cffi is unavailable); it only wraps the data key.
* Every field ciphertext is ``VERSION(1) || nonce(12) || AES-GCM(ciphertext || tag16)``
  with a fresh random 96-bit nonce and associated data binding it to
  ``table / row id / column``: a ciphertext copied to another row or column fails to
  decrypt.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..errors import IntegrityError, StoreError, WrongPassphraseError

try:  # argon2-cffi low-level API
    from argon2.low_level import Type as _Argon2Type
    from argon2.low_level import hash_secret_raw as _argon2_raw
except ImportError:  # pragma: no cover - exercised only where argon2-cffi is missing
    _argon2_raw = None

FIELD_VERSION = 1
NONCE_BYTES = 12
KEY_BYTES = 32
AAD_PREFIX = b"safemed-field-v1"


@dataclass(frozen=True)
class KdfParams:
    """Passphrase KDF parameters; stored (in clear) next to the wrapped key they produced.

    Defaults (Argon2id, t=3, m=64 MiB, p=2) follow RFC 9106's second recommended option
    scaled to a clinic workstation: ~0.3-0.6 s per unlock. ``fast_for_tests()`` gives
    cheap parameters for test suites only.
    """

    algorithm: str = "argon2id"  # "argon2id" | "scrypt"
    time_cost: int = 3
    memory_cost_kib: int = 64 * 1024
    parallelism: int = 2
    salt_hex: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> "KdfParams":
        try:
            d = json.loads(text)
            return cls(**d)
        except (ValueError, TypeError) as exc:
            raise StoreError(f"stored key-derivation parameters are unreadable: {exc}") from exc

    def with_new_salt(self) -> "KdfParams":
        return KdfParams(self.algorithm, self.time_cost, self.memory_cost_kib, self.parallelism, os.urandom(16).hex())

    @classmethod
    def default(cls) -> "KdfParams":
        algorithm = "argon2id" if _argon2_raw is not None else "scrypt"
        if algorithm == "scrypt":  # N=2^16, r=8 -> 64 MiB; p stored as parallelism
            return cls("scrypt", 16, 8, 1).with_new_salt()
        return cls().with_new_salt()

    @classmethod
    def fast_for_tests(cls) -> "KdfParams":
        """Cheap Argon2id (t=1, m=1 MiB). For test suites only: never for a real store."""
        if _argon2_raw is None:  # pragma: no cover
            return cls("scrypt", 10, 8, 1).with_new_salt()
        return cls("argon2id", 1, 1024, 1).with_new_salt()


def derive_kek(passphrase: str, params: KdfParams) -> bytearray:
    """Derive the 32-byte key-encryption key from the passphrase."""
    if not isinstance(passphrase, str) or not passphrase:
        raise WrongPassphraseError("the passphrase is empty")
    secret = passphrase.encode("utf-8")
    salt = bytes.fromhex(params.salt_hex)
    if len(salt) < 16:
        raise StoreError("stored key-derivation salt is too short")
    if params.algorithm == "argon2id":
        if _argon2_raw is None:  # pragma: no cover
            raise StoreError("this store uses Argon2id but argon2-cffi is not installed")
        out = _argon2_raw(secret, salt, time_cost=params.time_cost, memory_cost=params.memory_cost_kib,
                          parallelism=params.parallelism, hash_len=KEY_BYTES, type=_Argon2Type.ID)
    elif params.algorithm == "scrypt":
        from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

        # time_cost holds log2(N), memory_cost_kib holds r, parallelism holds p
        out = Scrypt(salt=salt, length=KEY_BYTES, n=2 ** params.time_cost, r=params.memory_cost_kib,
                     p=params.parallelism).derive(secret)
    else:
        raise StoreError(f"unknown key-derivation algorithm {params.algorithm!r}")
    return bytearray(out)


def new_data_key() -> bytearray:
    return bytearray(os.urandom(KEY_BYTES))


def wrap_key(kek: bytes | bytearray, key: bytes | bytearray, aad: bytes) -> tuple[bytes, bytes]:
    """Encrypt ``key`` under ``kek``; returns (nonce, ciphertext+tag)."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce, AESGCM(bytes(kek)).encrypt(nonce, bytes(key), aad)


def unwrap_key(kek: bytes | bytearray, nonce: bytes, wrapped: bytes, aad: bytes) -> bytearray:
    """Decrypt a wrapped key; a wrong KEK (wrong passphrase) raises WrongPassphraseError."""
    try:
        return bytearray(AESGCM(bytes(kek)).decrypt(nonce, wrapped, aad))
    except InvalidTag:
        raise WrongPassphraseError("wrong passphrase: it does not unlock this store") from None


def zero(buf: bytearray | None) -> None:
    """Overwrite a key buffer in place (best effort: Python may hold other copies)."""
    if buf is not None:
        for i in range(len(buf)):
            buf[i] = 0


def field_aad(table: str, row_id: str, column: str) -> bytes:
    return b"|".join((AAD_PREFIX, table.encode(), row_id.encode(), column.encode()))


class FieldCipher:
    """AES-256-GCM per field, bound to (table, row id, column)."""

    def __init__(self, data_key: bytes | bytearray):
        if len(data_key) != KEY_BYTES:
            raise StoreError("data key must be 32 bytes")
        self._aead: AESGCM | None = AESGCM(bytes(data_key))

    def close(self) -> None:
        self._aead = None

    def _get(self) -> AESGCM:
        if self._aead is None:
            raise StoreError("field cipher used after the store was locked")
        return self._aead

    def encrypt(self, table: str, row_id: str, column: str, plaintext: str | bytes | None) -> bytes | None:
        if plaintext is None:
            return None
        data = plaintext.encode("utf-8") if isinstance(plaintext, str) else bytes(plaintext)
        nonce = os.urandom(NONCE_BYTES)
        return bytes([FIELD_VERSION]) + nonce + self._get().encrypt(nonce, data, field_aad(table, row_id, column))

    def decrypt_bytes(self, table: str, row_id: str, column: str, blob: bytes | None) -> bytes | None:
        if blob is None:
            return None
        where = f"{table}.{column} of record {row_id}"
        if not isinstance(blob, (bytes, bytearray)) or len(blob) < 1 + NONCE_BYTES + 16:
            raise IntegrityError(f"{where} is not a valid ciphertext (truncated or wrong type)")
        if blob[0] != FIELD_VERSION:
            raise IntegrityError(f"{where} has unknown ciphertext version {blob[0]}")
        nonce, body = bytes(blob[1:1 + NONCE_BYTES]), bytes(blob[1 + NONCE_BYTES:])
        try:
            return self._get().decrypt(nonce, body, field_aad(table, row_id, column))
        except InvalidTag:
            raise IntegrityError(f"{where} failed authentication: the ciphertext, nonce or record id "
                                 "was altered or belongs elsewhere") from None

    def decrypt(self, table: str, row_id: str, column: str, blob: bytes | None) -> str | None:
        raw = self.decrypt_bytes(table, row_id, column, blob)
        if raw is None:
            return None
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:  # authenticated but not text: a programming error
            raise IntegrityError(f"{table}.{column} of record {row_id} is not UTF-8 text") from exc
