"""The `koe` command: run a worker, migrate the database, analyze a text from the shell."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from app import cli_transfer
from app.core.config import get_settings
from app.core.errors import NotFound
from app.db.repositories import rollup
from app.db.session import engine_for, session_factory
from app.schemas.keys import KeyCreate
from app.services import health, jobs, keys
from app.workers.embedded import pipeline_provider, worker_name
from models.pipeline import AnalysisInput
from models.registry import ModelOptions, build_pipeline, resolve

ROOT = Path(__file__).resolve().parents[1]


def serving_pipeline(analyzer: str | None = None):
    settings = get_settings()
    options = ModelOptions(base_model=settings.base_model, quantize=settings.quantize, bfloat16=settings.bfloat16)
    name = resolve(analyzer or settings.analyzer, options)
    return build_pipeline(name, touchpoint_stages=settings.touchpoint_stages, options=options)


def worker(args: argparse.Namespace) -> int:
    """Run queued jobs (and resume orphaned ones) until SIGTERM/SIGINT, which hands the job in progress back after
    its chunk in flight; --once drains and exits.
    With KOE_BROKER_URL the worker takes its jobs from Celery (Redis) instead of polling the database."""
    settings = get_settings()
    engine = engine_for(settings.database_url)
    health.require_migrated(engine)
    if settings.broker_url and not args.once:
        from app.workers.celery_app import celery

        celery.worker_main(
            ["worker", "--beat", "--concurrency=1", "--loglevel=INFO", "--without-gossip", "--without-heartbeat"]
        )
        return 0
    factory, stop = session_factory(engine), threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    pipeline_for, name = pipeline_provider(serving_pipeline()), worker_name("worker")
    logging.getLogger("koe").info("worker %s started", name)
    while not stop.is_set():
        ran = jobs.run_pending(
            session_factory=factory, pipeline_for=pipeline_for, settings=settings, worker=name, stop=stop
        )
        if args.once and ran == 0:
            return 0
        stop.wait(1.0)
    return 0


def db_upgrade(_: argparse.Namespace) -> int:
    from alembic import command
    from alembic.config import Config

    command.upgrade(Config(str(ROOT / "alembic.ini")), "head")
    return 0


def analyze(args: argparse.Namespace) -> int:
    result = serving_pipeline(args.analyzer).analyze([AnalysisInput(args.text)])[0]
    json.dump(asdict(result), sys.stdout, ensure_ascii=False, indent=2)
    print()
    return 0


def rollup_rebuild(args: argparse.Namespace) -> int:
    """Recount the daily rollup from the stored rows (needed after KOE_TIMEZONE changes)."""
    with _keys_session() as session:
        counted = rollup.rebuild(session, zone=rollup.zone(), tenant_id=args.tenant)
        session.commit()
    print(f"rollup rebuilt from {counted:,} items (calendar {rollup.zone()})")
    return 0


def _keys_session() -> Session:
    engine = engine_for(get_settings().database_url)
    health.require_migrated(engine)
    return session_factory(engine)()


def keys_create(args: argparse.Namespace) -> int:
    """Create a key; the key itself is the last line of the output, and is never shown again."""
    try:
        body = KeyCreate(tenant=args.tenant, name=args.name, scopes=args.scopes.split(","))
    except ValidationError as exc:
        raise SystemExit(f"koe keys create: {exc.errors()[0]['loc'][0]}: {exc.errors()[0]['msg']}") from exc
    with _keys_session() as session:
        key, token = keys.create(session=session, tenant_id=args.tenant, name=body.name, scopes=body.scopes)
        print(f"key {key.id} for tenant {key.tenant_id} ({','.join(key.scopes)}), shown this once:")
    print(token)
    return 0


def keys_list(args: argparse.Namespace) -> int:
    with _keys_session() as session:
        for k in keys.list_(session=session, tenant_id=args.tenant):
            state = f"revoked {k.revoked_at:%Y-%m-%d}" if k.revoked_at else "active"
            print(f"{k.id}\t{k.tenant_id}\tkoe_{k.prefix}_…\t{','.join(k.scopes)}\t{state}\t{k.name}")
    return 0


def keys_revoke(args: argparse.Namespace) -> int:
    with _keys_session() as session:
        try:
            key = keys.revoke(session=session, key_id=args.id, tenant_id=None)
        except NotFound as exc:
            raise SystemExit(str(exc)) from exc
        print(f"key {key.id} of tenant {key.tenant_id} revoked")
    return 0


def _register_keys(commands: Any) -> None:
    actions = commands.add_parser("keys", help="API keys per tenant").add_subparsers(dest="keys_command", required=True)
    create = actions.add_parser("create", help="create a key; prints it once, alone on the last line")
    create.add_argument("--tenant", required=True)
    create.add_argument("--scopes", required=True, help="comma-separated: ingest,read,admin")
    create.add_argument("--name", default="cli")
    create.set_defaults(handler=keys_create)
    listing = actions.add_parser("list", help="keys (without their secrets)")
    listing.add_argument("--tenant", default=None)
    listing.set_defaults(handler=keys_list)
    revoke = actions.add_parser("revoke", help="revoke a key by id")
    revoke.add_argument("id", type=int)
    revoke.set_defaults(handler=keys_revoke)


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    parser = argparse.ArgumentParser(prog="koe", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run_worker = commands.add_parser("worker", help="run jobs from the database")
    run_worker.add_argument("--once", action="store_true", help="exit when no job is left")
    run_worker.set_defaults(handler=worker)
    db = commands.add_parser("db", help="database maintenance")
    db.add_subparsers(dest="db_command", required=True).add_parser("upgrade", help="alembic upgrade head").set_defaults(
        handler=db_upgrade
    )
    one = commands.add_parser("analyze", help="analyze one text and print the result as JSON")
    one.add_argument("text")
    one.add_argument("--analyzer", default=None, help="rules, accurate, fast or auto (default: KOE_ANALYZER)")
    one.set_defaults(handler=analyze)
    rebuild = commands.add_parser("rollup", help="analytics rollup maintenance")
    rebuild = rebuild.add_subparsers(dest="rollup_command", required=True).add_parser("rebuild", help="recount it")
    rebuild.add_argument("--tenant", default=None, help="one tenant (default: all)")
    rebuild.set_defaults(handler=rollup_rebuild)
    cli_transfer.register(commands)
    _register_keys(commands)
    args = parser.parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
