"""The analyst dashboard: one static page and its assets; the page's own API calls carry the caller's key."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

WEB_DIR = Path(__file__).resolve().parents[2] / "web"
# Scripts only from this server: customer text on the page can never run as code, even if a bug inserted it as
# markup. Inline styles stay allowed for ECharts' tooltips.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

router = APIRouter(include_in_schema=False)


@router.get("/dashboard")
def dashboard() -> FileResponse:
    return FileResponse(
        WEB_DIR / "dashboard.html",
        media_type="text/html; charset=utf-8",
        headers={"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"},
    )


def static_files() -> StaticFiles:
    """The dashboard's script, stylesheet and vendored ECharts, served at /static."""
    return StaticFiles(directory=WEB_DIR / "static")
