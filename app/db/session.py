"""Engine and session factory; SQLite gets the pragmas that make it a reasonable embedded server."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from app.core.time import sqlite_day_period, sqlite_period

CONNECT_TIMEOUT_SECONDS = 5


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite's own transaction handling breaks SAVEPOINT; SQLAlchemy emits BEGIN itself instead.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")  # readers do not block the writer
    cursor.execute("PRAGMA synchronous=NORMAL")  # durable at checkpoints; WAL keeps it crash-safe
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()
    dbapi_connection.create_function("koe_period", 3, sqlite_period, deterministic=True)
    dbapi_connection.create_function("koe_day_period", 2, sqlite_day_period, deterministic=True)


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    # hide_parameters: a driver error's text must not carry bound values (feedback text) into logs or job errors.
    if parsed.get_backend_name() != "sqlite":
        # pre-ping: connections that died while the database was away are replaced on checkout, so the service
        # recovers by itself; a connect timeout makes an unreachable host a fast 503 rather than a hung request.
        connect: dict[str, Any] = (
            {} if "connect_timeout" in parsed.query else {"connect_timeout": CONNECT_TIMEOUT_SECONDS}
        )
        if "options" not in parsed.query:
            # koe's queries are interactive (tens of ms): JIT compiling them costs 40-70 ms each and saves nothing
            connect["options"] = "-c jit=off"
        return create_engine(
            url, pool_pre_ping=True, pool_size=10, max_overflow=20, hide_parameters=True, connect_args=connect
        )
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False}, hide_parameters=True)
    event.listen(engine, "connect", _sqlite_pragmas)
    event.listen(engine, "begin", lambda connection: connection.exec_driver_sql("BEGIN"))
    return engine


@lru_cache(maxsize=4)
def engine_for(url: str) -> Engine:
    return make_engine(url)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)
