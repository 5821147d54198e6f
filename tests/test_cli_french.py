"""Everything the command line says is French: help, usage errors, dates (issue 10).

Typer's own words (« Usage », « Options », « Show this message and exit », « Missing
option », « Invalid value », « No such option », « Error ») are translated by
`engine.present.cli_french`; each case below asserts English words absent and French
words present.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from engine import cli

runner = CliRunner()

VERBS = ("evaluate", "rules", "check", "generate", "whatif", "explain")
ENGLISH = (
    "Usage", "Show this message", "Missing", "Invalid value", "No such", "Error", "Try ",
    "Commands", "required", "default:", "Did you mean", "Possible options", "Got unexpected",
    "requires an argument", "<path>", "<str>", "<int>", "<float>", "<bool>", "list[str]",
    "Input should be", "Options", "[OPTIONS]",
)


def run(*args: str) -> str:
    result = runner.invoke(cli.app, list(args), prog_name="parcours")
    text = result.output + (result.stderr if result.stderr_bytes is not None else "")
    assert "Traceback" not in text
    return text


def assert_french(text: str, *present: str) -> None:
    for word in ENGLISH:
        assert word not in text, f"« {word} » dans :\n{text}"
    flat = " ".join(re.sub("[│╭╮╰╯─]", " ", text).split())
    for word in present:
        assert word in flat, f"« {word} » absent de :\n{text}"


def test_app_help_is_french() -> None:
    assert_french(run("--help"), "Utilisation : parcours", "Réglages", "Verbes",
                  "Affiche cette aide et quitte.", *VERBS)


@pytest.mark.parametrize("verb", VERBS)
def test_each_verb_help_is_french(verb: str) -> None:
    text = run(verb, "--help")
    assert_french(text, f"Utilisation : parcours {verb}", "Réglages", "Affiche cette aide et quitte.")


def test_missing_option() -> None:
    assert_french(run("evaluate", "sample_data"), "Erreur", "Option obligatoire absente", "--as-of",
                  "Aide : parcours evaluate --help")


def test_missing_argument() -> None:
    assert_french(run("evaluate", "--as-of", "2025-06-30"), "Argument obligatoire absent", "DONNÉES")


def test_wrong_option_value() -> None:
    assert_french(run("generate", "--out", "x", "--scale", "beaucoup"), "Valeur invalide pour",
                  "--scale", "un nombre est attendu")
    assert_french(run("generate", "--out", "x", "--seed", "1.5"), "un nombre entier est attendu")


def test_unknown_option() -> None:
    assert_french(run("evaluate", "sample_data", "--as-of", "2025-06-30", "--sortie", "x"),
                  "Option inconnue : --sortie")


def test_option_without_value_and_extra_argument() -> None:
    assert_french(run("evaluate", "sample_data", "--as-of"), "L'option '--as-of' attend une valeur.")
    assert_french(run("evaluate", "sample_data", "autre", "--as-of", "2025-06-30"),
                  "Argument(s) en trop : autre")


def test_unknown_verb_names_the_closest() -> None:
    assert_french(run("evaluat"), "Verbe inconnu : 'evaluat'", "vouliez-vous dire « evaluate » ?")


@pytest.mark.parametrize("text", ["2025-06-30", "30/06/2025"])
def test_dates_as_the_help_says(text: str) -> None:
    assert cli._parse_date(text).isoformat() == "2025-06-30"
    assert "AAAA-MM-JJ ou JJ/MM/AAAA" in " ".join(re.sub("[│]", " ", run("evaluate", "--help")).split())


@pytest.mark.parametrize("text", ["2025/06/30", "30-06-2025", "30/6/2025", "juin 2025", "20250630"])
def test_other_date_forms_are_refused(text: str) -> None:
    assert_french(run("evaluate", "sample_data", "--as-of", text), "Valeur invalide pour",
                  "--as-of", f"date « {text} » illisible", "AAAA-MM-JJ ou JJ/MM/AAAA")


@pytest.mark.parametrize(("text", "why"), [
    ("31/02/2025", "le mois 02/2025 a 28 jours"),
    ("2024-02-30", "le mois 02/2024 a 29 jours"),
    ("2025-13-01", "il n'y a pas de mois 13"),
])
def test_an_impossible_date_is_said_in_french(text: str, why: str) -> None:
    assert_french(run("evaluate", "sample_data", "--as-of", text),
                  f"la date « {text} » n'existe pas", why)


def test_a_mixed_run_shows_each_convention_status(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parent.parent
    if not (root / "sample_data").is_dir():
        pytest.skip("sample_data/ absent")
    text = run("evaluate", str(root / "sample_data"), "--as-of", "30/06/2025", "--out", str(tmp_path))
    flat = " ".join(text.split())
    assert "mixte : 8 convention(s) définitive(s), 23 en projection" in flat
    lines = text.splitlines()
    # 31 conventions: the console lists the 20 most at stake, each with its status, and says where the rest is
    shown = sum(" définitif " in x for x in lines), sum(" projection " in x for x in lines)
    assert shown[0] == 8 and sum(shown) >= 20
    assert "Les 11 autres conventions sont détaillées dans report.xlsx, report.html et results.json." in flat
    assert "intermédiaire (projection)" not in text
    for code in ("weekly_activity", "budget_lines"):
        assert code not in text


def test_error_text_in_brackets_is_shown_as_typed(tmp_path) -> None:
    """A user's text that looks like console markup (« [bold] ») is printed as it is, not eaten."""
    from typer.testing import CliRunner

    from engine.cli import app

    result = CliRunner().invoke(app, ["evaluate", "sample_data", "--as-of", "2025-06-30",
                                      "--out", str(tmp_path / "o"), "--set", "equilibre.x[bold]=1"])
    assert result.exit_code == 1
    assert "equilibre.x[bold]" in result.output


@pytest.mark.parametrize(
    ("annotation", "value"),
    [(str, "T2 2025"), (Path, "données/extraits"), (Path | None, "profil.yaml"), (str | None, "x"),
     (list[str] | None, ("equilibre.first_appointment_max_days=10", "a=b")), (bool, True), (bool, False)],
)
def test_plain_values_are_converted_as_typer_converts_them(annotation: object, value: object) -> None:
    """Text, paths, switches and lists skip pydantic (cli_types) and come out as Typer's own."""
    from typer import _coercion, models

    from engine.present import cli_types

    cli_types.install()
    info = models.OptionInfo()
    descriptor = _coercion.resolve_type_descriptor(annotation, info)
    ours = _coercion.build_runtime_param(descriptor)
    assert type(ours).__name__ == "PlainRuntimeParam"

    class Param:  # what `coerce` looks at
        multiple = isinstance(value, tuple)
        nargs = 1

    theirs = _coercion.AdapterRuntimeParam(
        parameter_info=info, annotation=annotation,
        adapter=__import__("typer._adapters", fromlist=["x"]).try_build_adapter(annotation, info),
    )
    got, expected = ours.coerce(value, Param(), None), theirs.coerce(value, Param(), None)
    assert got == expected and type(got) is type(expected)


def test_numbers_and_checked_paths_keep_typers_conversion() -> None:
    from typer import _coercion, models

    from engine.present import cli_types

    cli_types.install()
    for annotation, info in ((int, models.OptionInfo()), (float, models.OptionInfo()),
                             (Path, models.OptionInfo(exists=True))):
        descriptor = _coercion.resolve_type_descriptor(annotation, info)
        assert type(_coercion.build_runtime_param(descriptor)).__name__ != "PlainRuntimeParam"


def test_rules_listing_imports_neither_pydantic_nor_the_help_panels() -> None:
    """`parcours rules` stays light: no pydantic (cli_types), no Rich help panels (cli_french)."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-X", "importtime", "-c", "from engine.cli import main; main()",
                           "rules", "--format", "json"],
                          capture_output=True, text=True, check=True)
    imported = {line.split("|")[-1].strip() for line in done.stderr.splitlines() if "|" in line}
    assert "engine.load.rules" in imported
    assert not {"pydantic", "typer.rich_utils", "polars", "durable", "xlsxwriter", "plotly"} & imported


def test_help_panels_are_french_once_imported_late() -> None:
    """The help panels' module is patched when Typer imports it, after `install()`."""
    out = run("evaluate", "--help")
    assert "Réglages" in out and "Options" not in out


def test_allocator_setting_of_the_command_line() -> None:
    """Ours when none is set or when a parent that imported polars left polars' own; the user's after ours."""
    from engine.cli import ALLOCATOR, _allocator

    assert _allocator(None) == _allocator("") == ALLOCATOR
    assert _allocator("dirty_decay_ms:500,muzzy_decay_ms:1000") == ALLOCATOR
    assert _allocator("dirty_decay_ms:500,muzzy_decay_ms:1000,thp:always") == ALLOCATOR + ",thp:always"
    assert _allocator("narenas:4") == ALLOCATOR + ",narenas:4"


def test_a_child_of_a_polars_process_gets_the_command_lines_allocator() -> None:
    import os
    import subprocess
    import sys

    import polars  # noqa: F401  (writes its allocator setting into this process's environment)

    from engine.cli import ALLOCATOR

    code = "import os, engine.cli; print(os.environ['_RJEM_MALLOC_CONF'])"
    env = {**os.environ, "_RJEM_MALLOC_CONF": "dirty_decay_ms:500,muzzy_decay_ms:1000"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert done.stdout.strip() == ALLOCATOR
