"""A throwaway server on 127.0.0.1 in a background thread: a copy of data/, a fresh SQLite database with the demo
data, and the real app. Used by the browser/WebSocket/WeChat tests and by `wuye screenshots`."""
from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
import socket
import threading
import time
from pathlib import Path

import httpx
import uvicorn

from bot.core.localtime import holiday, to_utc
from bot.core.settings import PROJECT_ROOT
from bot.kb.community import load_communities
from bot.main import create_app
from bot.storage.db import open_database
from bot.tools.demo import load_demo_data


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def office_clock():
    """Today at 10:00 Beijing time (in UTC, as the app's clock is) plus the time elapsed since the server started:
    inside agent hours on working days."""

    start = time.monotonic()
    day = dt.date.today()
    while holiday(day):  # a statutory holiday would make every handoff a callback ticket
        day -= dt.timedelta(days=1)
    base = to_utc(dt.datetime.combine(day, dt.time(10, 0)))
    return lambda: base + dt.timedelta(seconds=time.monotonic() - start)


class LiveServer:
    def __init__(self, tmp: Path, settings, parser, demo: bool = True, **overrides) -> None:
        """``demo=False``: an empty database (the schema only), as a real company starts before `wuye init`."""
        data = tmp / "data"
        shutil.copytree(PROJECT_ROOT / "data", data, ignore=shutil.ignore_patterns("generated"))
        self.settings = dataclasses.replace(settings, data_dir=data, database_url=f"sqlite:///{tmp / 'live.db'}",
                                            upload_dir=tmp / "uploads", secret_key="test-secret", **overrides)
        db = open_database(self.settings.database_url)
        if demo:
            with db.session() as session:
                load_demo_data(session, load_communities(self.settings.communities_file))
        db.engine.dispose()
        self.app = create_app(self.settings, parser=parser, clock=office_clock())
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._new_server()

    def _new_server(self) -> None:
        self.server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    ws="websockets"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def restart(self) -> None:
        """Stop and start the server on the same port and database: every open connection drops."""
        self.__exit__()
        self._new_server()
        self.__enter__()

    def __enter__(self) -> "LiveServer":
        self.thread.start()
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if httpx.get(self.url + "/api/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError("live server did not start")

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
