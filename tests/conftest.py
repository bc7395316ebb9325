"""Fixtures: one migrated database per backend (SQLite file, PostgreSQL), a rolled-back transaction per test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from app.api.deps import get_session
from app.core.config import Settings
from app.db.session import make_engine
from app.main import create_app
from models.pipeline import AnalysisPipeline
from models.registry import build_pipeline

ROOT = Path(__file__).resolve().parents[1]
POSTGRES_URL = os.environ.get("KOE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BACKENDS = ["sqlite", "postgresql"]


def alembic_config(url: str) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["configure_logger"] = False
    return config


def fresh_postgres_database(name: str) -> str:
    """(Re)create database `name` on the test server; fails loudly when PostgreSQL is unreachable."""
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)


def drop_postgres_database(name: str) -> None:
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def database_url(backend: str, tmp_dir: Path, name: str) -> str:
    """A new empty database; PostgreSQL names carry the pid so that parallel runs never share one."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_dir / (name + '.db')}"
    return fresh_postgres_database(f"{name}_{os.getpid()}")


@pytest.fixture(scope="session")
def pipeline() -> AnalysisPipeline:
    return build_pipeline("rules")


@pytest.fixture(scope="session", params=BACKENDS)
def migrated_engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    url = database_url(request.param, tmp_path_factory.mktemp(request.param), "koe_test")
    command.upgrade(alembic_config(url), "head")
    engine = make_engine(url)
    yield engine
    engine.dispose()
    if engine.dialect.name == "postgresql":
        drop_postgres_database(str(engine.url.database))


@pytest.fixture
def session(migrated_engine: Engine) -> Iterator[Session]:
    """A session whose commits are savepoints inside one transaction, rolled back after the test."""
    with migrated_engine.connect() as connection:
        transaction = connection.begin()
        db = Session(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
        try:
            yield db
        finally:
            db.close()
            transaction.rollback()


@pytest.fixture
def settings(migrated_engine: Engine) -> Settings:
    # The API tests are about the service, not the model: the fast rule analyzers serve them.
    # Jobs are driven by the tests themselves (see tests/api/test_jobs.py), not by a background thread.
    # No API key needed (on both databases): tests/api/test_auth.py and test_tenants.py turn auth on.
    return Settings(
        database_url=migrated_engine.url.render_as_string(hide_password=False),
        analyzer="rules",
        embedded_worker=False,
        auth_required=False,
    )


@pytest.fixture
def client(session: Session, settings: Settings, pipeline: AnalysisPipeline) -> Iterator[TestClient]:
    app = create_app(settings)
    app.dependency_overrides[get_session] = lambda: session
    with TestClient(app) as test_client:
        app.state.pipeline = pipeline
        yield test_client


@pytest.fixture
def backend(migrated_engine: Engine) -> str:
    return migrated_engine.dialect.name
