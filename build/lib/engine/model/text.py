"""Small text helpers shared by every stage: the one typo-suggestion helper."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def closest(word: object, options: Iterable[str], cutoff: float = 0.6) -> str | None:
    """The option closest to `word` (difflib ratio at least `cutoff`), or None."""
    close = difflib.get_close_matches(str(word), list(options), n=1, cutoff=cutoff)
    return close[0] if close else None


def suggest(word: object, options: Iterable[str], cutoff: float = 0.6) -> str:
    """A French hint naming the closest option, « (vouliez-vous dire « x » ?) », or ""."""
    match = closest(word, options, cutoff)
    return f" (vouliez-vous dire « {match} » ?)" if match else ""
