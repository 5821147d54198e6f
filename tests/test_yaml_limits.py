"""The one YAML loader refuses hostile documents before doing the work (issue 13, item 2).

One fixture per failure mode, run through every reader that uses YAML: a variant file
(`load_variant`), a rules tree (`load_rules`) and the loader itself. Each refusal is one
French problem with the file and the line; none takes more than a moment (the alias bomb
under `purpose:` used to grow without bound).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from engine.load.rules import DEFAULT_RULES_DIR, load_rules
from engine.load.variants import MAX_CHANGES, VariantError, load_variant
from engine.load.yaml_loader import YamlLimits, parse_yaml, read_yaml
from engine.model.errors import RulesError


def _bomb(levels: int = 9, width: int = 9) -> str:
    """A « billion laughs » alias bomb: `width ** levels` strings once expanded (3.9e8 here)."""
    lines = ["l0: &l0 [" + ", ".join(['"lol"'] * width) + "]"]
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


BOMB = _bomb()
DEEP = "[" * 5000 + "]" * 5000
HUGE_INT = "9" * 5000

# (case id, variant text, expected words in the message, expected line)
VARIANTS = [
    ("deep-nesting", f"name: x\npurpose: {DEEP}\nchanges:\n  - {{parameter: a.b, value: 1}}\n",
     "imbrication trop profonde", 2),
    ("deep-mapping", "name: x\nchanges:\n" + "".join("  " * i + f"k{i}:\n" for i in range(2, 600)) + "  " * 600 + "v: 1\n",
     "imbrication trop profonde", None),
    ("huge-integer", f"name: x\nchanges:\n  - {{parameter: a.b, value: {HUGE_INT}}}\n",
     "nombre entier trop long (5000 chiffres, au plus 30)", 3),
    ("huge-exponent", "name: x\nchanges:\n  - {parameter: a.b, value: 1e999999999}\n",
     "exposant hors limites", 3),
    ("bomb-under-purpose", BOMB + "name: x\npurpose: *l8\nchanges:\n  - {parameter: a.b, value: 1}\n",
     "trop volumineux une fois les alias développés", None),
    ("bomb-under-changes", BOMB + "name: x\nchanges: *l8\n",
     "trop volumineux une fois les alias développés", None),
    ("bomb-under-name", BOMB + "name: *l8\nchanges:\n  - {parameter: a.b, value: 1}\n",
     "trop volumineux une fois les alias développés", None),
    ("alias-cycle", "name: &a [*a]\nchanges:\n  - {parameter: a.b, value: 1}\n",
     "alias circulaire", 1),
    ("python-object", "name: !!python/object/apply:os.system [echo pwned]\nchanges: []\n",
     "étiquette YAML « !!python/object/apply:os.system » refusée", 1),
    ("python-name", "name: x\nchanges:\n  - {parameter: a.b, value: !!python/name:os.system ''}\n",
     "étiquette YAML « !!python/name:os.system » refusée", 3),
    ("long-scalar", "name: x\npurpose: " + "a" * 30_000 + "\nchanges:\n  - {parameter: a.b, value: 1}\n",
     "valeur trop longue (30000 caractères", 2),
    ("duplicate-key", "name: x\nname: y\nchanges:\n  - {parameter: a.b, value: 1}\n",
     "clé en double", 2),
    ("syntax", "name: x\nchanges: [\n", "YAML invalide", None),
    ("too-many-nodes", "name: x\nchanges:\n" + "  - {parameter: a.b, value: 1, from: 2025-01-01}\n" * 3000,
     "document trop volumineux (plus de 10000 éléments)", None),
    ("not-utf8", None, "pas un texte UTF-8 valide", 2),
]


@pytest.mark.parametrize(("case", "text", "words", "line"), VARIANTS, ids=[v[0] for v in VARIANTS])
def test_variant_refused(tmp_path: Path, case: str, text: str | None, words: str, line: int | None) -> None:
    path = tmp_path / "variante.yaml"
    if text is None:
        path.write_bytes("name: x\npurpose: \u00e9t\u00e9\n".encode("cp1252"))
    else:
        path.write_text(text, encoding="utf-8")
    with pytest.raises(VariantError) as excinfo:
        load_variant(path)
    message = str(excinfo.value)
    assert words in message
    assert str(path) in message
    assert "Traceback" not in message and "Error" not in message
    if line is not None:
        assert any(p.line == line for p in excinfo.value.problems), message


def test_oversized_variant_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "variante.yaml"
    with path.open("w", encoding="utf-8") as handle:
        handle.write("name: x\nchanges:\n")
        line = "  - {parameter: equilibre.first_appointment_max_days, value: 10}\n"
        handle.write(line * (2_100_000 // len(line)))
    with pytest.raises(VariantError, match="fichier trop volumineux"):
        load_variant(path)


def test_too_many_changes_refused(tmp_path: Path) -> None:
    path = tmp_path / "variante.yaml"
    change = "  - {parameter: equilibre.first_appointment_max_days, value: 10}\n"
    path.write_text("name: x\nchanges:\n" + change * (MAX_CHANGES + 1), encoding="utf-8")
    with pytest.raises(VariantError) as excinfo:
        load_variant(path)
    assert f"trop de modifications ({MAX_CHANGES + 1})" in str(excinfo.value)
    assert f"au plus {MAX_CHANGES}" in str(excinfo.value)
    assert excinfo.value.problems[0].line == 2


def test_missing_variant_named_in_french(tmp_path: Path) -> None:
    with pytest.raises(VariantError, match="fichier de variante introuvable"):
        load_variant(tmp_path / "absente.yaml")


def test_variant_that_is_a_directory(tmp_path: Path) -> None:
    (tmp_path / "v.yaml").mkdir()
    with pytest.raises(VariantError, match="c'est un dossier, pas un fichier"):
        load_variant(tmp_path / "v.yaml")


RULES_CASES = [
    ("bomb", BOMB + "label: *l8\n", "trop volumineux une fois les alias développés"),
    ("deep", f"label: {DEEP}\n", "imbrication trop profonde"),
    ("huge-integer", f"label: {HUGE_INT}\n", "nombre entier trop long"),
    ("python-object", "label: !!python/object:os.system {}\n", "étiquette YAML"),
]


@pytest.mark.parametrize(("case", "text", "words"), RULES_CASES, ids=[c[0] for c in RULES_CASES])
def test_rules_file_refused(tmp_path: Path, case: str, text: str, words: str) -> None:
    root = tmp_path / "rules"
    shutil.copytree(DEFAULT_RULES_DIR, root)
    (root / "equilibre" / "piege.yaml").write_text("dispositif: equilibre\n" + text, encoding="utf-8")
    with pytest.raises(RulesError) as excinfo:
        load_rules(root)
    problems = [p for p in excinfo.value.problems if "piege.yaml" in p.file]
    assert problems, str(excinfo.value)
    assert words in problems[0].message
    assert problems[0].file == "rules/equilibre/piege.yaml"
    assert problems[0].line > 0


def test_limits_are_configurable() -> None:
    text = "a: [[[1]]]\n"
    assert parse_yaml(text, "f.yaml")[1] == []
    data, problems = parse_yaml(text, "f.yaml", YamlLimits(max_depth=3))
    assert data is None
    assert "plus de 3 niveaux" in problems[0].message
    data, problems = parse_yaml("a: 123456\n", "f.yaml", YamlLimits(max_int_digits=5))
    assert data is None and "6 chiffres" in problems[0].message


def test_plain_documents_keep_lines_and_types(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text("\ufeffname: x\nchanges:\n  - {parameter: a.b, value: 12, from: 2025-01-01}\n", encoding="utf-8")
    data, problems = read_yaml(path)
    assert problems == []
    assert data.lines == {"name": 1, "changes": 2}
    change = data["changes"][0]
    assert change.line == 3 and change["value"] == 12 and str(change["from"]) == "2025-01-01"


def test_shared_anchors_within_bounds_are_fine() -> None:
    data, problems = parse_yaml("base: &b {x: 1}\nother: *b\n", "f.yaml")
    assert problems == [] and data["other"] == {"x": 1}


def test_variant_that_is_a_pipe_is_refused_without_blocking(tmp_path: Path) -> None:
    pipe = tmp_path / "v.yaml"
    os.mkfifo(pipe)
    with pytest.raises(VariantError, match="pas un fichier ordinaire"):
        load_variant(pipe)


def test_libyaml_events_give_the_python_parser_result() -> None:
    """The fast path (libyaml's events, Python composer) builds what PyYAML alone builds."""
    from engine.load import yaml_loader

    if yaml_loader._FastLoader is None:
        pytest.skip("PyYAML built without libyaml")

    def lines(value: object) -> object:
        if isinstance(value, dict):
            return [getattr(value, "line", None), getattr(value, "lines", None), [lines(v) for v in value.values()]]
        if isinstance(value, list):
            return [lines(v) for v in value]
        return None

    files = sorted(DEFAULT_RULES_DIR.rglob("*.yaml"))
    assert len(files) > 5
    for path in files:
        text = path.read_text(encoding="utf-8")
        built = []
        for kind in (yaml_loader._FastLoader, yaml_loader._Loader):
            built.append(yaml_loader._parse_with(kind, text, path.name, yaml_loader.RULES_LIMITS))
        (fast, fast_problems), (slow, slow_problems) = built
        assert fast == slow and fast_problems == slow_problems, path
        assert lines(fast) == lines(slow), path


def test_a_syntax_error_is_told_in_pyyaml_words() -> None:
    """libyaml refuses the document; the message is the translated PyYAML one, with its column."""
    data, problems = parse_yaml("a: 1\n  b: 2\n", "regles.yaml")
    assert data is None and len(problems) == 1
    assert problems[0].line == 2
    assert problems[0].message == ("YAML invalide, colonne 4 : « : » inattendu (une valeur contenant "
                                   "« : » doit être entre guillemets)")
