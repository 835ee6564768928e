"""The house's structure, read from the code's own imports (every one, inside functions too): no circle, no project
import hidden inside a function (but the allow-listed ones, each with the cost it
avoids), only bot/main.py imports the channels, few modules directly in bot/, every package says what lives there
and docs/architecture.md names it."""
from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path
from typing import Dict, List, Set

from bot.core.settings import PROJECT_ROOT

PROJECT = ("bot", "actions", "connectors")
# Project imports that stay inside functions, and why: each pulls a heavy third-party library the caller must not pay
# for unless it runs that function.
ALLOWED_INSIDE = {
    "bot/nlu/parser.py": "the flat classifier and the fast engine pull scikit-learn, SciPy and pypinyin (~1 s, "
                         "~60 MB): a serving process loads only what the trained model needs (tests/test_fast_parser.py)",
}


def _modules() -> Dict[str, Path]:
    found = {}
    for folder in PROJECT:
        for path in (PROJECT_ROOT / folder).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            parts = list(path.relative_to(PROJECT_ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


MODULES = _modules()


def _target(name: str) -> str:
    while name and name not in MODULES:
        name = name.rsplit(".", 1)[0] if "." in name else ""
    return name


def _imports(path: Path):
    """(imported module, inside a function?) for every project import of the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    inside = {id(sub) for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
              for sub in ast.walk(node)}
    for node in ast.walk(tree):
        names: List[str] = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in MODULES else node.module
                     for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for name in names:
            target = _target(name)
            if target and target.split(".")[0] in PROJECT:
                yield target, id(node) in inside


def _graph() -> Dict[str, Set[str]]:
    graph: Dict[str, Set[str]] = defaultdict(set)
    for module, path in MODULES.items():
        for target, _ in _imports(path):
            if target != module:
                graph[module].add(target)
    return graph


def _circles(graph: Dict[str, Set[str]]) -> List[Set[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on_stack: Set[str] = set()
    circles: List[Set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                circles.append(component)

    for module in sorted(MODULES):
        if module not in index:
            visit(module)
    return circles


# Each package's floor (docs/architecture.md): a package imports only packages on lower floors.
FLOORS = {"bot.core": 1, "bot.storage": 2, "bot.access": 3, "bot.kb": 3, "bot.households": 3, "bot.nlu": 4,
          "bot.routing": 5, "bot.turn": 5, "bot.handoffs": 6, "bot.outages": 7, "bot.realtime": 7, "bot.reporting": 7,
          "bot.work_orders": 8, "bot.trainer": 8, "bot.voice": 8, "actions": 9, "bot.timers": 9, "bot.conversation": 10,
          "bot.services": 11, "bot.api": 12, "connectors": 13, "bot.main": 14, "bot.tools": 15}


def _package(module: str) -> str:
    parts = module.split(".")
    if parts[0] != "bot":
        return parts[0]
    return ".".join(parts[:2]) if len(parts) > 1 else module


def test_every_package_has_a_floor_and_imports_only_below_it():
    packages = {_package(m) for m in MODULES} - {"bot"}
    assert packages - set(FLOORS) == set(), "a new package needs its floor here and in docs/architecture.md"
    upward = sorted({f"{module} (floor {FLOORS[_package(module)]}) -> {target} (floor {FLOORS[_package(target)]})"
                     for module, targets in _graph().items() for target in targets
                     if _package(module) != _package(target) and _package(target) in FLOORS and _package(module) in FLOORS
                     and FLOORS[_package(target)] >= FLOORS[_package(module)]})
    assert upward == []


def test_imports_run_one_way_without_a_circle():
    assert _circles(_graph()) == []


def test_no_project_import_hides_inside_a_function():
    hidden = sorted({f"{path.relative_to(PROJECT_ROOT).as_posix()} -> {target}"
                     for module, path in MODULES.items() for target, inside in _imports(path)
                     if inside and path.relative_to(PROJECT_ROOT).as_posix() not in ALLOWED_INSIDE})
    assert hidden == []


def test_only_main_imports_the_channels():
    importers = sorted(module for module, path in MODULES.items() if not module.startswith("connectors")
                       for target, _ in _imports(path) if target.startswith("connectors"))
    assert set(importers) == {"bot.main"}


def test_few_modules_directly_in_bot_and_every_package_says_what_lives_there():
    direct = sorted(p.name for p in (PROJECT_ROOT / "bot").glob("*.py"))
    assert len(direct) <= 10, direct
    for init in sorted((PROJECT_ROOT / "bot").glob("*/__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
        assert doc and len(doc) > 30, f"{init.parent.name}/ needs a docstring saying what lives there"


def test_the_architecture_doc_names_every_package():
    text = (PROJECT_ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    packages = [f"bot/{p.parent.name}/" for p in (PROJECT_ROOT / "bot").glob("*/__init__.py")] + ["actions/", "connectors/"]
    missing = [p for p in sorted(packages) if p not in text]
    assert missing == []


def test_nothing_outside_realtime_publishes():
    """Changes record their events (bot/storage/outbox.py); bot/realtime/ alone publishes them, after the commit."""
    publishers = []
    for module, path in MODULES.items():
        if module.startswith("bot.realtime"):
            continue
        text = path.read_text(encoding="utf-8")
        if "hub.publish" in text or "live.announce(" in text or "hub.publish_many" in text:
            publishers.append(module)
    assert publishers == []
