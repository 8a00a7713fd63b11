"""The random A/B assignment of a study and its salted commitment.

For each case a fair coin (``secrets``) decides whether the model's answer is shown as A or as B.
At creation the study commits to the whole assignment: with a 32-byte secret salt,

    case commitment = sha256("safemed-study-case-v1" | salt | study id | case id | "model=A" or "model=B")
    root commitment = sha256("safemed-study-root-v1" | case commitments in case order)

The salt and the assignment are stored encrypted; the commitments are stored in clear and their
records are covered by the audit chain from creation. Unblinding recomputes both from the salt and
the stored assignment: a changed assignment (or a changed case commitment) no longer matches.
Without the salt a commitment reveals nothing (two candidates, but 256 bits of salt).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Callable, Iterable

SIDES = ("A", "B")
SALT_BYTES = 32


@dataclass(frozen=True)
class Assignment:
    case_id: str
    model_side: str  # "A" or "B"

    @property
    def resident_side(self) -> str:
        return "B" if self.model_side == "A" else "A"


def new_salt() -> bytes:
    return secrets.token_bytes(SALT_BYTES)


def draw_assignments(case_ids: Iterable[str], coin: Callable[[], int] | None = None) -> list[Assignment]:
    """One fair coin per case (``coin() -> 0|1``; default ``secrets.randbelow(2)``)."""
    flip = coin or (lambda: secrets.randbelow(2))
    return [Assignment(cid, SIDES[flip()]) for cid in case_ids]


def _field(b: bytes) -> bytes:
    return len(b).to_bytes(4, "big") + b


def case_commitment(salt: bytes, study_id: str, case_id: str, model_side: str) -> str:
    if model_side not in SIDES:
        raise ValueError(f"model side must be A or B, got {model_side!r}")
    body = b"".join(_field(x) for x in (b"safemed-study-case-v1", salt, study_id.encode(), case_id.encode(),
                                          f"model={model_side}".encode()))
    return hashlib.sha256(body).hexdigest()


def root_commitment(case_commitments: Iterable[str]) -> str:
    body = _field(b"safemed-study-root-v1") + b"".join(_field(bytes.fromhex(c)) for c in case_commitments)
    return hashlib.sha256(body).hexdigest()


def matches(expected: str, actual: str) -> bool:
    return hmac.compare_digest(expected.encode(), actual.encode())


def check_revealed(study_name: str, salt: bytes, assignment: dict[str, str],
                   cases: list[tuple[str, str]], root: str) -> str | None:
    """Check a revealed salt and assignment against the commitments: ``cases`` are (case id, case commitment)
    in study order, ``root`` the root committed at creation. None when everything matches, else what failed."""
    for case_id, commitment in cases:
        side = assignment.get(case_id)
        if side not in SIDES or not matches(commitment, case_commitment(salt, study_name, case_id, side)):
            return f"the A/B assignment of case {case_id} does not match its commitment"
    if not matches(root, root_commitment(c for _, c in cases)):
        return "the case commitments do not match the commitment recorded at creation"
    return None
