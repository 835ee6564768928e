"""Shared fixtures: one real model trained (or reused from models/) per test session."""
from __future__ import annotations

import contextlib
import functools
import http.server
import logging
import os
import shutil
import threading
import warnings
from pathlib import Path
from typing import Iterator

import pytest

os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from bot.core.settings import PROJECT_ROOT, Settings, get_settings  # noqa: E402
from bot.tools.devserver import free_port  # noqa: E402
from tests.databases import scratch_postgres  # noqa: E402


@pytest.fixture(scope="session")
def settings() -> Settings:
    return get_settings()


@pytest.fixture(scope="session")
def trained_model(settings: Settings) -> Path:
    """The project's real model: trained once if models/ has none for the current data (about a minute)."""
    from bot.nlu.training import train

    warnings.filterwarnings("ignore")
    logging.getLogger("rasa").setLevel(logging.ERROR)
    return train(settings).model_path


@pytest.fixture(scope="session")
def parser(trained_model: Path):
    from bot.nlu.parser import NluParser

    return NluParser.load(trained_model)


@pytest.fixture()
def data_copy(tmp_path: Path) -> Path:
    """A writable copy of data/ (without generated files) for tests that edit the knowledge base."""
    target = tmp_path / "data"
    shutil.copytree(PROJECT_ROOT / "data", target, ignore=shutil.ignore_patterns("generated"))
    return target


def settings_for(data_dir: Path, models_dir: Path, config: Path | None = None) -> Settings:
    return Settings(data_dir=data_dir, models_dir=models_dir, rasa_config=config or PROJECT_ROOT / "bot" / "config.yml")


def subprocess_env(**extra: str) -> dict:
    env = dict(os.environ)
    env.update({"RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "ignore"})
    env.update(extra)
    return env


# --- databases ---------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def postgres_url():
    """A fresh PostgreSQL database for this session (dropped at the end)."""
    with scratch_postgres("wuye_test") as (url,):
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'wuye.db'}"
    return request.getfixturevalue("postgres_url")


# --- an in-process app (FastAPI TestClient) -------------------------------------------------------------------
def make_app(settings, parser, tmp_path_factory, name: str):
    """A real app on its own SQLite database and upload folder, started (lifespan run) for a test module."""
    import dataclasses

    from fastapi.testclient import TestClient

    from bot.main import create_app

    tmp = tmp_path_factory.mktemp(name)
    configured = dataclasses.replace(settings, database_url=f"sqlite:///{tmp / 'wuye.db'}", upload_dir=tmp / "uploads",
                                     secret_key="test-secret")
    application = create_app(configured, parser=parser)
    with TestClient(application):
        yield application


def widget_resident(app):
    """A TestClient holding a fresh widget session (a resident of its own)."""
    from fastapi.testclient import TestClient

    client = TestClient(app)
    client.post("/api/widget/session").raise_for_status()
    return client


@contextlib.contextmanager
def static_site(directory: Path) -> Iterator[int]:
    """Serve ``directory`` over HTTP on a free loopback port (another origin than the app's), yielding the port."""
    port = free_port()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(directory))
    site = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=site.serve_forever, daemon=True).start()
    try:
        yield port
    finally:
        site.shutdown()
