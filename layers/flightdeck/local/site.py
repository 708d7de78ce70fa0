"""The dashboard's static export served beside the API, as CloudFront does on AWS: one origin,
folders answered by their `index.html`, unknown paths by the export's `404.html`."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

DEFAULT_SITE_DIR = Path("frontend/out")


def built(site_dir: Path) -> bool:
    return (site_dir / "index.html").is_file()


def mount(app: FastAPI, site_dir: Path) -> None:
    """Serve `site_dir` under `/`; the API's routes, registered before, keep precedence."""
    app.mount("/", StaticFiles(directory=site_dir, html=True), name="dashboard")
