"""Problems found in an admin-edited data file, with the file and line (the knowledge base, the normaliser's tables)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence


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
