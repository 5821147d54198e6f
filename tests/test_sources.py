"""Every rule cites its source, and every quote of the deliberation is on the line it cites.

A policy officer checks a rule against the text by its `ref` (`L462`): the quoted sentence
must be there. Quotes are compared with white space folded (the text has tabs between table
cells) and may skip words with `[...]`. Interpretations cite framework.md instead.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from engine.load.rules import load_rules

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT.parent / "shared" / "seed" / "deliberation-cp-2024-587.txt"
FRAMEWORK = ROOT.parent / "shared" / "spec" / "framework.md"
BOOK = load_rules()


def _sources() -> list[tuple[str, dict]]:
    found = [(p.path, dict(p.source)) for p in BOOK.params.values()]
    found += [(f"{d}.indicators.{i.id}", dict(i.source)) for d, inds in BOOK.indicators.items() for i in inds.values()]
    found += [(f"decisions.{r.id}", dict(r.source or {})) for r in BOOK.decisions]
    return found


def _fold(text: str, html: bool = True) -> str:
    text = text.replace("\u00a0", " ").replace("’", "'")
    if html:
        text = re.sub(r"<[^<>]+>", " ", text)  # the deliberation keeps some HTML table markup
    return re.sub(r"\s+", " ", text).strip()


def _md(text: str) -> str:
    """Folded, without markdown emphasis and code marks, minus signs as hyphens."""
    return _fold(re.sub(r"[`*]", "", text).replace("−", "-").replace("—", "-"), html=False)


def _lines(ref: str) -> list[int]:
    """`L462`, `L462-464` or `L255, L979` → the line numbers cited."""
    out: list[int] = []
    for a, b in re.findall(r"L(\d+)(?:-(\d+))?", ref):
        out.extend(range(int(a), int(b or a) + 1))
    return out


@pytest.mark.parametrize(("path", "source"), _sources(), ids=[p for p, _ in _sources()])
def test_every_rule_cites_a_source(path: str, source: dict) -> None:
    assert source.get("document") in BOOK.documents, path
    assert str(source.get("quote", "")).strip(), path
    assert str(source.get("ref", "")).strip(), path
    if source["document"] == "framework":
        assert source.get("ref", "").startswith("§"), path


def test_every_quote_of_the_deliberation_is_on_its_line() -> None:
    if not SEED.exists():
        pytest.skip(f"texte de la délibération absent ({SEED})")
    lines = SEED.read_text(encoding="utf-8").splitlines()
    checked, missing = 0, []
    for path, source in _sources():
        if source["document"] != "deliberation-cp-2024-587":
            continue
        cited = _lines(str(source["ref"]))
        assert cited, (path, source["ref"])
        where = _fold(" ".join(lines[n - 1] for n in cited))
        for part in str(source["quote"]).split("[...]"):
            if _fold(part) not in where:
                missing.append(f"{path}: « {part.strip()} » absent de {source['ref']}")
        checked += 1
    assert not missing, "\n".join(missing)
    assert checked >= 40


def test_interpretations_quote_the_framework() -> None:
    if not FRAMEWORK.exists():
        pytest.skip(f"framework.md absent ({FRAMEWORK})")
    text = _md(FRAMEWORK.read_text(encoding="utf-8"))
    missing = []
    for path, source in _sources():
        if source["document"] != "framework":
            continue
        for part in str(source["quote"]).split("[...]"):
            if _md(part) not in text:
                missing.append(f"{path}: « {part.strip()} »")
    assert not missing, "\n".join(missing)
