"""The embedded default under concurrent writers: a real server (`uvicorn --workers 2`, each with its embedded job
worker) on SQLite takes single-item POSTs from several clients while an upload job stores its chunks. SQLite lets
one connection write at a time and refuses at once a write whose snapshot another writer has overtaken; no POST
and no job may fail for it, and every row is stored exactly once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from alembic import command
from sqlalchemy import func, select

from app.db.session import make_engine
from app.db.tables import Feedback
from tests.conftest import alembic_config
from tests.faults.running import Server, assert_stored_once, koe_env, review_csv, review_texts, wait_for_job

ROWS = 1_500
CLIENTS, POSTS = 6, 60


def test_concurrent_posts_and_an_upload_all_land_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'koe.db'}"
    command.upgrade(alembic_config(url), "head")
    engine = make_engine(url)
    server = Server(koe_env(url, tmp_path), tmp_path / "server.log")
    server.command += ["--workers", "2"]
    server.start(timeout=60)
    try:
        uploaded = review_texts("upload", ROWS)
        response = httpx.post(
            f"{server.base}/v1/uploads",
            files={"file": ("reviews.csv", review_csv(uploaded))},
            data={"source": "upload"},
            timeout=30,
        )
        assert response.status_code == 202, response.text
        posted = review_texts("posted", CLIENTS * POSTS)

        def client(k: int) -> list[int]:
            with httpx.Client(base_url=server.base, timeout=30) as http:
                return [
                    http.post(
                        "/v1/feedback",
                        json={"items": [{"source": "posted", "external_id": f"p-{i}", "text": posted[i]}]},
                    ).status_code
                    for i in range(k * POSTS, (k + 1) * POSTS)
                ]

        with ThreadPoolExecutor(CLIENTS) as pool:
            statuses = [s for answers in pool.map(client, range(CLIENTS)) for s in answers]
        finished = wait_for_job(engine, int(response.json()["id"]), timeout=180)
    finally:
        server.close()
    assert statuses == [201] * len(posted), {s: statuses.count(s) for s in set(statuses)}
    assert finished.status == "succeeded", finished.error
    assert_stored_once(engine, "posted", posted)
    assert_stored_once(engine, "upload", uploaded)
    with engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(Feedback)) == ROWS + len(posted)
    engine.dispose()
