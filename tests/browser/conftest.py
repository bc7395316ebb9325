"""Browser fixtures: a real uvicorn server on a migrated SQLite file, seeded over HTTP, and headless Chromium.

Debian's chromium and chromium-driver are used as installed; Selenium never downloads a browser or a driver.
Without them the tests skip, unless KOE_REQUIRE_BROWSER=1 (CI), where they fail.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from alembic import command
from fastapi import FastAPI
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.chrome.webdriver import WebDriver

from app.core.config import Settings
from app.main import create_app
from tests.browser import seed
from tests.conftest import alembic_config
from tests.factories import CueAspects, CueEmotions

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
VIEWPORT = {"width": 1400, "height": 1000}
# Customer text is untrusted: this one must reach the page as text, never as markup.
HOSTILE_TEXT = (
    '<img src=x onerror="window.koeXss=1">返品の手続きが分かりにくく、とても困っています。'
    "<script>window.koeXss=2</script>"
)


@dataclass(frozen=True)
class Site:
    url: str
    api: httpx.Client
    app: FastAPI


def require_browser() -> None:
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.is_file()]
    if missing:
        reason = f"{' and '.join(missing)} not installed (apt-get install -y chromium chromium-driver)"
        if os.environ.get("KOE_REQUIRE_BROWSER") == "1":
            pytest.fail(f"KOE_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)


@contextmanager
def live_server(settings: Settings) -> Iterator[tuple[str, FastAPI]]:
    """uvicorn in a thread on a free loopback port (the socket is bound first, so no other process takes it)."""
    app = create_app(settings)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}", app
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture(scope="session")
def browser_database(tmp_path_factory: pytest.TempPathFactory) -> str:
    require_browser()
    url = f"sqlite:///{tmp_path_factory.mktemp('browser') / 'koe.db'}"
    command.upgrade(alembic_config(url), "head")
    return url


def server_settings(database_url: str, *, auth_required: bool) -> Settings:
    return Settings(database_url=database_url, analyzer="rules", embedded_worker=False, auth_required=auth_required)


@pytest.fixture(scope="session")
def site(browser_database: str) -> Iterator[Site]:
    """The open server (no API key needed), with the seed and one hostile item stored through the API."""
    with (
        live_server(server_settings(browser_database, auth_required=False)) as (url, app),
        httpx.Client(base_url=url, timeout=30) as api,
    ):
        app.state.pipeline.emotions = CueEmotions()  # the rules answer none; the emotion panel needs some
        app.state.pipeline.aspects = CueAspects()  # likewise the aspect panel
        hostile = {"source": "web_form", "external_id": "html-1", "channel": "other", "stage": "support"}
        response = api.post("/v1/feedback", json={"items": [*seed.items(), hostile | {"text": HOSTILE_TEXT}]})
        assert response.status_code == 201, response.text
        assert response.json()["created"] == len(seed.ROWS) + 1
        yield Site(url, api, app)


@pytest.fixture(scope="session")
def locked_site(site: Site, browser_database: str) -> Iterator[Site]:
    """A second server on the same data that requires an API key."""
    with (
        live_server(server_settings(browser_database, auth_required=True)) as (url, app),
        httpx.Client(base_url=url, timeout=30) as api,
    ):
        yield Site(url, api, app)


@pytest.fixture(scope="session")
def driver() -> Iterator[WebDriver]:
    require_browser()
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--lang=ja-JP"):
        options.add_argument(argument)
    options.add_argument(f"--window-size={VIEWPORT['width']},{VIEWPORT['height']}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    chrome = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    chrome.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {**VIEWPORT, "deviceScaleFactor": 1, "mobile": False})
    yield chrome
    chrome.quit()
