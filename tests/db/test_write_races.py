"""SQLite refuses at once the first write of a transaction that has read, when another connection holds the write
lock (SQLITE_BUSY) or committed since that read (SQLITE_BUSY_SNAPSHOT); koe then runs the transaction once more,
taking the write lock first, instead of failing the request or the upload job."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, event, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from app.db.session import make_engine, retry_write_race


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path / 'race.db'}")
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    return engine


def _begins(engine: Engine) -> list[str]:
    begins: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: args[2].startswith("BEGIN") and begins.append(args[2]))
    return begins


def _count(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT count(*) FROM t")).scalar_one())


def test_a_transaction_overtaken_by_another_writer_is_repeated_holding_the_lock(engine: Engine) -> None:
    attempts, begins = [], _begins(engine)
    with Session(engine) as session, Session(engine) as other:

        def transaction() -> None:
            attempts.append(1)
            session.execute(text("SELECT count(*) FROM t")).scalar()  # the read that pins the snapshot
            if len(attempts) == 1:  # another request commits in between, the first time
                other.execute(text("INSERT INTO t VALUES (1)"))
                other.commit()
            session.execute(text("INSERT INTO t VALUES (2)"))
            session.commit()

        retry_write_race(session, transaction)
    assert len(attempts) == 2
    assert begins == ["BEGIN", "BEGIN", "BEGIN IMMEDIATE"]  # ours, the other's, ours again with the lock first
    assert _count(engine) == 2


def test_a_transaction_meeting_a_held_write_lock_waits_for_it_the_second_time(engine: Engine) -> None:
    attempts = []
    with Session(engine) as session, Session(engine) as other:
        session.execute(text("SELECT 1"))
        session.rollback()
        other.execute(text("INSERT INTO t VALUES (1)"))  # holds the write lock, commits 0.3 s later

        def commit_later() -> None:
            time.sleep(0.3)
            other.commit()

        def transaction() -> None:
            attempts.append(1)
            session.execute(text("SELECT count(*) FROM t")).scalar()
            session.execute(text("INSERT INTO t VALUES (2)"))  # refused at once the first time: SQLITE_BUSY
            session.commit()

        committer = threading.Thread(target=commit_later)
        committer.start()
        retry_write_race(session, transaction)
        committer.join()
    assert len(attempts) == 2
    assert _count(engine) == 2


def test_the_race_is_real_without_the_retry(engine: Engine) -> None:
    with Session(engine) as session, Session(engine) as other:
        session.execute(text("SELECT count(*) FROM t")).scalar()
        other.execute(text("INSERT INTO t VALUES (1)"))
        other.commit()
        with pytest.raises(OperationalError) as raised:
            session.execute(text("INSERT INTO t VALUES (2)"))
        assert raised.value.orig.sqlite_errorname == "SQLITE_BUSY_SNAPSHOT"  # type: ignore[union-attr]


def test_other_database_errors_are_not_repeated(engine: Engine) -> None:
    attempts = []
    with Session(engine) as session:

        def transaction() -> None:
            attempts.append(1)
            session.execute(text("INSERT INTO missing VALUES (1)"))

        with pytest.raises(OperationalError, match="no such table"):
            retry_write_race(session, transaction)
    assert len(attempts) == 1
