"""The browser tests' fixtures: a live server per test module, one Chromium per module."""
from __future__ import annotations

import pytest

from bot.tools.devserver import LiveServer
from tests.browser.chromium import ARGS, CHROMIUM, PRIVACY_ACCEPTED


@pytest.fixture(scope="module")
def server(tmp_path_factory, settings, parser):
    with LiveServer(tmp_path_factory.mktemp("browser"), settings, parser) as live:
        yield live


class AcceptingBrowser:
    """The module's Chromium, whose every context has accepted the widget's privacy notice before (the browser's
    remembered acceptance, bot/static/widget.js): the widget tests are about chatting, not the notice. The notice's
    own test (test_privacy_notice.py) uses ``.raw``."""

    def __init__(self, raw) -> None:
        self.raw = raw

    def __getattr__(self, name):
        return getattr(self.raw, name)

    def new_context(self, **options):
        context = self.raw.new_context(**options)
        context.add_init_script(PRIVACY_ACCEPTED)
        return context

    def new_page(self, **options):
        return self.new_context(**options).new_page()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield AcceptingBrowser(b)
        b.close()


@pytest.fixture
def lonely_server(tmp_path_factory, settings, parser):
    """A server of its own: no agent console has ever connected to it, so no agent is online."""
    with LiveServer(tmp_path_factory.mktemp("nobody-online"), settings, parser) as live:
        yield live
