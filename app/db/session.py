"""Engine and session factory; SQLite gets the pragmas that make it a reasonable embedded server."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache, wraps
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import orjson
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from app.core.time import sqlite_day_period, sqlite_period

CONNECT_TIMEOUT_SECONDS = 5
IMMEDIATE = "koe_begin_immediate"  # an execution option of the session's connection: see _begin
WRITE_RACES = ("SQLITE_BUSY", "SQLITE_BUSY_SNAPSHOT")
T = TypeVar("T")
P = ParamSpec("P")


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
            url,
            pool_pre_ping=True,
            pool_size=10,
            max_overflow=20,
            hide_parameters=True,
            connect_args=connect,
            # orjson for JSONB in and out: the stdlib's json.dumps was a tenth of an upload's CPU in the job process
            json_serializer=_json_bytes,
            json_deserializer=orjson.loads,
        )
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False}, hide_parameters=True)
    event.listen(engine, "connect", _sqlite_pragmas)
    event.listen(engine, "begin", _begin)
    return engine


def _json_bytes(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)


def _begin(connection: Connection) -> None:
    # Deferred by default: a transaction reads (and analyzes) without the write lock. IMMEDIATE, on request,
    # takes the write lock first, waiting for it in the busy handler (see retry_write_race).
    immediate = connection.get_execution_options().get(IMMEDIATE, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


@lru_cache(maxsize=4)
def engine_for(url: str) -> Engine:
    return make_engine(url)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


def retry_write_race(session: Session, transaction: Callable[[], T]) -> T:
    """Run `transaction` (reads, then writes, then commits); when SQLite refused its first write because another
    connection held the write lock or had committed since its first read (SQLITE_BUSY / SQLITE_BUSY_SNAPSHOT on
    the upgrade from reading to writing: immediate, the busy handler is not consulted), run it once more from a
    rolled-back session, this time taking the write lock first (BEGIN IMMEDIATE), so that it cannot lose again.
    Only the losers of a race hold the lock while they analyze (when every transaction took it first, throughput
    collapsed under overload: 2.9 req/s). Measured without this: 0.36 % of single-item POSTs failed under open-loop
    load; with an upload job running beside 6 posting clients, 61-67 % of their POSTs failed and so did the job.
    Other errors, and PostgreSQL's, propagate."""
    try:
        return transaction()
    except OperationalError as exc:
        session.rollback()
        if getattr(exc.orig, "sqlite_errorname", None) not in WRITE_RACES:
            raise
    session.connection(execution_options={IMMEDIATE: True})
    return transaction()


def write_transaction(service: Callable[P, T]) -> Callable[P, T]:
    """A service call that reads, writes and commits on its `session` (keyword, else first argument), run through
    retry_write_race: a request's transaction has always read before it writes (the tenant profile, the key), so
    on SQLite any of them can meet the write race."""

    @wraps(service)
    def run(*args: P.args, **kwargs: P.kwargs) -> T:
        session = kwargs["session"] if "session" in kwargs else args[0]
        assert isinstance(session, Session), f"{service.__qualname__} needs its session as `session` or first argument"
        return retry_write_race(session, lambda: service(*args, **kwargs))

    return run
