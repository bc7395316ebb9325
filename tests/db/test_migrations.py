"""Upgrade from empty to head and back down, on both databases."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import create_engine, inspect, text

from tests.conftest import BACKENDS, alembic_config, database_url, drop_postgres_database

TABLES = {"feedback", "analysis", "analysis_topic", "taxonomy", "job", "job_error", "api_key"}


@pytest.mark.parametrize("backend", BACKENDS)
def test_upgrade_and_downgrade(backend: str, tmp_path) -> None:
    url = database_url(backend, tmp_path, "koe_migration_test")
    config = alembic_config(url)
    engine = create_engine(url)
    command.upgrade(config, "head")
    assert set(inspect(engine).get_table_names()) >= TABLES
    command.downgrade(config, "base")
    assert not TABLES & set(inspect(engine).get_table_names())
    command.upgrade(config, "head")
    assert set(inspect(engine).get_table_names()) >= TABLES
    engine.dispose()
    if backend == "postgresql":
        drop_postgres_database(str(engine.url.database))


@pytest.mark.parametrize("backend", BACKENDS)
def test_tables_match_the_migrations(backend: str, tmp_path) -> None:
    """`alembic check`: autogenerate finds nothing between app/db/tables.py and the migrated schema."""
    url = database_url(backend, tmp_path, "koe_check_test")
    config = alembic_config(url)
    command.upgrade(config, "head")
    command.check(config)
    if backend == "postgresql":
        drop_postgres_database(url.rsplit("/", 1)[-1])


def test_postgresql_keeps_no_statistics_of_the_wide_json_columns(tmp_path) -> None:
    """Migration 0012: ANALYZE skips what no query filters on (its time on 30,000 items: 0.84 → 0.3 s)."""
    url = database_url("postgresql", tmp_path, "koe_statistics_test")
    command.upgrade(alembic_config(url), "head")
    engine = create_engine(url)
    query = text(
        "SELECT attname, attstattarget FROM pg_attribute WHERE attrelid = CAST(:table AS regclass) AND attnum > 0"
    )
    with engine.connect() as connection:
        analysis = dict(connection.execute(query, {"table": "analysis"}).all())
        feedback = dict(connection.execute(query, {"table": "feedback"}).all())
    engine.dispose()
    drop_postgres_database(str(engine.url.database))
    assert analysis["sentences"] == analysis["explanations"] == analysis["conversation"] == feedback["text"] == 0
    assert analysis["terms"] != 0 and analysis["sentiment"] != 0 and feedback["written_at"] != 0  # filtered on
