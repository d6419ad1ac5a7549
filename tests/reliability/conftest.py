"""Fixtures for the reliability suite: the real app under uvicorn on loopback, seeded."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from authsvc.cli import demo_info
from authsvc.config import Settings, load_settings
from authsvc.db.engine import make_session_factory
from authsvc.demo import seed_demo_data
from authsvc.factory import build_services, create_app
from tests.support.live_server import live_server


@dataclass
class LiveService:
    base_url: str
    settings: Settings
    engine: Engine
    demo: dict[str, Any]


ServeFactory = Callable[..., AbstractContextManager[LiveService]]


@pytest.fixture
def serve(tmp_path: Path, database_url: str) -> ServeFactory:
    """`with serve(**settings) as service:` the app under uvicorn (on the test's database)."""
    return serve_factory(tmp_path, database_url)


@pytest.fixture
def serve_any(tmp_path: Path) -> ServeFactory:
    """Like `serve`, for tests that bring their own database: `serve_any(database_url=...)`."""
    return serve_factory(tmp_path, None)


def serve_factory(tmp_path: Path, database_url: str | None) -> ServeFactory:
    @contextmanager
    def start(*, run_outbox_worker: bool = False, **overrides: Any) -> Iterator[LiveService]:
        values: dict[str, Any] = {
            "environment": "test",
            "data_dir": tmp_path / "data",
            "database_url": database_url,
            "app_url": "https://app.example.test",
        }
        values.update(overrides)
        settings = load_settings(**values)
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        services = build_services(settings)
        engine = services.engine
        seed_demo_data(make_session_factory(engine, write=True))
        app = create_app(settings, services=services, run_outbox_worker=run_outbox_worker)
        with live_server(app) as base_url:
            yield LiveService(base_url, settings, engine, demo_info(settings, base_url))
        engine.dispose()

    return start
