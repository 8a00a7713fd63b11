"""The collection's two database backends behind one small interface: embedded SQLite and PostgreSQL.

Everything above this module is one code path: SQL is written once with ``?`` placeholders and the
portable subset both servers accept (``ON CONFLICT DO NOTHING``). What differs lives here:
column types, placeholders, bulk insert (``executemany .. ON CONFLICT DO NOTHING`` on SQLite;
``COPY .. FROM STDIN`` into a temporary stage then ``INSERT .. SELECT .. ON CONFLICT DO NOTHING`` on
PostgreSQL, through psycopg 3) and transactions.
"""

from __future__ import annotations

import os
import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

from ..errors import StoreError
from ..paths import PRIVATE_FILE_MODE, make_dir


class Backend:
    name = ""
    types: dict[str, str] = {}

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        raise NotImplementedError

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        raise NotImplementedError

    def bulk(self, table: str, cols: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        raise NotImplementedError

    def upsert(self, table: str, cols: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
        """Insert ``rows``, skipping those whose key is already present (``ON CONFLICT DO NOTHING``);
        returns how many were inserted."""
        raise NotImplementedError

    @contextmanager
    def transaction(self) -> Iterator[None]:
        raise NotImplementedError
        yield

    def close(self) -> None:
        raise NotImplementedError

    def ddl(self, sql: str) -> str:
        return sql.format(**self.types)


class SQLiteBackend(Backend):
    """``SITE/collection.db``: WAL, ``synchronous=FULL``, file 0600."""

    name = "sqlite"
    types = {"real": "REAL", "blob": "BLOB", "bigint": "INTEGER"}

    def __init__(self, path: str | Path, busy_timeout_s: float = 10.0):
        self.path = Path(path)
        make_dir(self.path.parent)
        try:
            if not self.path.exists():
                os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE))
            self.conn = sqlite3.connect(str(self.path), timeout=busy_timeout_s, isolation_level=None)
            self.conn.execute("PRAGMA journal_mode = WAL")
            self.conn.execute("PRAGMA synchronous = FULL")
            self.conn.execute("PRAGMA secure_delete = ON")
        except FileExistsError:
            return self.__init__(path, busy_timeout_s)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the collection {self.path}: {exc}") from None

    def _run(self, fn, *args):
        try:
            return fn(*args)
        except sqlite3.Error as exc:
            raise StoreError(f"collection database error ({self.path.name}): {exc}") from exc

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self._run(lambda: self.conn.execute(sql, params).rowcount)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        return self._run(lambda: self.conn.execute(sql, params).fetchall())

    def bulk(self, table: str, cols: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
        self._run(lambda: self.conn.executemany(sql, rows))

    def upsert(self, table: str, cols: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
        sql = (f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) "
               "ON CONFLICT DO NOTHING")
        return self._run(lambda: self.conn.executemany(sql, rows).rowcount)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.execute("BEGIN IMMEDIATE")
        try:
            yield
            self.execute("COMMIT")
        except BaseException:
            if self.conn.in_transaction:
                try:
                    self.conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
            raise

    def close(self) -> None:
        self.conn.close()


class PostgresBackend(Backend):
    """A site's PostgreSQL database (``postgresql://...``) through psycopg 3."""

    name = "postgresql"
    types = {"real": "DOUBLE PRECISION", "blob": "BYTEA", "bigint": "BIGINT"}

    def __init__(self, url: str):
        import psycopg

        self._psycopg = psycopg
        self.url = url
        try:
            self.conn = psycopg.connect(url, autocommit=True, connect_timeout=15)
        except psycopg.Error as exc:
            raise StoreError(f"cannot connect to the collection database: {str(exc).splitlines()[0]}") from None

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s")

    def _run(self, fn):
        try:
            return fn()
        except self._psycopg.Error as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise StoreError(f"collection database error (PostgreSQL): {first}") from exc

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        def go():
            with self.conn.cursor() as cur:
                cur.execute(self._sql(sql), params or None)
                return cur.rowcount
        return self._run(go)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        def go():
            with self.conn.cursor() as cur:
                cur.execute(self._sql(sql), params or None)
                return cur.fetchall()
        return self._run(go)

    def bulk(self, table: str, cols: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        def go():
            with self.conn.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        self._run(go)

    def upsert(self, table: str, cols: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
        """``COPY`` into a temporary stage, then ``INSERT .. SELECT .. ON CONFLICT DO NOTHING`` (in the caller's
        transaction; the stage is dropped at commit)."""
        stage = f"stage_{table}"
        self.execute(f"DROP TABLE IF EXISTS pg_temp.{stage}")
        self.execute(f"CREATE TEMP TABLE {stage} (LIKE {table}) ON COMMIT DROP")
        self.bulk(stage, cols, rows)
        col_list = ", ".join(cols)
        return self.execute(f"INSERT INTO {table} ({col_list}) SELECT {col_list} FROM {stage} ON CONFLICT DO NOTHING")

    @contextmanager
    def transaction(self) -> Iterator[None]:
        try:
            tx = self.conn.transaction()
            tx.__enter__()
        except self._psycopg.Error as exc:
            raise StoreError(f"collection database error (PostgreSQL): {exc}") from exc
        try:
            yield
        except BaseException as exc:
            tx.__exit__(type(exc), exc, exc.__traceback__)
            raise
        else:
            self._run(lambda: tx.__exit__(None, None, None))

    def close(self) -> None:
        self.conn.close()


def open_backend(site_dir: str | Path, db_url: str | None) -> Backend:
    """PostgreSQL when ``db_url`` is a ``postgresql://`` URL, else ``SITE/collection.db``."""
    if db_url:
        if not db_url.startswith(("postgresql://", "postgres://")):
            raise StoreError("--db must be a postgresql:// URL (the default is SITE/collection.db)")
        return PostgresBackend(db_url)
    return SQLiteBackend(Path(site_dir) / "collection.db")
