"""Named migrations, each from an empty database with the exact schema checked; newer schemas are refused."""

from __future__ import annotations

import sqlite3

import pytest
from sqlite_utils import Database

from safemed_desktop.errors import SchemaTooNewError, StoreError
from safemed_desktop.store import SCHEMA_VERSION, Store
from safemed_desktop.store.schema import KNOWN_MIGRATIONS, migrate, migrations, schema_sql

MIGRATIONS_TABLE = {
    ("index", "idx__sqlite_migrations_migration_set_name",
     'CREATE UNIQUE INDEX "idx__sqlite_migrations_migration_set_name"\n    ON "_sqlite_migrations" ("migration_set", "name")'),
    ("table", "_sqlite_migrations",
     'CREATE TABLE "_sqlite_migrations" (\n   "id" INTEGER PRIMARY KEY,\n   "migration_set" TEXT,\n   "name" TEXT,\n'
     '   "applied_at" TEXT\n)'),
}
ROLES_SQL = "'resident', 'attending', 'pharmacist', 'nurse', 'reviewer', 'site_admin'"
M001 = {
    ("index", "idx_ack_answer", "CREATE INDEX idx_ack_answer ON acknowledgements (answer_id)"),
    ("index", "idx_answers_created", "CREATE INDEX idx_answers_created ON answers (created_at)"),
    ("index", "idx_answers_model", "CREATE INDEX idx_answers_model ON answers (model_sha256, category)"),
    ("index", "idx_feedback_answer", "CREATE INDEX idx_feedback_answer ON feedback (answer_id)"),
    ("table", "acknowledgements",
     "CREATE TABLE acknowledgements (id TEXT PRIMARY KEY, answer_id TEXT NOT NULL REFERENCES answers (id), "
     "clinician_id TEXT NOT NULL REFERENCES profiles (id), signal_name TEXT NOT NULL, signal_level TEXT NOT NULL, "
     "created_at REAL NOT NULL)"),
    ("table", "answers",
     "CREATE TABLE answers (id TEXT PRIMARY KEY, created_at REAL NOT NULL, model_id TEXT NOT NULL, "
     "model_sha256 TEXT NOT NULL, model_approved INTEGER NOT NULL, model_demo INTEGER NOT NULL, "
     "chat_format TEXT NOT NULL, prompt_template_hash TEXT NOT NULL, pack_versions TEXT NOT NULL, "
     "rubric TEXT NOT NULL, category TEXT NOT NULL, finish_reason TEXT NOT NULL, blocked INTEGER NOT NULL, "
     "answer_collapsed INTEGER NOT NULL, timings TEXT, signal_levels TEXT NOT NULL, "
     "n_reasoning_steps INTEGER NOT NULL, question_enc BLOB NOT NULL, patient_enc BLOB NOT NULL, "
     "reasoning_enc BLOB NOT NULL, answer_enc BLOB NOT NULL, raw_text_enc BLOB NOT NULL, block_reason_enc BLOB, "
     "signals_enc BLOB NOT NULL, logprobs_summary_enc BLOB NOT NULL)"),
    ("table", "edits",
     "CREATE TABLE edits (id TEXT PRIMARY KEY, answer_id TEXT NOT NULL REFERENCES answers (id), "
     "version INTEGER NOT NULL CHECK (version >= 1), parent_version INTEGER NOT NULL, "
     "author_id TEXT NOT NULL REFERENCES profiles (id), created_at REAL NOT NULL, text_enc BLOB NOT NULL, "
     "UNIQUE (answer_id, version))"),
    ("table", "feedback",
     "CREATE TABLE feedback (id TEXT PRIMARY KEY, answer_id TEXT NOT NULL REFERENCES answers (id), "
     "clinician_id TEXT NOT NULL REFERENCES profiles (id), clinician_role TEXT NOT NULL, rubric_id TEXT NOT NULL, "
     "rubric_version INTEGER NOT NULL, created_at REAL NOT NULL, scores TEXT NOT NULL, step_scores TEXT NOT NULL, "
     "flags TEXT NOT NULL, strike INTEGER NOT NULL CHECK (strike IN (0, 1)), comment_enc BLOB)"),
    ("table", "keyring",
     "CREATE TABLE keyring (id TEXT PRIMARY KEY, kdf TEXT NOT NULL, key_generation INTEGER NOT NULL, "
     "wrap_nonce BLOB NOT NULL, wrapped_key BLOB NOT NULL, sign_public BLOB NOT NULL, "
     "sign_private_enc BLOB NOT NULL, updated_at REAL NOT NULL)"),
    ("table", "meta", "CREATE TABLE meta (id TEXT PRIMARY KEY, value TEXT NOT NULL)"),
    ("table", "profiles",
     f"CREATE TABLE profiles (id TEXT PRIMARY KEY, created_at REAL NOT NULL, role TEXT NOT NULL CHECK "
     f"(role IN ({ROLES_SQL})), display_name_enc BLOB NOT NULL)"),
} | {
    ("trigger", f"{t}_no_delete",
     f"CREATE TRIGGER {t}_no_delete BEFORE DELETE ON {t} BEGIN SELECT RAISE(ABORT, '{t} records are never deleted'); END")
    for t in ("acknowledgements", "answers", "edits", "feedback", "profiles")
}
M002 = {
    ("index", "idx_audit_row", "CREATE INDEX idx_audit_row ON audit (table_name, row_id, seq)"),
    ("table", "audit",
     "CREATE TABLE audit (seq INTEGER PRIMARY KEY, ts REAL NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL, "
     "table_name TEXT NOT NULL, row_id TEXT NOT NULL, record_digest TEXT NOT NULL, prev_hash TEXT NOT NULL, "
     "hash TEXT NOT NULL)"),
    ("table", "checkpoints",
     "CREATE TABLE checkpoints (seq INTEGER PRIMARY KEY, ts REAL NOT NULL, head_hash TEXT NOT NULL, "
     "signature BLOB NOT NULL)"),
} | {
    ("trigger", f"{t}_no_{op.lower()}",
     f"CREATE TRIGGER {t}_no_{op.lower()} BEFORE {op} ON {t} BEGIN SELECT RAISE(ABORT, '{t} is append-only'); END")
    for t in ("audit", "checkpoints") for op in ("UPDATE", "DELETE")
}
M003 = {
    ("index", "idx_model_reviews_sha", "CREATE INDEX idx_model_reviews_sha ON model_reviews (model_sha256)"),
    ("table", "model_reviews",
     "CREATE TABLE model_reviews (id TEXT PRIMARY KEY, model_sha256 TEXT NOT NULL, marked_at REAL NOT NULL, "
     "strike_count INTEGER NOT NULL, window_days INTEGER NOT NULL, status TEXT NOT NULL CHECK "
     "(status IN ('open', 'closed')))"),
}
EXPECTED_AFTER = {
    "m001_records": MIGRATIONS_TABLE | M001,
    "m002_audit_chain": MIGRATIONS_TABLE | M001 | M002,
    "m003_model_reviews": MIGRATIONS_TABLE | M001 | M002 | M003,
}
# verified ground (issue 10): checkpoints of format version 2, per-profile credentials
CHECKPOINTS_V2 = ("table", "checkpoints",
                  "CREATE TABLE checkpoints (seq INTEGER PRIMARY KEY, ts REAL NOT NULL, head_hash TEXT NOT NULL, "
                  "signature BLOB NOT NULL, version INTEGER NOT NULL DEFAULT 1, prev_seq INTEGER)")
CREDENTIALS = {
    ("table", "profile_credentials",
     "CREATE TABLE profile_credentials (id TEXT PRIMARY KEY REFERENCES profiles (id), kdf TEXT NOT NULL, "
     "nonce BLOB NOT NULL, sealed_id BLOB NOT NULL, created_at REAL NOT NULL)"),
    ("trigger", "profile_credentials_no_delete",
     "CREATE TRIGGER profile_credentials_no_delete BEFORE DELETE ON profile_credentials BEGIN SELECT "
     "RAISE(ABORT, 'profile_credentials records are never deleted'); END"),
}
# the store's own objects after every migration (other groups' migrations add their own tables, checked by them)
STORE_CORE = {o for o in EXPECTED_AFTER["m003_model_reviews"] if o[1] != "checkpoints"} | {CHECKPOINTS_V2} | CREDENTIALS


def _empty_db(tmp_path, name="empty.db") -> Database:
    return Database(sqlite3.connect(str(tmp_path / name), isolation_level=None))


def test_migrations_are_named_and_ordered():
    assert KNOWN_MIGRATIONS[:3] == ("m001_records", "m002_audit_chain", "m003_model_reviews")
    assert KNOWN_MIGRATIONS.index("m_checkpoints_v2") < KNOWN_MIGRATIONS.index("m_profile_credentials_v1")
    assert len(set(KNOWN_MIGRATIONS)) == len(KNOWN_MIGRATIONS) == SCHEMA_VERSION


@pytest.mark.parametrize("upto", list(EXPECTED_AFTER))
def test_each_migration_from_empty_database_gives_exact_schema(tmp_path, upto):
    db = _empty_db(tmp_path)
    later = KNOWN_MIGRATIONS[KNOWN_MIGRATIONS.index(upto) + 1:]
    migrations.apply(db, stop_before=later[0] if later else None)
    assert set(schema_sql(db.conn)) == EXPECTED_AFTER[upto]
    assert [m.name for m in migrations.applied(db)] == list(KNOWN_MIGRATIONS[:KNOWN_MIGRATIONS.index(upto) + 1])


def test_migrate_is_idempotent_and_sets_user_version(tmp_path):
    db = _empty_db(tmp_path)
    assert migrate(db) == list(KNOWN_MIGRATIONS)
    assert migrate(db) == []
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert STORE_CORE <= set(schema_sql(db.conn))


def test_older_store_is_upgraded_on_open(tmp_path, store_path):
    """A store written before checkpoints v2 and credentials: upgraded on open, its version-1 checkpoints accepted
    as legacy, and its first profile (a site administrator, since it has none) added and signed in."""
    from safemed_desktop.store import KdfParams
    from safemed_desktop.store.audit import checkpoint_message

    s = Store.create(store_path, "older store passphrase", "site", kdf_params=KdfParams.fast_for_tests())
    legacy = [(s._keys.sign(checkpoint_message(s.store_uuid, seq, head)), seq)
              for seq, head in s._conn.execute("SELECT seq, head_hash FROM checkpoints").fetchall()]
    s.close()
    conn = sqlite3.connect(str(store_path), isolation_level=None)
    conn.execute("DROP TRIGGER checkpoints_no_update")
    conn.executemany("UPDATE checkpoints SET signature = ? WHERE seq = ?", legacy)  # as the old build signed them
    conn.execute("ALTER TABLE checkpoints DROP COLUMN version")
    conn.execute("ALTER TABLE checkpoints DROP COLUMN prev_seq")
    conn.execute(M002_UPDATE_TRIGGER)
    conn.execute("DROP TABLE profile_credentials")
    conn.execute("DELETE FROM _sqlite_migrations WHERE name IN ('m_checkpoints_v2', 'm_profile_credentials_v1')")
    conn.execute("PRAGMA user_version = 3")
    conn.close()
    s = Store.open(store_path)
    try:
        assert STORE_CORE <= set(schema_sql(s._conn))
        assert s._conn.execute("SELECT DISTINCT version FROM checkpoints").fetchall() == [(1,)]
        s.unlock("older store passphrase")
        assert s.verify().ok
        admin = s.add_profile("First Admin", "site_admin", "admin-pin-1")  # the first profile: a site_admin
        s.authenticate(admin, "admin-pin-1")
        report = s.verify()
        assert report.ok, report.problems
        assert sorted(r[0] for r in s._conn.execute("SELECT DISTINCT version FROM checkpoints")) == [1, 2]
    finally:
        s.close()


M002_UPDATE_TRIGGER = ("CREATE TRIGGER checkpoints_no_update BEFORE UPDATE ON checkpoints "
                       "BEGIN SELECT RAISE(ABORT, 'checkpoints is append-only'); END")


def test_store_files_use_wal_and_full_sync(store):
    conn = store._conn
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1


def _bytes(path):
    return {p.name: p.read_bytes() for p in path.parent.iterdir() if p.name.startswith(path.name)}


def test_schema_newer_than_app_is_refused_unknown_migration(store, store_path):
    store.close()
    conn = sqlite3.connect(str(store_path), isolation_level=None)
    conn.execute("INSERT INTO _sqlite_migrations (migration_set, name, applied_at) "
                 "VALUES ('safemed_store', 'm099_from_the_future', '2030-01-01')")
    conn.close()
    before = _bytes(store_path)
    with pytest.raises(SchemaTooNewError, match=f"m099_from_the_future.*only knows version {SCHEMA_VERSION}"):
        Store.open(store_path)
    assert _bytes(store_path) == before  # the newer store was not touched


def test_schema_newer_than_app_is_refused_user_version(store, store_path):
    store.close()
    conn = sqlite3.connect(str(store_path), isolation_level=None)
    conn.execute("PRAGMA user_version = 42")
    conn.close()
    with pytest.raises(SchemaTooNewError, match="schema version 42"):
        Store.open(store_path)


def test_open_refuses_missing_and_foreign_files(tmp_path):
    with pytest.raises(StoreError, match="no SafeMed store"):
        Store.open(tmp_path / "missing.db")
    other = tmp_path / "other.db"
    sqlite3.connect(str(other)).execute("CREATE TABLE x (a)").connection.close()
    with pytest.raises(StoreError, match="not a SafeMed store"):
        Store.open(other)
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(StoreError, match="not a readable SafeMed store"):
        Store.open(junk)


def test_create_refuses_existing_file(store_path, store):
    with pytest.raises(StoreError, match="already exists"):
        Store.create(store_path, "another passphrase", "site")


def test_failed_create_leaves_no_half_made_store(tmp_path, monkeypatch):
    from safemed_desktop.errors import DiskFullError
    from safemed_desktop.store import KdfParams

    path = tmp_path / "half.db"

    def boom(self, *a, **k):
        raise DiskFullError("simulated full disk during initialisation")

    monkeypatch.setattr(Store, "_initialise", boom)
    with pytest.raises(DiskFullError):
        Store.create(path, "a long passphrase", "site", kdf_params=KdfParams.fast_for_tests())
    assert list(tmp_path.iterdir()) == []
