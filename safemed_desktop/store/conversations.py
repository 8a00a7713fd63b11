"""Conversations: threads of turns, each turn one stored answer (its own question and patient snapshot).

A conversation row holds its title (from the first question, encrypted) and who started it; a turn row
places one answer in its conversation at a position. The answer row itself is the turn's content: the
question, the patient snapshot, the answer, reasoning and signals, encrypted like every answer. Rows are
never updated or deleted (append-only, like answers), so every row keeps matching its audit event.

Renaming and archiving append a ``conversation_changes`` row (kind ``rename`` with the new title, encrypted,
or ``archive``/``unarchive``), numbered per conversation; the newest rename gives the title, the newest
archive/unarchive whether the conversation is archived (hidden from the list unless asked for, never
deleted). Only the clinician who started a conversation renames or archives it.

Functions here take the ``Store`` and are called by its facade methods, under its lock; writes go
through ``Store._transaction`` (audit events and a signed checkpoint in the same transaction), reads
check every row against the verified, signed chain (``Store._verified``). Both need a signed-in profile.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ..errors import InputError, IntegrityError, PermissionDeniedError
from ..records.answer import AnswerRecord, new_id
from ..records.signal import LEVEL_RANK
from . import rows

if TYPE_CHECKING:
    from .store import Store

TITLE_CHARS = 80


def title_from(question: str) -> str:
    """A conversation's title: the first line of its first question, at most ``TITLE_CHARS`` characters."""
    line = next((ln.strip() for ln in question.strip().splitlines() if ln.strip()), "")
    return line if len(line) <= TITLE_CHARS else line[: TITLE_CHARS - 1].rstrip() + "\u2026"


def _conversation(store: "Store", conversation_id: str) -> dict[str, Any]:
    """One conversation row, verified against the signed chain (InputError when there is none)."""
    return store._verified("conversations", conversation_id, "conversation")


def _changes(store: "Store", conversation_id: str) -> list[dict[str, Any]]:
    """A conversation's renames and archivings, oldest first, each verified against the signed chain."""
    return store._verified_rows("conversation_changes", "conversation_id = ?", [conversation_id], order_by="seq")


def _state(cipher: Any, row: dict[str, Any], changes: list[dict[str, Any]]) -> tuple[str, bool]:
    """(current title, archived) of a conversation row after its changes."""
    title = rows.decrypt_field(cipher, "conversations", row, "title_enc") or ""
    archived = False
    for ch in changes:
        if ch["kind"] == "rename":
            title = rows.decrypt_field(cipher, "conversation_changes", ch, "title_enc") or title
        else:
            archived = ch["kind"] == "archive"
    return title, archived


def check_title(title: Any) -> str:
    """A new title given by a clinician: one line of text, at most ``TITLE_CHARS`` characters."""
    if not isinstance(title, str) or not title.strip():
        raise InputError("a conversation title cannot be empty")
    title = title.strip()
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in title):
        raise InputError("a conversation title is one line of text (no line breaks or control characters)")
    if len(title) > TITLE_CHARS:
        raise InputError(f"a conversation title is at most {TITLE_CHARS} characters (this one has {len(title)})")
    return title


def _append_change(store: "Store", conversation_id: str, kind: str, title: str | None = None) -> int:
    """Append one rename/archive/unarchive of the signed-in clinician's own conversation, audited in the same
    transaction; returns its number in the conversation's changes."""
    me = store.require_profile()["id"]
    with store._transaction() as tx:
        cipher = store._keys.cipher_or_raise()
        row = _conversation(store, conversation_id)
        if row["clinician_id"] != me:
            raise PermissionDeniedError("only the clinician who started a conversation may rename or archive it")
        changes = _changes(store, row["id"])
        current, archived = _state(cipher, row, changes)
        if kind == "rename" and title == current:
            raise InputError("the conversation already has this title")
        if kind == "archive" and archived:
            raise InputError(f"conversation {row['id']} is already archived")
        if kind == "unarchive" and not archived:
            raise InputError(f"conversation {row['id']} is not archived")
        last = store._conn.execute("SELECT MAX(seq) FROM conversation_changes WHERE conversation_id = ?",
                                   [row["id"]]).fetchone()[0]
        seq = (last or 0) + 1
        change_id = new_id()
        tx.insert("conversation_changes", {
            "id": change_id, "conversation_id": row["id"], "seq": seq, "clinician_id": me,
            "created_at": store._now(), "kind": kind,
            "title_enc": (cipher.encrypt("conversation_changes", change_id, "title_enc", title)
                          if title is not None else None)}, me, f"{kind}_conversation")
    return seq


def rename(store: "Store", conversation_id: str, title: str) -> str:
    """Give the signed-in clinician's conversation a new title (one line; the old ones stay on record)."""
    title = check_title(title)
    _append_change(store, conversation_id, "rename", title)
    return title


def set_archived(store: "Store", conversation_id: str, archived: bool = True) -> None:
    """Archive (hide from the list; nothing is deleted) or un-archive the signed-in clinician's conversation."""
    _append_change(store, conversation_id, "archive" if archived else "unarchive")


def save_turn(store: "Store", conversation_id: str | None, record: AnswerRecord,
              clinician_id: str | None = None) -> tuple[str, int]:
    """Store ``record`` as the next turn of ``conversation_id`` (a new conversation when None), in one
    transaction with its answer row, as the signed-in profile; returns (conversation id, turn position).
    ``clinician_id``, when given, must be the signed-in profile."""
    if not isinstance(record, AnswerRecord):
        raise InputError(f"a turn needs an AnswerRecord, got {type(record).__name__}")
    actor = store.require_profile()["id"]
    if clinician_id is not None and clinician_id != actor:
        raise InputError("a turn is stored by the clinician who is signed in")
    clinician_id = actor
    with store._transaction() as tx:
        cipher = store._keys.cipher_or_raise()
        now = store._now()
        if conversation_id is None:
            cid, position = new_id(), 1
            tx.insert("conversations", {
                "id": cid, "created_at": now, "clinician_id": clinician_id,
                "title_enc": cipher.encrypt("conversations", cid, "title_enc", title_from(record.question))}, actor)
        else:
            cid = _conversation(store, conversation_id)["id"]
            last = store._conn.execute("SELECT MAX(position) FROM conversation_turns WHERE conversation_id = ?",
                                       [cid]).fetchone()[0]
            position = (last or 0) + 1
        if store._row("answers", record.id) is not None:
            raise InputError(f"an answer with id {record.id} is already stored")
        tx.insert("answers", rows.answer_row(record, cipher), actor)
        tx.insert("conversation_turns", {"id": new_id(), "conversation_id": cid, "answer_id": record.id,
                                         "position": position, "created_at": now}, actor)
    return cid, position


def _worst(levels_json: list[str]) -> str:
    worst = "not_assessed"
    for raw in levels_json:
        for entry in json.loads(raw):
            if LEVEL_RANK.get(entry["level"], -1) > LEVEL_RANK.get(worst, -1):
                worst = entry["level"]
    return worst


def list_conversations(store: "Store", search: str | None = None, limit: int = 200,
                       include_archived: bool = False) -> list[dict[str, Any]]:
    """The signed-in clinician's own conversations, newest activity first: id, title, created/updated times, number of turns, worst signal level, whether a
    turn was blocked or stopped, whether it is archived. ``search`` matches the title or any turn's question or
    answer (after decryption, case-insensitively). Archived conversations are left out unless
    ``include_archived``. A conversation that fails verification is listed with an ``error``."""
    me = store.require_profile()["id"]  # a clinical read: someone is signed in; their own conversations
    cipher = store._keys.cipher_or_raise()
    needle = search.casefold().strip() if search else None
    found = store._conn.execute(
        "SELECT c.id, c.created_at, MAX(t.created_at) AS updated FROM conversations c "
        "LEFT JOIN conversation_turns t ON t.conversation_id = c.id WHERE c.clinician_id = ? "
        "GROUP BY c.id ORDER BY COALESCE(updated, c.created_at) DESC", [me]).fetchall()
    out: list[dict[str, Any]] = []
    for cid, created, updated in found:
        if len(out) >= limit:
            break
        try:
            row = store._verified("conversations", cid, "conversation")
            title, archived = _state(cipher, row, _changes(store, cid))
            if archived and not include_archived:
                continue
            turns = store._verified_rows("conversation_turns", "conversation_id = ?", [cid], order_by="position")
            answers = [store._verified("answers", t["answer_id"], "answer") for t in turns]
        except (IntegrityError, InputError) as exc:  # this conversation only; its values are not shown
            if needle is None:
                out.append({"id": cid, "created_at": created, "updated_at": updated or created, "title": "",
                            "error": str(exc)})
            continue
        if needle and needle not in title.casefold():
            texts = ((rows.decrypt_field(cipher, "answers", a, "question_enc") or "") + "\n"
                     + (rows.decrypt_field(cipher, "answers", a, "answer_enc") or "") for a in answers)
            if not any(needle in t.casefold() for t in texts):
                continue
        out.append({
            "id": cid, "title": title, "created_at": row["created_at"], "updated_at": updated or row["created_at"],
            "clinician_id": row["clinician_id"], "n_turns": len(turns),
            "worst_level": _worst([a["signal_levels"] for a in answers if not a["blocked"]]),
            "blocked": any(a["blocked"] for a in answers),
            "incomplete": any(a["finish_reason"] in ("cancelled", "length") for a in answers),
            "archived": archived,
        })
    return out


def get_conversation(store: "Store", conversation_id: str) -> dict[str, Any]:
    """One conversation with every turn's full record (oldest first), each verified and decrypted."""
    store.require_profile()
    cipher = store._keys.cipher_or_raise()
    row = _conversation(store, conversation_id)
    turns = store._verified_rows("conversation_turns", "conversation_id = ?", [conversation_id], order_by="position")
    changes = _changes(store, row["id"])
    title, archived = _state(cipher, row, changes)
    return {"id": row["id"], "created_at": row["created_at"], "clinician_id": row["clinician_id"],
            "title": title, "archived": archived,
            "changes": [{"kind": c["kind"], "created_at": c["created_at"], "clinician_id": c["clinician_id"]}
                        for c in changes],
            "turns": [rows.answer_record(store._verified("answers", t["answer_id"], "answer"), cipher) for t in turns]}


def conversation_of(store: "Store", answer_id: str) -> str | None:
    """The conversation an answer is a turn of (None for an answer stored on its own)."""
    store.require_profile()
    found = store._verified_rows("conversation_turns", "answer_id = ?", [answer_id])
    return found[0]["conversation_id"] if found else None


__all__ = ["save_turn", "list_conversations", "get_conversation", "conversation_of", "title_from", "rename",
           "set_archived", "check_title"]
