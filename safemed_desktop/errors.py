"""The one error hierarchy of SafeMed Desktop.

Every error a user can cause or meet carries a one-line, clinician- or IT-readable
message. The CLI prints ``str(error)`` and exits with ``exit_code``; the GUI shows
the same text in a dialog. Nothing is swallowed: code that catches a lower-level
exception re-raises one of these with the cause attached (``raise X(...) from exc``).
"""

from __future__ import annotations


class SafeMedError(Exception):
    """Base class. ``str(err)`` is a complete one-line message for the user."""

    exit_code = 2

    def __init__(self, message: str, *, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:  # one line, hint appended
        if self.hint:
            return f"{self.message} ({self.hint})"
        return self.message


class ConfigError(SafeMedError):
    """The site or user configuration is malformed or inconsistent."""


class InputError(SafeMedError):
    """The user's input is unusable: empty question, bad patient file, invalid UTF-8."""


class PromptTooLongError(InputError):
    """The prompt does not fit the model's context window."""


class ModelError(SafeMedError):
    """A model cannot be used.

    ``status`` is the model file's status when the raiser knows one the error class does not
    imply (missing, not imported, unknown id): a ``model_registry.ModelFileStatus`` (a ``str``
    enum; typed ``str`` here because this bottom layer imports nothing of SafeMed).
    ``model_registry.status_of`` maps every model error to a ``ModelFileStatus``.
    """

    def __init__(self, message: str, *, hint: str | None = None, status: str | None = None):
        super().__init__(message, hint=hint)
        self.status: str | None = status


class ModelNotFoundError(ModelError):
    """No manifest or file for the requested model."""


class ModelFileError(ModelError):
    """The model file is missing, not GGUF, truncated or otherwise corrupt."""


class ModelHashMismatchError(ModelError):
    """The model file's sha256 differs from the one its manifest pins."""


class UnapprovedModelError(ModelError):
    """A model file no manifest names, and site policy forbids unapproved models."""


class ModelLoadError(ModelError):
    """llama.cpp refused to load the model (out of memory, unsupported architecture)."""


class GenerationCancelled(SafeMedError):
    """The user stopped the generation. Not a failure; carries no exit code meaning."""

    exit_code = 130


class GuardBlockedError(SafeMedError):
    """A guard policy blocked the question before the model ran."""


class PackError(SafeMedError):
    """A knowledge pack or rubric file failed validation."""


class StoreError(SafeMedError):
    """The encrypted store cannot do what was asked."""


class WrongPassphraseError(StoreError):
    """The passphrase does not unwrap the data key."""


class StoreLockedError(StoreError):
    """The store is locked (not unlocked in this session, or auto-locked, or busy in another process)."""


class IntegrityError(StoreError):
    """A record, ciphertext or audit link failed verification (tampering or corruption)."""


class AuthenticationError(StoreError):
    """No profile is signed in, the profile is unknown, or its PIN / passphrase is wrong."""


class PermissionDeniedError(SafeMedError):
    """The signed-in profile's role does not allow the action (reviewer-only, admin-only, acting as another)."""


class SchemaTooNewError(StoreError):
    """The database was written by a newer SafeMed than this one."""


class DiskFullError(StoreError):
    """The disk is full; nothing partial was written."""


class BundleError(SafeMedError):
    """A sync bundle is malformed, tampered with, or not for this site."""
