"""Where things live: production code does not import the demo, routes use the typed dependencies, errors are typed."""
from __future__ import annotations

import ast
from pathlib import Path

from bot.core.settings import PROJECT_ROOT

DEMO_USERS = {"bot/tools/demo.py", "bot/tools/cli.py", "bot/tools/devserver.py", "bot/tools/screenshots.py",
              "bot/tools/bench_chat.py", "bot/tools/bench_scaleout.py"}  # the demo and its tools (the chat benchmarks
# bind demo households)


def _imports(path: Path) -> set:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def _production_files():
    for folder in ("bot", "actions", "connectors"):
        for path in sorted((PROJECT_ROOT / folder).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path


def test_production_code_does_not_import_the_demo():
    for path in _production_files():
        rel = path.relative_to(PROJECT_ROOT).as_posix()
        if rel not in DEMO_USERS:
            assert "bot.tools.demo" not in _imports(path), rel


def test_routes_and_channels_use_the_typed_dependencies():
    routes = [*(PROJECT_ROOT / "bot" / "api").glob("*.py"), *(PROJECT_ROOT / "connectors").glob("*.py")]
    for path in sorted(routes):
        if path.name != "deps.py":
            assert "app.state" not in path.read_text(encoding="utf-8"), path.relative_to(PROJECT_ROOT).as_posix()


def test_no_error_is_chosen_by_its_text_in_bot_or_connectors():
    for folder in ("bot", "connectors"):
        for path in sorted((PROJECT_ROOT / folder).rglob("*.py")):
            text = path.read_text(encoding="utf-8")
            assert "in str(exc)" not in text and "HTTPException(status_code" not in text, \
                path.relative_to(PROJECT_ROOT).as_posix()

