"""Every rule cites its source, and every quote of the deliberation is on the line it cites.

A policy officer checks a rule against the text by its `ref` (`L462`): the quoted sentence
must be there. Quotes are compared with white space folded (the text has tabs between table
cells) and may skip words with `[...]`. Interpretations cite a section of the project's own
French document, docs/interpretations.md, by its anchor (`#non-evaluable`): the quoted
sentence must be in that section.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from engine.load.rules import load_rules

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT.parent / "shared" / "seed" / "deliberation-cp-2024-587.txt"
INTERPRETATIONS = ROOT / "docs" / "interpretations.md"
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
    assert source["document"] in {"deliberation-cp-2024-587", "interpretations"}, path
    if source["document"] == "interpretations":
        assert re.fullmatch(r"#[a-z0-9-]+", str(source["ref"])), path
        assert source.get("interpretation") is True, path


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


def _sections(text: str) -> dict[str, str]:
    """docs/interpretations.md cut at each `<a id="…"></a>`: anchor → its text up to the next anchor."""
    marks = list(re.finditer(r'<a id="([a-z0-9-]+)"></a>', text))
    return {m.group(1): text[m.end():(marks[k + 1].start() if k + 1 < len(marks) else len(text))]
            for k, m in enumerate(marks)}


def test_interpretations_are_a_document_of_the_project() -> None:
    assert BOOK.documents["interpretations"]["file"] == "docs/interpretations.md"
    assert "framework" not in BOOK.documents
    text = INTERPRETATIONS.read_text(encoding="utf-8")
    anchors = re.findall(r'<a id="([a-z0-9-]+)"></a>', text)
    assert len(anchors) == len(set(anchors)), "ancre en double"
    for path in (ROOT / "rules").rglob("*.yaml"):
        assert "document: framework" not in path.read_text(encoding="utf-8"), path


def test_every_interpretation_quote_is_in_its_section() -> None:
    sections = {a: _md(s) for a, s in _sections(INTERPRETATIONS.read_text(encoding="utf-8")).items()}
    checked, missing = 0, []
    for path, source in _sources():
        if source["document"] != "interpretations":
            continue
        anchor = str(source["ref"]).removeprefix("#")
        if anchor not in sections:
            missing.append(f"{path}: section « #{anchor} » absente de docs/interpretations.md")
            continue
        for part in str(source["quote"]).split("[...]"):
            if _md(part) not in sections[anchor]:
                missing.append(f"{path}: « {part.strip()} » absent de la section #{anchor}")
        checked += 1
    assert not missing, "\n".join(missing)
    assert checked >= 50


def test_the_interpretations_cite_lines_of_the_deliberation() -> None:
    """Each section says why, citing the deliberation's lines; those lines exist."""
    if not SEED.exists():
        pytest.skip(f"texte de la délibération absent ({SEED})")
    count = len(SEED.read_text(encoding="utf-8").splitlines())
    for anchor, body in _sections(INTERPRETATIONS.read_text(encoding="utf-8")).items():
        if anchor == "listes-de-codes":  # a heading over its subsections
            continue
        cited = _lines(body)
        assert cited, anchor
        assert all(1 <= n <= count for n in cited), anchor
