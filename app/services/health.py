"""Readiness checks: database, migrations, models."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text
from sqlalchemy.exc import InterfaceError, OperationalError

from models.pipeline import AnalysisPipeline

ALEMBIC_INI = Path(__file__).resolve().parents[2] / "alembic.ini"
log = logging.getLogger("koe")


class DatabaseUnreachable(RuntimeError):
    """The service cannot start: its database does not answer."""


def migration_head() -> str | None:
    return ScriptDirectory.from_config(Config(str(ALEMBIC_INI))).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def require_migrated(engine: Engine) -> None:
    """Refuse to serve a database the code does not match: a clear start-up error instead of 500s later."""
    where = engine.url.render_as_string(hide_password=True)
    try:
        current = current_revision(engine)
    except (OperationalError, InterfaceError) as exc:
        # Fail fast, with one line that says what to fix, rather than serve 503s from a database never seen.
        reason = next(iter(str(exc.orig).splitlines()), type(exc.orig).__name__)
        message = f"database {where} is unreachable ({reason}): check KOE_DATABASE_URL"
        log.error("cannot start: %s", message)
        raise DatabaseUnreachable(message) from None
    head = migration_head()
    if current != head:
        raise RuntimeError(
            f"database {where} is at migration {current}, "
            f"the code needs {head}: run `make setup` (or `alembic upgrade head`) first"
        )


def readiness(*, engine: Engine, pipeline: AnalysisPipeline | None) -> dict[str, dict[str, Any]]:
    checks: dict[str, dict[str, Any]] = {}
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        checks["database"] = {"ok": True}
        current = current_revision(engine)
        head = migration_head()
        checks["migrations"] = {"ok": current == head, "current": current, "head": head}
    except Exception as exc:  # any driver error means "not ready", reported, never raised
        checks["database"] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    checks["models"] = {"ok": pipeline is not None, "versions": pipeline.model_versions if pipeline else {}}
    return checks
