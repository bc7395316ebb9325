"""SQLite with several writers (API workers, the embedded job thread): a transaction that reads, then writes,
fails outright if another writer committed in between, unless it took the write lock when it began."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from app.db.session import make_engine, session_factory


@pytest.fixture
def engine(tmp_path: Path):  # type: ignore[no-untyped-def]
    engine = make_engine(f"sqlite:///{tmp_path / 'writers.db'}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE item (name TEXT)"))
    yield engine
    engine.dispose()


def _insert_from_thread(factory, name: str) -> threading.Thread:  # type: ignore[no-untyped-def]
    def insert() -> None:
        with factory() as session:
            session.execute(text("INSERT INTO item VALUES (:name)"), {"name": name})
            session.commit()

    thread = threading.Thread(target=insert)
    thread.start()
    return thread


def test_a_deferred_reader_that_then_writes_loses_the_race(engine) -> None:  # type: ignore[no-untyped-def]
    factory = session_factory(engine)
    with factory() as first:
        first.execute(text("SELECT count(*) FROM item")).scalar()  # a read snapshot, no lock yet
        _insert_from_thread(factory, "other").join(timeout=10)
        with pytest.raises(OperationalError):  # SQLITE_BUSY at once: its snapshot is stale, waiting cannot help
            first.execute(text("INSERT INTO item VALUES ('first')"))


def test_writer_sessions_take_turns_and_both_rows_are_stored(engine) -> None:  # type: ignore[no-untyped-def]
    factory = session_factory(engine, writer=True)
    with factory() as first:
        before = first.execute(text("SELECT count(*) FROM item")).scalar()
        other = _insert_from_thread(factory, "other")  # waits for the lock `first` holds
        other.join(timeout=0.3)
        assert other.is_alive()
        first.execute(text("INSERT INTO item VALUES ('first')"))
        first.commit()
    other.join(timeout=10)
    with engine.connect() as connection:
        names = sorted(connection.execute(text("SELECT name FROM item")).scalars())
    assert before == 0 and names == ["first", "other"]


def test_only_requests_that_write_take_a_writer_session(tmp_path: Path) -> None:
    from alembic import command
    from fastapi.testclient import TestClient

    from app.core.config import Settings
    from app.main import create_app
    from tests.conftest import alembic_config

    url = f"sqlite:///{tmp_path / 'routes.db'}"
    command.upgrade(alembic_config(url), "head")
    app = create_app(Settings(database_url=url, analyzer="rules", embedded_worker=False, auth_required=False))
    writers: list[str] = []
    factory = app.state.writer_session_factory

    def recording():  # type: ignore[no-untyped-def]
        writers.append("writer")
        return factory()

    app.state.writer_session_factory = recording
    year = {"from": "2026-01-01T00:00:00", "to": "2027-01-01T00:00:00"}
    with TestClient(app) as client:
        assert client.post("/v1/analyze", json={"documents": [{"text": "悪くない。"}]}).status_code == 200
        assert client.post("/v1/analytics/compare", json={"a": year, "b": year}).status_code == 200
        assert client.get("/v1/analytics/journey").status_code == 200
        assert writers == []  # reads, even when POSTed, leave the write lock to writers
        item = {"source": "web", "external_id": "w-1", "text": "配送が遅い。"}
        assert client.post("/v1/feedback", json={"items": [item]}).status_code == 201
        assert writers == ["writer"]
