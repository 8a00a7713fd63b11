"""Renaming and archiving conversations: audited, append-only store writes by the signed-in clinician (the title
encrypted, earlier titles kept, nothing deleted), through its own migration; an archived conversation leaves
the list and comes back with ``include_archived`` or when un-archived; a forged change is refused."""

from __future__ import annotations

import sqlite3

import pytest
from sqlite_utils import Database

from safemed_desktop.errors import InputError, IntegrityError, PermissionDeniedError
from safemed_desktop.service import SafeMedService
from safemed_desktop.store import Store
from safemed_desktop.store.schema import KNOWN_MIGRATIONS, SENSITIVE_COLUMNS, migrations, schema_sql

from .conftest import ADMIN_PIN, PASSPHRASE, PIN, add_profile, make_answer, sign_in

NEW_TITLE = "Knee pain in Mrs K, renal impairment"


@pytest.fixture
def conv(store, clinician):
    """A two-turn conversation of the signed-in attending; (service, conversation id)."""
    svc = SafeMedService()
    cid, _ = svc.record_turn(store, None, make_answer("Ibuprofen for knee pain?"))
    svc.record_turn(store, cid, make_answer("And what dose?"))
    return svc, cid


def _audit(store, table: str):
    return store._conn.execute("SELECT actor, action, row_id FROM audit WHERE table_name = ? ORDER BY seq",
                               [table]).fetchall()


def test_rename_is_an_audited_encrypted_append_and_keeps_the_old_title(store, clinician, conv):
    svc, cid = conv
    assert svc.rename_conversation(store, cid, f"  {NEW_TITLE}  ") == NEW_TITLE
    assert svc.open_conversation(store, cid).title == NEW_TITLE
    assert [r["title"] for r in svc.list_conversations(store) if r["id"] == cid] == [NEW_TITLE]
    # the conversation row is untouched (its first title still there); the rename is its own row, audited
    assert store._conn.execute("SELECT COUNT(*) FROM audit WHERE table_name = 'conversations'").fetchone()[0] == 1
    events = _audit(store, "conversation_changes")
    assert len(events) == 1 and events[0][:2] == (clinician, "rename_conversation")
    raw = store._conn.execute("SELECT title_enc, kind, clinician_id FROM conversation_changes").fetchone()
    assert raw[1:] == ("rename", clinician) and NEW_TITLE.encode() not in bytes(raw[0])  # encrypted
    svc.rename_conversation(store, cid, "Second title")
    assert svc.open_conversation(store, cid).title == "Second title"  # the newest rename wins
    assert svc.list_conversations(store, search="second")[0]["id"] == cid
    assert svc.list_conversations(store, search="knee pain in mrs") == []  # the old title no longer matches
    assert store.verify().ok


def test_archive_hides_never_deletes_and_undo_lists_it_again(store, clinician, conv):
    svc, cid = conv
    other, _ = svc.record_turn(store, None, make_answer("Asthma inhaler technique?"))
    svc.archive_conversation(store, cid)
    assert [r["id"] for r in svc.list_conversations(store)] == [other]
    listed = svc.list_conversations(store, include_archived=True)
    assert {r["id"]: r["archived"] for r in listed} == {other: False, cid: True}
    opened = svc.open_conversation(store, cid)  # still there, every turn
    assert opened.archived and len(opened.turns) == 2
    assert store._conn.execute("SELECT COUNT(*) FROM conversation_turns").fetchone()[0] == 3
    with pytest.raises(InputError, match="already archived"):
        svc.archive_conversation(store, cid)
    svc.archive_conversation(store, cid, archived=False)
    assert {r["id"] for r in svc.list_conversations(store)} == {other, cid}
    assert not svc.open_conversation(store, cid).archived
    with pytest.raises(InputError, match="is not archived"):
        svc.archive_conversation(store, cid, archived=False)
    assert [a for _, a, _ in _audit(store, "conversation_changes")] == ["archive_conversation",
                                                                        "unarchive_conversation"]
    assert [c["kind"] for c in store.get_conversation(cid)["changes"]] == ["archive", "unarchive"]
    with pytest.raises(sqlite3.IntegrityError, match="never deleted"):
        store._conn.execute("DELETE FROM conversation_changes")
    assert store.verify().ok


@pytest.mark.parametrize("title, message", [
    ("", "cannot be empty"), ("   ", "cannot be empty"), ("two\nlines", "one line"),
    ("x" * 81, "at most 80 characters"), (None, "cannot be empty"),
])
def test_bad_titles_are_refused_in_one_line_and_nothing_is_written(store, clinician, conv, title, message):
    svc, cid = conv
    before = store._conn.execute("SELECT COUNT(*) FROM audit").fetchone()[0]
    with pytest.raises(InputError, match=message):
        svc.rename_conversation(store, cid, title)
    assert store._conn.execute("SELECT COUNT(*) FROM audit").fetchone()[0] == before


def test_same_title_unknown_id_and_another_clinician_are_refused(store, clinician, conv):
    svc, cid = conv
    with pytest.raises(InputError, match="already has this title"):
        svc.rename_conversation(store, cid, "Ibuprofen for knee pain?")
    with pytest.raises(InputError, match="no conversation with id nope"):
        svc.rename_conversation(store, "nope", "A title")
    colleague = add_profile(store, "Dr Other", "attending", "other-pin-1111")
    sign_in(store, colleague, "other-pin-1111")
    with pytest.raises(PermissionDeniedError, match="only the clinician who started"):
        svc.rename_conversation(store, cid, "Taken over")
    with pytest.raises(PermissionDeniedError):
        svc.archive_conversation(store, cid)
    assert svc.list_conversations(store, include_archived=True) == []  # not theirs to list either
    store.sign_out()
    with pytest.raises(Exception, match="no profile is signed in"):
        svc.archive_conversation(store, cid)


def test_a_forged_change_row_is_refused_not_shown(store, clinician, conv, store_path):
    svc, cid = conv
    svc.rename_conversation(store, cid, NEW_TITLE)
    store.close()
    conn = sqlite3.connect(str(store_path))
    conn.execute("UPDATE conversation_changes SET kind = 'archive', title_enc = NULL")  # hide it by forgery
    conn.commit()
    conn.close()
    s = Store.open(store_path)
    try:
        s.unlock(PASSPHRASE)
        s.authenticate(clinician, PIN)
        with pytest.raises(IntegrityError):
            SafeMedService.open_conversation(s, cid)
        listed = SafeMedService.list_conversations(s)
        assert [(r["id"], "error" in r) for r in listed] == [(cid, True)]  # reported, its values not shown
    finally:
        s.close()


def test_rekey_reencrypts_the_titles_of_renames(store, clinician, conv):
    svc, cid = conv
    svc.rename_conversation(store, cid, NEW_TITLE)
    before = store._conn.execute("SELECT title_enc FROM conversation_changes").fetchone()[0]
    store.authenticate("admin", ADMIN_PIN)
    store.rekey()
    assert store._conn.execute("SELECT title_enc FROM conversation_changes").fetchone()[0] != before
    store.authenticate(clinician, PIN)
    assert svc.open_conversation(store, cid).title == NEW_TITLE
    assert store.verify().ok


def test_the_migration_adds_exactly_its_table(tmp_path):
    assert "conversation_changes" in SENSITIVE_COLUMNS
    db = Database(sqlite3.connect(str(tmp_path / "m.db"), isolation_level=None))
    i = KNOWN_MIGRATIONS.index("m_conversation_changes_v1")
    later = KNOWN_MIGRATIONS[i + 1:]
    migrations.apply(db, stop_before=KNOWN_MIGRATIONS[i])
    before = set(schema_sql(db.conn))
    migrations.apply(db, stop_before=later[0] if later else None)
    added = set(schema_sql(db.conn)) - before
    assert {(t, n) for t, n, _ in added} == {("table", "conversation_changes"), ("index", "idx_conversation_changes"),
                                             ("trigger", "conversation_changes_no_delete")}
    assert set(schema_sql(db.conn)) >= before  # nothing earlier was changed
