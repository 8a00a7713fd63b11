"""Schema of the encrypted store, as named sqlite-utils migrations.

Columns ending in ``_enc`` hold AES-256-GCM ciphertexts (see ``crypto.FieldCipher``);
everything else is non-sensitive metadata kept queryable in clear (ids, timestamps,
roles, scores, flags, signal levels, model hashes). ``SENSITIVE_COLUMNS`` lists the
encrypted columns per table; rekeying walks exactly that list.

A store whose ``_sqlite_migrations`` names a migration this build does not know, or
whose ``PRAGMA user_version`` is higher than ``SCHEMA_VERSION``, was written by a newer
SafeMed and is refused with ``SchemaTooNewError``.
"""

from __future__ import annotations

import sqlite3

from sqlite_utils import Database, Migrations

from ..errors import SchemaTooNewError
from ..records.profile import ROLES  # the schema's CHECK lists exactly the records' roles

MIGRATION_SET = "safemed_store"
migrations = Migrations(MIGRATION_SET)


# table -> encrypted columns (the only places clinical text may live)
SENSITIVE_COLUMNS: dict[str, tuple[str, ...]] = {
    "profiles": ("display_name_enc",),
    "answers": ("question_enc", "patient_enc", "reasoning_enc", "answer_enc", "raw_text_enc",
                "block_reason_enc", "signals_enc", "logprobs_summary_enc"),
    "feedback": ("comment_enc",),
    "edits": ("text_enc",),
    "conversations": ("title_enc",),
    "conversation_changes": ("title_enc",),
    # validation studies (store/studies.py): vignettes, answers, the blinding salt and assignment, comments
    "studies": ("salt_enc",),
    "study_cases": ("vignette_enc", "resident_answer_enc", "patient_enc", "assignment_enc"),
    "study_reviews": ("comment_enc",),
    # evaluation runs (store/runs.py): prompts, responses and judge rationales of each item
    "eval_items": ("detail_enc",),
}
# every table whose rows the audit chain covers (each row has a TEXT primary key "id")
AUDITED_TABLES = ("meta", "keyring", "profiles", "answers", "feedback", "edits", "acknowledgements",
                  "model_reviews", "conversations", "conversation_turns",
                  "studies", "study_commitments", "study_cases", "study_answers", "study_reviews",
                  "study_unblindings", "eval_runs", "eval_items", "eval_summaries",
                  "profile_credentials", "conversation_changes")


def _run(db: Database, *statements: str) -> None:
    for sql in statements:
        db.execute(sql)


@migrations(name="m001_records")
def m001_records(db: Database) -> None:
    """Site metadata, key ring, clinician profiles, answers, feedback, edits, acknowledgements."""
    roles = ", ".join(f"'{r}'" for r in ROLES)
    _run(
        db,
        "CREATE TABLE meta (id TEXT PRIMARY KEY, value TEXT NOT NULL)",
        "CREATE TABLE keyring (id TEXT PRIMARY KEY, kdf TEXT NOT NULL, key_generation INTEGER NOT NULL, "
        "wrap_nonce BLOB NOT NULL, wrapped_key BLOB NOT NULL, sign_public BLOB NOT NULL, "
        "sign_private_enc BLOB NOT NULL, updated_at REAL NOT NULL)",
        f"CREATE TABLE profiles (id TEXT PRIMARY KEY, created_at REAL NOT NULL, "
        f"role TEXT NOT NULL CHECK (role IN ({roles})), display_name_enc BLOB NOT NULL)",
        "CREATE TABLE answers (id TEXT PRIMARY KEY, created_at REAL NOT NULL, model_id TEXT NOT NULL, "
        "model_sha256 TEXT NOT NULL, model_approved INTEGER NOT NULL, model_demo INTEGER NOT NULL, "
        "chat_format TEXT NOT NULL, prompt_template_hash TEXT NOT NULL, pack_versions TEXT NOT NULL, "
        "rubric TEXT NOT NULL, category TEXT NOT NULL, finish_reason TEXT NOT NULL, blocked INTEGER NOT NULL, "
        "answer_collapsed INTEGER NOT NULL, timings TEXT, signal_levels TEXT NOT NULL, "
        "n_reasoning_steps INTEGER NOT NULL, question_enc BLOB NOT NULL, patient_enc BLOB NOT NULL, "
        "reasoning_enc BLOB NOT NULL, answer_enc BLOB NOT NULL, raw_text_enc BLOB NOT NULL, "
        "block_reason_enc BLOB, signals_enc BLOB NOT NULL, logprobs_summary_enc BLOB NOT NULL)",
        "CREATE INDEX idx_answers_model ON answers (model_sha256, category)",
        "CREATE INDEX idx_answers_created ON answers (created_at)",
        "CREATE TABLE feedback (id TEXT PRIMARY KEY, answer_id TEXT NOT NULL REFERENCES answers (id), "
        "clinician_id TEXT NOT NULL REFERENCES profiles (id), clinician_role TEXT NOT NULL, "
        "rubric_id TEXT NOT NULL, rubric_version INTEGER NOT NULL, created_at REAL NOT NULL, "
        "scores TEXT NOT NULL, step_scores TEXT NOT NULL, flags TEXT NOT NULL, "
        "strike INTEGER NOT NULL CHECK (strike IN (0, 1)), comment_enc BLOB)",
        "CREATE INDEX idx_feedback_answer ON feedback (answer_id)",
        "CREATE TABLE edits (id TEXT PRIMARY KEY, answer_id TEXT NOT NULL REFERENCES answers (id), "
        "version INTEGER NOT NULL CHECK (version >= 1), parent_version INTEGER NOT NULL, "
        "author_id TEXT NOT NULL REFERENCES profiles (id), created_at REAL NOT NULL, text_enc BLOB NOT NULL, "
        "UNIQUE (answer_id, version))",
        "CREATE TABLE acknowledgements (id TEXT PRIMARY KEY, answer_id TEXT NOT NULL REFERENCES answers (id), "
        "clinician_id TEXT NOT NULL REFERENCES profiles (id), signal_name TEXT NOT NULL, "
        "signal_level TEXT NOT NULL, created_at REAL NOT NULL)",
        "CREATE INDEX idx_ack_answer ON acknowledgements (answer_id)",
    )
    for table in ("answers", "feedback", "edits", "acknowledgements", "profiles"):
        db.execute(f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
                   f"BEGIN SELECT RAISE(ABORT, '{table} records are never deleted'); END")


@migrations(name="m002_audit_chain")
def m002_audit_chain(db: Database) -> None:
    """Append-only hash-chained audit events and signed checkpoints."""
    _run(
        db,
        "CREATE TABLE audit (seq INTEGER PRIMARY KEY, ts REAL NOT NULL, actor TEXT NOT NULL, "
        "action TEXT NOT NULL, table_name TEXT NOT NULL, row_id TEXT NOT NULL, record_digest TEXT NOT NULL, "
        "prev_hash TEXT NOT NULL, hash TEXT NOT NULL)",
        "CREATE INDEX idx_audit_row ON audit (table_name, row_id, seq)",
        "CREATE TABLE checkpoints (seq INTEGER PRIMARY KEY, ts REAL NOT NULL, head_hash TEXT NOT NULL, "
        "signature BLOB NOT NULL)",
    )
    for table in ("audit", "checkpoints"):
        for op in ("UPDATE", "DELETE"):
            db.execute(f"CREATE TRIGGER {table}_no_{op.lower()} BEFORE {op} ON {table} "
                       f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END")


@migrations(name="m003_model_reviews")
def m003_model_reviews(db: Database) -> None:
    """Model versions marked for expert-panel review by the five-strike rule."""
    _run(
        db,
        "CREATE TABLE model_reviews (id TEXT PRIMARY KEY, model_sha256 TEXT NOT NULL, marked_at REAL NOT NULL, "
        "strike_count INTEGER NOT NULL, window_days INTEGER NOT NULL, "
        "status TEXT NOT NULL CHECK (status IN ('open', 'closed')))",
        "CREATE INDEX idx_model_reviews_sha ON model_reviews (model_sha256)",
    )


@migrations(name="m004_conversations")
def m004_conversations(db: Database) -> None:
    """Conversations (a title, encrypted) and their turns: one stored answer per turn, in order. The answer row
    keeps its own question and patient snapshot; a turn only places it in its conversation (a separate table, so
    answer rows and their audit digests are unchanged)."""
    _run(
        db,
        "CREATE TABLE conversations (id TEXT PRIMARY KEY, created_at REAL NOT NULL, "
        "clinician_id TEXT REFERENCES profiles (id), title_enc BLOB NOT NULL)",
        "CREATE TABLE conversation_turns (id TEXT PRIMARY KEY, "
        "conversation_id TEXT NOT NULL REFERENCES conversations (id), "
        "answer_id TEXT NOT NULL UNIQUE REFERENCES answers (id), position INTEGER NOT NULL CHECK (position >= 1), "
        "created_at REAL NOT NULL, UNIQUE (conversation_id, position))",
        "CREATE INDEX idx_turns_conversation ON conversation_turns (conversation_id, position)",
    )
    for table in ("conversations", "conversation_turns"):
        db.execute(f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
                   f"BEGIN SELECT RAISE(ABORT, '{table} records are never deleted'); END")


@migrations(name="m_studies_v1")
def m_studies_v1(db: Database) -> None:
    """Blinded validation studies (store/studies.py): cases, the model's answers, reviews, unblindings."""
    _run(
        db,
        "CREATE TABLE studies (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, created_at REAL NOT NULL, "
        "created_by TEXT NOT NULL, rubric_id TEXT NOT NULL, rubric_version INTEGER NOT NULL, criteria TEXT NOT NULL, "
        "margin REAL NOT NULL, min_reviewers INTEGER NOT NULL, n_cases INTEGER NOT NULL, "
        "cases_sha256 TEXT NOT NULL, commitment TEXT NOT NULL, salt_enc BLOB NOT NULL)",
        # the commitment to the A/B assignment, alone in its row: never rewritten (no encrypted column to rekey),
        # so its one audit event is the commitment as recorded at creation
        "CREATE TABLE study_commitments (id TEXT PRIMARY KEY REFERENCES studies (id), created_at REAL NOT NULL, "
        "n_cases INTEGER NOT NULL, commitment TEXT NOT NULL)",
        "CREATE TABLE study_cases (id TEXT PRIMARY KEY, study_id TEXT NOT NULL REFERENCES studies (id), "
        "case_id TEXT NOT NULL, position INTEGER NOT NULL, resident_level TEXT, created_at REAL NOT NULL, "
        "commitment TEXT NOT NULL, vignette_enc BLOB NOT NULL, resident_answer_enc BLOB NOT NULL, "
        "patient_enc BLOB NOT NULL, assignment_enc BLOB NOT NULL, UNIQUE (study_id, case_id))",
        "CREATE TABLE study_answers (id TEXT PRIMARY KEY, study_id TEXT NOT NULL REFERENCES studies (id), "
        "case_row_id TEXT NOT NULL UNIQUE REFERENCES study_cases (id), "
        "answer_id TEXT NOT NULL REFERENCES answers (id), created_at REAL NOT NULL)",
        "CREATE TABLE study_reviews (id TEXT PRIMARY KEY, study_id TEXT NOT NULL REFERENCES studies (id), "
        "case_row_id TEXT NOT NULL REFERENCES study_cases (id), reviewer_id TEXT NOT NULL REFERENCES profiles (id), "
        "created_at REAL NOT NULL, scores_a TEXT NOT NULL, scores_b TEXT NOT NULL, comment_enc BLOB, "
        "UNIQUE (case_row_id, reviewer_id))",
        # unblinding reveals the salt and the assignment (commit, then reveal): anyone holding the records (the
        # site's collection too) can check them against the commitments recorded at creation
        "CREATE TABLE study_unblindings (id TEXT PRIMARY KEY, study_id TEXT NOT NULL REFERENCES studies (id), "
        "created_at REAL NOT NULL, actor TEXT NOT NULL, forced INTEGER NOT NULL, n_reviews INTEGER NOT NULL, "
        "n_expected INTEGER NOT NULL, revealed_salt TEXT NOT NULL, revealed_assignment TEXT NOT NULL)",
        "CREATE INDEX idx_study_cases_study ON study_cases (study_id, position)",
        "CREATE INDEX idx_study_reviews_study ON study_reviews (study_id, reviewer_id)",
    )
    for table in ("studies", "study_commitments", "study_cases", "study_answers", "study_reviews",
                  "study_unblindings"):
        db.execute(f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
                   f"BEGIN SELECT RAISE(ABORT, '{table} records are never deleted'); END")


@migrations(name="m_eval_runs_v1")
def m_eval_runs_v1(db: Database) -> None:
    """Evaluation runs (store/runs.py): the frozen description, per-item results, summaries; append-only."""
    _run(
        db,
        "CREATE TABLE eval_runs (id TEXT PRIMARY KEY, created_at REAL NOT NULL, kind TEXT NOT NULL, "
        "description TEXT NOT NULL, n_items INTEGER NOT NULL)",
        "CREATE TABLE eval_items (id TEXT PRIMARY KEY, run_id TEXT NOT NULL REFERENCES eval_runs (id), "
        "seq INTEGER NOT NULL, item_key TEXT NOT NULL, created_at REAL NOT NULL, result TEXT NOT NULL, "
        "detail_enc BLOB NOT NULL, UNIQUE (run_id, item_key))",
        "CREATE TABLE eval_summaries (id TEXT PRIMARY KEY, run_id TEXT NOT NULL REFERENCES eval_runs (id), "
        "created_at REAL NOT NULL, status TEXT NOT NULL, n_done INTEGER NOT NULL, summary TEXT NOT NULL)",
        "CREATE INDEX idx_eval_items_run ON eval_items (run_id, seq)",
        "CREATE INDEX idx_eval_summaries_run ON eval_summaries (run_id, created_at)",
    )
    for table in ("eval_runs", "eval_items", "eval_summaries"):
        db.execute(f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
                   f"BEGIN SELECT RAISE(ABORT, '{table} records are never deleted'); END")


@migrations(name="m_checkpoints_v2")
def m_checkpoints_v2(db: Database) -> None:
    """Checkpoints sign their timestamp and the previous checkpoint's sequence number (format version 2).

    Rows written before keep ``version = 1`` (they signed only ``(seq, head)``; see ``audit.checkpoint_message``).
    """
    _run(db, "ALTER TABLE checkpoints ADD COLUMN version INTEGER NOT NULL DEFAULT 1",
         "ALTER TABLE checkpoints ADD COLUMN prev_seq INTEGER")


@migrations(name="m_profile_credentials_v1")
def m_profile_credentials_v1(db: Database) -> None:
    """Per-profile credentials (store/credentials.py): the profile's id sealed under a key derived from its PIN."""
    _run(db, "CREATE TABLE profile_credentials (id TEXT PRIMARY KEY REFERENCES profiles (id), "
             "kdf TEXT NOT NULL, nonce BLOB NOT NULL, sealed_id BLOB NOT NULL, created_at REAL NOT NULL)")
    db.execute("CREATE TRIGGER profile_credentials_no_delete BEFORE DELETE ON profile_credentials "
               "BEGIN SELECT RAISE(ABORT, 'profile_credentials records are never deleted'); END")


@migrations(name="m_conversation_changes_v1")
def m_conversation_changes_v1(db: Database) -> None:
    """Renames and archiving of conversations (store/conversations.py), appended as their own rows: a conversation
    row is never rewritten (it keeps matching its audit event), the newest rename gives its title (encrypted),
    the newest archive/unarchive whether it is archived; earlier titles stay in the record."""
    _run(
        db,
        "CREATE TABLE conversation_changes (id TEXT PRIMARY KEY, "
        "conversation_id TEXT NOT NULL REFERENCES conversations (id), seq INTEGER NOT NULL CHECK (seq >= 1), "
        "clinician_id TEXT NOT NULL REFERENCES profiles (id), created_at REAL NOT NULL, "
        "kind TEXT NOT NULL CHECK (kind IN ('rename', 'archive', 'unarchive')), title_enc BLOB, "
        "UNIQUE (conversation_id, seq))",
        "CREATE INDEX idx_conversation_changes ON conversation_changes (conversation_id, seq)",
    )
    db.execute("CREATE TRIGGER conversation_changes_no_delete BEFORE DELETE ON conversation_changes "
               "BEGIN SELECT RAISE(ABORT, 'conversation_changes records are never deleted'); END")


KNOWN_MIGRATIONS = tuple(m.name for m in migrations._migrations)
SCHEMA_VERSION = len(KNOWN_MIGRATIONS)


def check_not_too_new(db: Database) -> None:
    """Refuse a database written by a newer schema than this build knows."""
    user_version = db.execute("PRAGMA user_version").fetchone()[0]
    applied = [m.name for m in migrations.applied(db)]
    unknown = [n for n in applied if n not in KNOWN_MIGRATIONS]
    if user_version > SCHEMA_VERSION or unknown:
        raise SchemaTooNewError(
            f"this store uses schema version {max(user_version, len(applied))} "
            f"({', '.join(unknown) or 'newer migrations'}), but this SafeMed only knows version {SCHEMA_VERSION}",
            hint="update SafeMed Desktop; the store was not modified")


def migrate(db: Database) -> list[str]:
    """Apply pending migrations (each in its own transaction); returns the names applied."""
    check_not_too_new(db)
    pending = [m.name for m in migrations.pending(db)]
    if pending:
        migrations.apply(db)
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    return pending


def schema_sql(conn: sqlite3.Connection) -> list[tuple[str, str, str]]:
    """(type, name, sql) of every schema object, for exact-schema tests."""
    return [tuple(r) for r in conn.execute(
        "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY type, name")]
