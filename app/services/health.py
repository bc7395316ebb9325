"""Readiness checks: database, migrations, models."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

from models.pipeline import AnalysisPipeline

ALEMBIC_INI = Path(__file__).resolve().parents[2] / "alembic.ini"


def migration_head() -> str | None:
    return ScriptDirectory.from_config(Config(str(ALEMBIC_INI))).get_current_head()


def readiness(*, engine: Engine, pipeline: AnalysisPipeline | None) -> dict[str, dict[str, Any]]:
    checks: dict[str, dict[str, Any]] = {}
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
            current = MigrationContext.configure(connection).get_current_revision()
        checks["database"] = {"ok": True}
        head = migration_head()
        checks["migrations"] = {"ok": current == head, "current": current, "head": head}
    except Exception as exc:  # any driver error means "not ready", reported, never raised
        checks["database"] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    checks["models"] = {"ok": pipeline is not None, "versions": pipeline.model_versions if pipeline else {}}
    return checks
