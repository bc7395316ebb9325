"""SQLite refuses at once the first write of a transaction that has read, when another connection holds the write
lock (SQLITE_BUSY) or committed since that read (SQLITE_BUSY_SNAPSHOT); koe then runs the transaction once more,
taking the write lock first, instead of failing the request or the upload job."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Engine, event, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.db.repositories.filters import FeedbackFilter
from app.db.session import make_engine, retry_write_race
from app.schemas.feedback import FeedbackCreate
from app.services import feedback, jobs, keys, privacy, taxonomy, uploads
from models.registry import build_pipeline
from tests.api.test_taxonomy import HOTEL
from tests.conftest import alembic_config


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


# Every service write a request can make goes through retry_write_race (app.db.session.write_transaction): each
# is overtaken once by another connection's commit between its reads and its first write, and still lands.


@pytest.fixture
def migrated(tmp_path: Path) -> tuple[Engine, Engine]:
    """koe's schema on SQLite, and a second engine on the same file playing the other request."""
    url = f"sqlite:///{tmp_path / 'koe.db'}"
    command.upgrade(alembic_config(url), "head")
    other = make_engine(url)
    with other.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE elsewhere (x INTEGER)")
    return make_engine(url), other


def overtaken_once(engine: Engine, other: Engine) -> list[str]:
    """Before the session's first write statement, the other engine commits a write: SQLITE_BUSY_SNAPSHOT."""
    begins: list[str] = []

    def before(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if statement.startswith("BEGIN"):
            begins.append(statement)
        elif statement.lstrip().split(" ", 1)[0] in ("INSERT", "UPDATE", "DELETE") and len(begins) == 1:
            begins.append("overtaken")
            with other.begin() as connection:
                connection.exec_driver_sql("INSERT INTO elsewhere VALUES (1)")

    event.listen(engine, "before_cursor_execute", before)
    return begins


def _stored_item(session: Session, settings: Settings) -> int:
    outcomes = feedback.store(
        session=session,
        base=build_pipeline("rules"),
        tenant_id="default",
        items=[FeedbackCreate(text="配送が遅すぎて困りました。", source="race", external_id="r-1")],
        settings=settings,
    )
    return outcomes[0].id


def _upload(tmp_path: Path) -> Path:
    path = tmp_path / "reviews.csv"
    path.write_text("本文,評価\n思ったより早く届きました。,5\n", encoding="utf-8")
    return path


CALLS: dict[str, Callable[[Session, Settings, Path], Callable[[], object]]] = {
    "delete feedback": lambda s, st, _: partial(
        feedback.delete, session=s, tenant_id="default", feedback_id=_stored_item(s, st)
    ),
    "create key": lambda s, st, _: partial(keys.create, session=s, tenant_id="default", name="k", scopes=["read"]),
    "revoke key": lambda s, st, _: partial(
        keys.revoke,
        session=s,
        tenant_id="default",
        key_id=keys.create(session=s, tenant_id="default", name="k", scopes=["read"])[0].id,
    ),
    "set privacy": lambda s, st, _: partial(privacy.set_mode, s, tenant_id="default", settings=st, mode="mask"),
    "activate taxonomy": lambda s, st, _: partial(
        taxonomy.activate, session=s, tenant_id="default", raw=HOTEL.encode()
    ),
    "reset taxonomy": lambda s, st, _: partial(taxonomy.reset, session=s, tenant_id="default"),
    "queue rescore": lambda s, st, _: partial(jobs.create_rescore, session=s, tenant_id="default", f=FeedbackFilter()),
    "cancel job": lambda s, st, _: partial(
        jobs.cancel,
        session=s,
        tenant_id="default",
        job_id=jobs.create_rescore(session=s, tenant_id="default", f=FeedbackFilter()).id,
    ),
    "queue upload": lambda s, st, tmp: partial(
        uploads.create_job,
        session=s,
        tenant_id="default",
        path=_upload(tmp),
        filename="reviews.csv",
        source="race",
        mapping=None,
        encoding=None,
        sheet=None,
    ),
}


@pytest.mark.parametrize("name", CALLS)
def test_every_service_write_survives_the_race(name: str, migrated: tuple[Engine, Engine], tmp_path: Path) -> None:
    engine, other = migrated
    settings = Settings(database_url=str(engine.url), analyzer="rules", embedded_worker=False, auth_required=False)
    with Session(engine, expire_on_commit=False) as session:
        call = CALLS[name](session, settings, tmp_path)  # its setup commits first
        begins = overtaken_once(engine, other)
        session.execute(text("SELECT count(*) FROM feedback")).scalar()  # a request has read before it writes
        call()
    assert begins[:3] == ["BEGIN", "overtaken", "BEGIN IMMEDIATE"], begins  # read, refused, repeated holding the lock
    with other.connect() as connection:
        assert connection.exec_driver_sql("SELECT count(*) FROM elsewhere").scalar() == 1
