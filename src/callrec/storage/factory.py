"""The store a deployment names: PostgreSQL at `--database postgresql://…`, else SQLite in the
data directory (the embedded default)."""

from __future__ import annotations

from pathlib import Path

from callrec.storage.base import Store

DATABASE_FILE = "callrec.db"
POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def is_postgres(database: str | None) -> bool:
    return database is not None and database.startswith(POSTGRES_SCHEMES)


def open_store(database: str | None, data_dir: Path) -> Store:
    """Open (and migrate) the deployment's store."""
    if database is None:
        from callrec.storage.sqlite import SqliteStore

        return SqliteStore(data_dir / DATABASE_FILE)
    if not is_postgres(database):
        raise ValueError(f"--database must be a postgresql:// URL, not {database!r}")
    from callrec.storage.postgres import PostgresStore

    return PostgresStore(database)
