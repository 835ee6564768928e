"""The browser tests' fixtures: a live server per test module, one Chromium per module."""
from __future__ import annotations

import pytest

from bot.tools.devserver import LiveServer
from tests.browser.chromium import ARGS, CHROMIUM


@pytest.fixture(scope="module")
def server(tmp_path_factory, settings, parser):
    with LiveServer(tmp_path_factory.mktemp("browser"), settings, parser) as live:
        yield live


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def lonely_server(tmp_path_factory, settings, parser):
    """A server of its own: no agent console has ever connected to it, so no agent is online."""
    with LiveServer(tmp_path_factory.mktemp("nobody-online"), settings, parser) as live:
        yield live
