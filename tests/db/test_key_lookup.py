"""The existing-key lookup of every write seeks each key in the unique index, even when PostgreSQL's statistics
have never seen the keys' source (a new upload into a large table, autovacuum behind): it used to read every row
of that source for each lookup, and an upload slowed down as it went."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.orm import Session

from app.db.repositories import feedback as repo
from app.db.session import make_engine
from tests.conftest import alembic_config, database_url, drop_postgres_database

ROWS = 20_000
FILL = """
INSERT INTO feedback (tenant_id, source, external_id, channel, text, content_hash, written_at, received_at,
                      updated_at, metadata)
SELECT 'default', CAST(:source AS varchar), CAST(:source AS varchar) || '-' || g,
       'review', '配送が遅い', md5(g::text), now(), now(), now(), '{}'
FROM generate_series(1, CAST(:rows AS integer)) AS g
"""


def index_conditions(plan: dict) -> list[str]:
    found = [plan["Index Cond"]] if "Index Cond" in plan else []
    for child in plan.get("Plans", []):
        found += index_conditions(child)
    return found


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Session]:
    """A database of its own: ANALYZE writes the planner's statistics in place, kept even when the test's
    transaction is rolled back, and other tests read them."""
    url = database_url("postgresql", tmp_path, "koe_lookup_test")
    command.upgrade(alembic_config(url), "head")
    engine = make_engine(url)
    with Session(engine) as db:
        yield db
    engine.dispose()
    drop_postgres_database(str(engine.url.database))


def test_keys_of_a_source_the_statistics_never_saw_are_sought_by_all_index_columns(session: Session) -> None:
    session.execute(text(FILL), {"source": "2025年アンケート", "rows": ROWS})
    session.execute(text("ANALYZE feedback"))
    session.execute(text(FILL), {"source": "2026年レビュー", "rows": ROWS})  # unseen by the statistics

    keys = [("2026年レビュー", f"2026年レビュー-{n}") for n in (1, 777, 19_999)] + [("2026年レビュー", "無い")]
    found = repo.by_external_ids(session, tenant_id="default", keys=keys)
    assert sorted(found) == sorted(keys[:3])

    statement = repo._ids_by_key("postgresql").compile(session.get_bind())
    params = {"tenant_id": "default", "sources": [s for s, _ in keys], "external_ids": [e for _, e in keys]}
    explained = session.connection().exec_driver_sql(f"EXPLAIN (FORMAT JSON) {statement}", params).scalar_one()
    plan = (json.loads(explained) if isinstance(explained, str) else explained)[0]["Plan"]
    conditions = index_conditions(plan)
    assert any("external_id" in c and "source" in c and "tenant_id" in c for c in conditions), plan
