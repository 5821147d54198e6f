"""Errors shown to the user: each carries one French sentence, never a stack trace."""

from __future__ import annotations

from dataclasses import dataclass


class ParcoursError(Exception):
    """Base of the errors a user can act on; `str(error)` is the message to show."""


class ExtractError(ParcoursError):
    """The extracts cannot be read at all.

    Missing folder or file, unreadable file, missing required column, bad source profile.
    Row-level problems are not errors: they go to `Extracts.rejected`.
    """


@dataclass(frozen=True)
class Problem:
    """One problem found in the rules tree."""

    file: str
    line: int
    key: str
    message: str
    level: str = "erreur"

    def __str__(self) -> str:
        where = f"{self.file}, ligne {self.line}" if self.line else self.file
        key = f", clé « {self.key} »" if self.key else ""
        return f"{where}{key} : {self.message}"


class RulesError(ParcoursError):
    """The rules tree has problems; `problems` lists every one of them."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"Les règles comportent {len(problems)} problème(s) :\n{lines}")
