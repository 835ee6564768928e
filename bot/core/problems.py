"""Problems found in an admin-edited data file, with the file and line (the knowledge base, the normaliser's tables)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import List, Sequence


@dataclass(frozen=True)
class FileProblem:
    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


class ProblemsError(ValueError):
    """Carries every problem found."""

    def __init__(self, problems: Sequence[FileProblem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def yaml_mapping_root(path: Path, key: str, problems: List[FileProblem]):
    """The top-level mapping node of a YAML file (composed, so every node knows its line), or None with the problem
    appended: not YAML, or not a mapping (``key`` names the top-level key the file should have)."""
    import yaml

    try:
        root = yaml.compose(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        mark = getattr(exc, "problem_mark", None)
        problems.append(FileProblem(path.name, (mark.line + 1) if mark else 1, f"不是合法的 YAML：{exc}"))
        return None
    if not isinstance(root, yaml.MappingNode):
        problems.append(FileProblem(path.name, 1, f"顶层应为映射，含键 '{key}:'"))
        return None
    return root
