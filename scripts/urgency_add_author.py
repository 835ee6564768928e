"""Add an author's urgency near-misses to data/nlu/urgency/ without any message of a frozen held-out set (issue 25).

Every string of every tests/heldout/*.yml file is a held-out message; an item whose text equals one of them,
punctuation and spaces aside (also after the normaliser), is dropped. Only the counts are printed, never a held-out
message or a dropped one: the held-out sets stay unread.

    .venv/bin/python scripts/urgency_add_author.py SOURCE.yml data/nlu/urgency/t3.yml "HEADER LINE" ["HEADER LINE" …]

The source's ``author:`` line and its one-line items (``  - {text: …, urgent: …, kind: …}``) are copied as written.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

import yaml

from bot.core.settings import PROJECT_ROOT, get_settings
from bot.nlu.normalize import get_normalizer


def key(text: str) -> str:
    return re.sub(r"[\W_]+", "", text).lower()


def strings(node):
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for v in node.values():
            yield from strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from strings(v)


def main(source: Path, target: Path, header: list) -> None:
    settings = get_settings()
    normalizer = get_normalizer(settings.normalize_dir, settings.dictionary_dir)
    both = lambda t: {key(t), key(normalizer.normalize(t).text or t)}  # noqa: E731
    heldout = set()
    for path in sorted((PROJECT_ROOT / "tests" / "heldout").glob("*.yml")):
        for s in strings(yaml.safe_load(path.read_text(encoding="utf-8"))):
            heldout |= both(s)
    heldout.discard("")
    kept, dropped, urgent_dropped = [], 0, 0
    for line in source.read_text(encoding="utf-8").splitlines():
        if line.startswith("  - {"):
            item = yaml.safe_load(line.strip()[2:])
            if both(item["text"]) & heldout:
                dropped += 1
                urgent_dropped += bool(item["urgent"])
                continue
        kept.append(line)
    target.write_text("".join(f"# {h}\n" for h in header) + "\n".join(kept) + "\n", encoding="utf-8")
    total = sum(1 for line in kept if line.startswith("  - {"))
    print(f"{target}: {total} items kept; {dropped} dropped as held-out messages ({urgent_dropped} of them urgent)")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:])
