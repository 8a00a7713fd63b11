"""Property (issue 10): whatever an attacker edits, deletes, swaps or inserts in a copy of a store (rows and audit
events alike, triggers dropped), the next ordinary write is refused or ``verify`` fails: never "verify passes
with the forgery in place"."""

from __future__ import annotations

import functools
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from safemed_desktop.errors import SafeMedError
from safemed_desktop.rubric import load_rubric
from safemed_desktop.store import KdfParams, Store
from safemed_desktop.store.audit import event_hash, record_digest
from safemed_desktop.store.schema import AUDITED_TABLES

from .conftest import ADMIN_PIN, PASSPHRASE, PIN, make_answer

TARGETS = tuple(AUDITED_TABLES) + ("audit", "checkpoints")


@functools.lru_cache(maxsize=1)
def base_store() -> tuple[Path, Path, str, str]:
    """A small real store (profiles, answers, feedback, an edit, an acknowledgement, a model review), closed,
    and its anchor folder. Built once; each example works on its own copy."""
    root = Path(tempfile.mkdtemp(prefix="safemed-forgery-"))
    path, anchors = root / "base.db", root / "anchors"
    s = Store.create(path, PASSPHRASE, "site", kdf_params=KdfParams.fast_for_tests(), admin_pin=ADMIN_PIN,
                     anchor_dir=anchors)
    doc = s.add_profile("Dr Property", "attending", PIN)
    s.authenticate(doc, PIN)
    rubric = load_rubric()
    answers = [make_answer(f"question {i}") for i in range(5)]
    s.save_answers(answers)
    for i, a in enumerate(answers):
        s.add_feedback(a.id, doc, rubric, {"medical_correctness": 1 + (i > 3)}, comment=f"comment {i}")
    s.add_edit(answers[0].id, "an edited text", doc)
    s.record_acknowledgement(answers[1].id, doc, "medication_safety")
    s.close()
    return path, anchors, doc, answers[0].id


def dump(path: Path) -> list:
    conn = sqlite3.connect(str(path))
    try:
        return [(t, sorted(map(repr, conn.execute(f"SELECT * FROM {t}").fetchall()))) for t in TARGETS]
    finally:
        conn.close()


def _changed(value):
    if value is None:
        return "x"
    if isinstance(value, bool) or isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value + 0.5
    if isinstance(value, str):
        return value[:-1] + chr((ord(value[-1]) % 120) + 1) if value else "x"
    b = bytearray(value)
    if b:
        b[len(b) // 2] ^= 0x01
    return bytes(b) or b"x"


def mutate(conn: sqlite3.Connection, data, store_uuid: str) -> None:
    """One random edit, delete, swap, insert, or hashed-event append, as an attacker would make it."""
    table = data.draw(st.sampled_from([t for t in TARGETS if conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]]))
    key = "seq" if table in ("audit", "checkpoints") else "id"
    keys = [r[0] for r in conn.execute(f"SELECT {key} FROM {table} ORDER BY rowid")]
    cur = conn.execute(f"SELECT * FROM {table} LIMIT 0")
    cols = [d[0] for d in cur.description]
    kind = data.draw(st.sampled_from(["edit", "delete", "swap", "insert", "hashed_event"]))
    k = data.draw(st.sampled_from(keys))
    if kind == "edit":
        col = data.draw(st.sampled_from(cols))
        value = conn.execute(f"SELECT {col} FROM {table} WHERE {key} = ?", (k,)).fetchone()[0]
        conn.execute(f"UPDATE {table} SET {col} = ? WHERE {key} = ?", (_changed(value), k))
    elif kind == "delete":
        conn.execute(f"DELETE FROM {table} WHERE {key} = ?", (k,))
    elif kind == "swap":
        k2 = data.draw(st.sampled_from(keys))
        col = data.draw(st.sampled_from([c for c in cols if c != key] or cols))
        a = conn.execute(f"SELECT {col} FROM {table} WHERE {key} = ?", (k,)).fetchone()[0]
        b = conn.execute(f"SELECT {col} FROM {table} WHERE {key} = ?", (k2,)).fetchone()[0]
        conn.execute(f"UPDATE {table} SET {col} = ? WHERE {key} = ?", (b, k))
        conn.execute(f"UPDATE {table} SET {col} = ? WHERE {key} = ?", (a, k2))
    elif kind == "insert":
        row = dict(zip(cols, conn.execute(f"SELECT * FROM {table} WHERE {key} = ?", (k,)).fetchone()))
        row[key] = (conn.execute(f"SELECT MAX(seq) FROM {table}").fetchone()[0] + 1) if key == "seq" else "forged-" + k
        conn.execute(f"INSERT INTO {table} ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                     list(row.values()))
    else:  # a correctly hashed, unsigned event for a (possibly just edited) row
        if table in ("audit", "checkpoints"):
            return
        row = dict(zip(cols, conn.execute(f"SELECT * FROM {table} WHERE id = ?", (k,)).fetchone()))
        seq, prev = conn.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        digest, ts = record_digest(table, row), time.time()
        conn.execute("INSERT INTO audit (seq, ts, actor, action, table_name, row_id, record_digest, prev_hash, hash) "
                     "VALUES (?, ?, 'attacker', 'update', ?, ?, ?, ?, ?)",
                     (seq + 1, ts, table, k, digest, prev, event_hash(prev, seq + 1, ts, "attacker", "update", table,
                                                                      k, digest)))


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_no_forgery_survives_an_ordinary_write(data):
    base, base_anchors, doc, answer_id = base_store()
    with tempfile.TemporaryDirectory(prefix="safemed-forgery-case-") as tmp:
        path, anchors = Path(tmp) / "safemed.db", Path(tmp) / "anchors"
        shutil.copy(base, path)
        shutil.copytree(base_anchors, anchors)
        before = dump(path)
        conn = sqlite3.connect(str(path), isolation_level=None)
        for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
            conn.execute(f'DROP TRIGGER "{name}"')
        store_uuid = conn.execute("SELECT value FROM meta WHERE id = 'store_uuid'").fetchone()[0]
        for _ in range(data.draw(st.integers(1, 3), label="n_mutations")):
            try:
                mutate(conn, data, store_uuid)
            except sqlite3.Error:  # e.g. a type the column refuses: that edit did not happen
                pass
        conn.close()
        assume(dump(path) != before)  # only real forgeries

        written = False
        try:
            s = Store.open(path, anchor_dir=anchors)
        except SafeMedError:
            return  # refused outright (not a store any more): nothing can be written to it
        try:
            try:
                s.unlock(PASSPHRASE)
                s.authenticate(doc, PIN)
                s.add_feedback(answer_id, doc, load_rubric(), {"clinical_utility": 3}, comment="ordinary write")
                written = True
            except SafeMedError:
                pass  # refused: the property holds for the write
            report = s.verify()
            assert not report.ok, f"verify passed with the forgery in place (write {'done' if written else 'refused'})"
        finally:
            s.close()
