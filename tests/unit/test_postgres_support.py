"""The throwaway PostgreSQL cluster: databases apart, commits that survive a crash, restarts."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from tests.support.postgres import (
    ENV_URL,
    Cluster,
    External,
    cluster_processes,
    database_url_from_env,
)


def _running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:
        return False


async def _write(url: str, value: str) -> str:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute("CREATE TABLE marks (value text)")
        await connection.execute("INSERT INTO marks VALUES ($1)", value)
        name: str = await connection.fetchval("SELECT current_database()")
        return name
    finally:
        await connection.close()


async def _read(url: str) -> list[str]:
    connection = await asyncpg.connect(url)
    try:
        return [row["value"] for row in await connection.fetch("SELECT value FROM marks")]
    finally:
        await connection.close()


def test_databases_survive_a_crash_and_a_restart(tmp_path: Path) -> None:
    cluster = Cluster.start(tmp_path)
    try:
        first, second = cluster.create_database(), cluster.create_database()
        assert first != second
        assert asyncio.run(_write(first, "one")) == first.rsplit("/", 1)[1]
        assert asyncio.run(_write(second, "two")) == second.rsplit("/", 1)[1]

        postmaster = cluster.pid
        assert postmaster is not None
        children = [pid for pid in cluster_processes(postmaster) if pid != postmaster]
        assert children  # the checkpointer, the WAL writer, ...
        cluster.kill()
        assert not [pid for pid in children if _running(pid)]
        cluster.start_again()
        assert asyncio.run(_read(first)) == ["one"]
        assert asyncio.run(_read(second)) == ["two"]

        cluster.restart()
        assert asyncio.run(_read(first)) == ["one"]
    finally:
        cluster.stop()
    # The log outlives the cluster, beside it or (as root under pytest) copied into tmp_path.
    assert list(tmp_path.glob("postgres-*.log")) or cluster.log_path.exists()


def test_external_server_gets_databases_and_drops_them(tmp_path: Path) -> None:
    cluster = Cluster.start(tmp_path)
    try:
        external = External(cluster.url("postgres"))
        url = external.create_database()
        asyncio.run(_write(url, "three"))
        external.stop()
        with pytest.raises(asyncpg.InvalidCatalogNameError):
            asyncio.run(_read(url))
    finally:
        cluster.stop()


def test_database_url_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_URL, "postgresql://u@db.test:5432/postgres")
    assert database_url_from_env() == "postgresql://u@db.test:5432/postgres"
    monkeypatch.setenv(ENV_URL, "")
    assert database_url_from_env() is None
