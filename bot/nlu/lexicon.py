"""General-knowledge word lists: what a name is (a disease, a dish, a film, an app, a TV channel, a stock …).

Residents and users name things a classifier never saw in training: "大肠癌", "凯立德", "三安光电" read as nothing
to character and word features. ``data/nlu/lexicon/*.yml`` lists such names by category (``categories:`` →
category → names), written for this project from general knowledge (README: the NLU pipeline, which says who wrote
them and how they were checked). The flat classifier (bot/nlu/flat_classifier.py, features "v4") adds one token per
name found in a message — ``LX<category>`` — and ``LXW<category>`` when that name is (nearly) the whole message, so a
bare name ("甲亢。", "凯立德") reads as its category. The lists are stored inside a trained model (serving reads no
data file).

Matching is leftmost-longest over the lower-cased text; a 2-character name counts only where jieba cut it as a word
of its own (2-character names inside longer words — "中山" in "中山路" — are mostly other things).
"""
from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import yaml

from bot.core.problems import FileProblem, ProblemsError, yaml_mapping_root

LEXICON_KEY = "categories"
MIN_CHARS, MAX_CHARS = 2, 12
WHOLE_SHARE = 0.8  # a name covering this share of the message's letters and characters is the whole message
_NAME = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fffA-Za-z0-9][\u3400-\u4dbf\u4e00-\u9fffA-Za-z0-9·+\-. :：!！'&，,、]*")
_CORE = re.compile(r"[\W_]+")


class LexiconError(ProblemsError):
    """Raised when a lexicon file does not validate; carries every problem found."""


def _read(path: Path, problems: List[FileProblem]) -> List[Tuple[str, str, int]]:
    """(category, name, line) of one file; problems appended with file:line."""
    name = path.name
    root = yaml_mapping_root(path, LEXICON_KEY, problems)
    if root is None:
        return []
    found: List[Tuple[str, str, int]] = []
    keys = []
    for knode, vnode in root.value:
        keys.append(knode.value)
        if knode.value != LEXICON_KEY:
            problems.append(FileProblem(name, knode.start_mark.line + 1, f"未知的顶层键 '{knode.value}'"))
            continue
        if not isinstance(vnode, yaml.MappingNode):
            problems.append(FileProblem(name, vnode.start_mark.line + 1, f"'{LEXICON_KEY}:' 应为 类别: [词语…] 的映射"))
            continue
        for cnode, lnode in vnode.value:
            category = str(cnode.value).strip()
            line = cnode.start_mark.line + 1
            if not isinstance(cnode, yaml.ScalarNode) or not re.fullmatch(r"[\u4e00-\u9fffA-Za-z0-9与]{1,12}", category):
                problems.append(FileProblem(name, line, f"类别名 '{category}' 应为 1–12 个汉字或字母"))
                continue
            if not isinstance(lnode, yaml.SequenceNode):
                problems.append(FileProblem(name, line, f"类别 '{category}' 应为词语列表"))
                continue
            seen = set()
            for item in lnode.value:
                at = item.start_mark.line + 1
                word = str(item.value).strip() if isinstance(item, yaml.ScalarNode) else ""
                if not (MIN_CHARS <= len(word) <= MAX_CHARS) or not _NAME.fullmatch(word):
                    problems.append(FileProblem(name, at, f"'{word}' 应为 {MIN_CHARS}–{MAX_CHARS} 个字的名称"))
                elif word.lower() in seen:
                    problems.append(FileProblem(name, at, f"类别 '{category}' 中重复的词语 '{word}'"))
                else:
                    seen.add(word.lower())
                    found.append((category, word, at))
    if LEXICON_KEY not in keys:
        problems.append(FileProblem(name, 1, f"缺少顶层键 '{LEXICON_KEY}:'"))
    return found


def _files(directory: Path) -> List[Path]:
    return sorted(directory.glob("*.yml")) if directory.is_dir() else []


def check_lexicon(directory: Path) -> List[FileProblem]:
    problems: List[FileProblem] = []
    for path in _files(directory):
        _read(path, problems)
    return problems


def load_lexicon(directory: Optional[Path]) -> Dict[str, List[str]]:
    """Name (half-width, lower-cased) → its categories (sorted), over every file of the directory; {} when none.
    Raises LexiconError listing every problem (file:line)."""
    if directory is None:
        return {}
    problems: List[FileProblem] = []
    entries: Dict[str, set] = {}
    for path in _files(Path(directory)):
        for category, word, _ in _read(path, problems):
            # as the normaliser leaves a message: full-width → half-width ("黑神话：悟空" → "黑神话:悟空"), lower case
            entries.setdefault(unicodedata.normalize("NFKC", word).lower(), set()).add(category)
    if problems:
        raise LexiconError(problems)
    return {word: sorted(cats) for word, cats in sorted(entries.items())}


class LexiconMatcher:
    """The ``LX``/``LXW`` tokens of a message (see the module docstring)."""

    def __init__(self, entries: Dict[str, Sequence[str]]) -> None:
        self.entries = {w: list(c) for w, c in entries.items()}
        self.lengths = sorted({len(w) for w in self.entries}, reverse=True)

    def tokens(self, clean: str, words: Sequence[str]) -> List[str]:
        """``clean``: the lower-cased message; ``words``: its jieba words."""
        if not self.entries:
            return []
        word_set = set(words)
        core = len(_CORE.sub("", clean)) or 1
        out: List[str] = []
        i, n = 0, len(clean)
        while i < n:
            for length in self.lengths:
                name = clean[i:i + length]
                if len(name) == length and name in self.entries and (length > 2 or name in word_set):
                    whole = length >= WHOLE_SHARE * core
                    for category in self.entries[name]:
                        out.append("LX" + category)
                        if whole:
                            out.append("LXW" + category)
                    i += length
                    break
            else:
                i += 1
        return out
