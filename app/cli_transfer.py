"""`koe upload` and `koe export`: the analyst's file in, the analysed file out, with a live progress bar."""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from tqdm import tqdm

from app.core.config import get_settings
from app.db.repositories.filters import FeedbackFilter
from app.db.session import engine_for, session_factory
from app.services import export, health, jobs, uploads
from app.workers.embedded import pipeline_provider

FINAL = ("succeeded", "failed", "cancelled")


def _mapping(pairs: list[str]) -> dict[str, str] | None:
    return dict(pair.split("=", 1) for pair in pairs) if pairs else None


def _follow(read_job: Any, job_id: int) -> dict[str, Any]:
    """Show rows, rate, ETA and failures until the job ends."""
    with tqdm(unit="row", desc=f"job {job_id}", dynamic_ncols=True) as bar:
        while True:
            job = read_job()
            bar.total = job["rows_total"]
            bar.n = job["rows_done"]
            counts = {k: job[k] for k in ("created", "updated", "unchanged")} | {"failed": job["rows_failed"]}
            # as text: tqdm shortens round numbers (30000 → "3e+4"); one refresh per poll, not two
            bar.set_postfix({k: f"{n:,}" for k, n in counts.items()}, refresh=False)
            bar.refresh()
            if job["status"] in FINAL:
                return job
            time.sleep(0.5)


def upload_remote(args: argparse.Namespace) -> dict[str, Any]:
    headers = {"X-API-Key": args.api_key} if args.api_key else {}
    with (
        httpx.Client(base_url=args.server, timeout=300, headers=headers) as client,
        Path(args.file).open("rb") as handle,
    ):
        form = {
            "source": args.source,
            **({"mapping": json.dumps(_mapping(args.map), ensure_ascii=False)} if args.map else {}),
            **({"encoding": args.encoding} if args.encoding else {}),
            **({"sheet": args.sheet} if args.sheet else {}),
        }
        response = client.post("/v1/uploads", files={"file": (Path(args.file).name, handle)}, data=form)
        if response.status_code != 202:
            raise SystemExit(f"upload refused ({response.status_code}): {response.text}")
        job_id = response.json()["id"]
        return _follow(lambda: client.get(f"/v1/jobs/{job_id}").raise_for_status().json(), job_id)


def upload_local(args: argparse.Namespace) -> dict[str, Any]:
    settings = get_settings()
    engine = engine_for(settings.database_url)
    health.require_migrated(engine)
    factory = session_factory(engine)
    with Path(args.file).open("rb") as handle:
        path = uploads.store_file(handle, Path(args.file).name, settings)
    with factory() as session:
        job_id = uploads.create_job(
            session=session,
            tenant_id=settings.default_tenant,
            path=path,
            filename=Path(args.file).name,
            source=args.source,
            mapping=_mapping(args.map),
            encoding=args.encoding,
            sheet=args.sheet,
        ).id
    from app.cli import serving_pipeline

    pipeline_for = pipeline_provider(serving_pipeline())
    runner = threading.Thread(
        target=jobs.run_pending,
        daemon=True,
        kwargs={
            "session_factory": factory,
            "pipeline_for": pipeline_for,
            "settings": settings,
            "worker": "cli",
            "only": job_id,
        },
    )
    runner.start()

    def read() -> dict[str, Any]:
        with factory() as session:
            return jobs.to_public(
                jobs.get_or_raise(session=session, tenant_id=settings.default_tenant, job_id=job_id)
            ).model_dump()

    return _follow(read, job_id)


def upload(args: argparse.Namespace) -> int:
    job = upload_remote(args) if args.server else upload_local(args)
    print(
        f"{job['status']}: {job['created']} created, {job['updated']} updated, {job['unchanged']} unchanged, "
        f"{job['rows_failed']} rejected (see /v1/jobs/{job['id']}/errors)"
    )
    return 0 if job["status"] == "succeeded" else 1


def export_file(args: argparse.Namespace) -> int:
    settings = get_settings()
    factory = session_factory(engine_for(settings.database_url))
    with factory() as session, Path(args.out).open("wb") as out:
        records = tqdm(export.rows(session, tenant_id=settings.default_tenant, f=FeedbackFilter()), unit="row")
        if args.format == "xlsx":
            with export.xlsx_file(records) as handle:
                out.write(handle.read())
        else:
            stream = (
                export.jsonl_stream(records) if args.format == "jsonl" else export.csv_stream(records, args.encoding)
            )
            for chunk in stream:
                out.write(chunk)
    return 0


def register(commands: Any) -> None:
    up = commands.add_parser("upload", help="import a review export (CSV/TSV/JSONL/XLSX) with a progress bar")
    up.add_argument("file")
    up.add_argument("--source", default="upload")
    up.add_argument("--map", action="append", default=[], metavar="列名=field", help="e.g. --map 本文=text")
    up.add_argument("--encoding", default=None)
    up.add_argument("--sheet", default=None)
    up.add_argument("--server", default=None, help="a running koe, e.g. http://127.0.0.1:8000 (default: local DB)")
    up.add_argument("--api-key", default=os.environ.get("KOE_API_KEY"), help="with --server (default: $KOE_API_KEY)")
    up.set_defaults(handler=upload)
    out = commands.add_parser("export", help="write stored feedback with its analysis")
    out.add_argument("--format", choices=["csv", "xlsx", "jsonl"], default="csv")
    out.add_argument("--encoding", choices=["utf-8", "cp932"], default="utf-8", help="CSV only")
    out.add_argument("--out", required=True)
    out.set_defaults(handler=export_file)
