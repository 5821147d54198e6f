"""Typer's and Click's own words in French: usage line, help panels, usage errors.

Typer (0.29) carries its own copy of Click (`typer._click`) whose messages are plain
English f-strings, and words its help panels through `gettext` and module constants
(« Arguments », « Options » → « Réglages », « Error »). `install()` puts the French wording in place at
those few hooks, once, before the app runs:

- the help panels' titles and tags (`typer.rich_utils` constants, `typer.core`'s `_`);
- the usage line's « Usage: » prefix (`HelpFormatter.write_usage`);
- the `--help` option's own help (« Show this message and exit. »);
- the type shown beside an option (`<path>` → `<chemin>`);
- every usage error, translated by `translate()` (patterns below) before Rich prints it.

A message no pattern knows is shown as it is; the CLI tests list the English words that
must never reach a user.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

# Words Typer takes through gettext or module constants.
WORDS: dict[str, str] = {
    "(deprecated) ": "(obsolète) ",
    "(dynamic)": "(dynamique)",
    "Aborted!": "Interrompu.",
    "Aborted.": "Interrompu.",
    "Arguments": "Arguments",
    "Commands": "Verbes",
    "Error": "Erreur",
    "Missing command.": "Verbe manquant.",
    "No such command {name!r}.": "Verbe inconnu : {name!r}.",
    "Options": "Réglages",
    "Try [blue]'{command_path} {help_option}'[/] for help.":
        "Aide : [blue]{command_path} {help_option}[/]",
    "[default: {}]": "[par défaut : {}]",
    "[env var: {}]": "[variable d'environnement : {}]",
    "[required]": "[obligatoire]",
    "default: {default}": "par défaut : {default}",
    "env var: {var}": "variable d'environnement : {var}",
    "required": "obligatoire",
}

HELP_OPTION = "Affiche cette aide et quitte."
USAGE = "Utilisation : "

# Type names Typer shows beside an option (`<path>`, `<int>`…), in French.
TYPES = {"path": "chemin", "str": "texte", "int": "entier", "float": "nombre", "bool": "oui/non",
         "list[str]": "texte…", "file": "fichier", "directory": "dossier"}

# Usage errors: (English pattern, French replacement), tried in order on the whole message.
PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(p, re.S), r) for p, r in (
        (r"^Invalid value for (.+?): (.*)$", r"Valeur invalide pour \1 : \2"),
        (r"^Invalid value: (.*)$", r"Valeur invalide : \1"),
        (r"^Missing option (.+?)\.(.*)$", r"Option obligatoire absente : \1.\2"),
        (r"^Missing argument (.+?)\.(.*)$", r"Argument obligatoire absent : \1.\2"),
        (r"^Missing parameter(.*)$", r"Paramètre obligatoire absent\1"),
        (r"^Missing (.+?)\.(.*)$", r"Absent : \1.\2"),
        (r"^No such option: (\S+) \(Possible options: (.*)\)$",
         r"Option inconnue : \1 (options proches : \2)"),
        (r"^No such option: (\S+)(.*)$", r"Option inconnue : \1\2"),
        (r"^No such option (.+)$", r"Option inconnue : \1"),
        (r"^Option (.+?) requires an argument\.$", r"L'option \1 attend une valeur."),
        (r"^Option (.+?) requires (\d+) arguments\.$", r"L'option \1 attend \2 valeurs."),
        (r"^Option (.+?) does not take a value\.$", r"L'option \1 ne prend pas de valeur."),
        (r"^Got unexpected extra arguments? ?\(?s?\)? ?\((.*)\)$", r"Argument(s) en trop : \1"),
        (r"^Got unexpected extra argument\(s\) \((.*)\)$", r"Argument(s) en trop : \1"),
        (r"^No such command (.+?)\.(.*)$", r"Verbe inconnu : \1.\2"),
        (r"^Missing command\.$", r"Verbe manquant."),
    )
]
# Pieces inside a message (after the patterns): pydantic's and typer's value errors.
PIECES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(p), r) for p, r in (
        (r"Input should be a valid number, unable to parse string as a number",
         "un nombre est attendu (par exemple 0,5 s'écrit 0.5)"),
        (r"Input should be a valid integer, unable to parse string as an integer",
         "un nombre entier est attendu"),
        (r"Input should be a valid integer, got a number with a fractional part",
         "un nombre entier est attendu"),
        (r"Input should be a valid (\w+)", r"valeur invalide (\1)"),
        (r"Value (.+?) is not a valid (\w+)\.", r"\1 n'est pas une valeur valide."),
        (r"(.+?) is not one of (.+)\.", r"\1 n'est pas l'une des valeurs \2."),
        (r"(\w+) (.+?) does not exist\.", r"\2 introuvable."),
        (r"(\w+) (.+?) is a file\.", r"\2 est un fichier (un dossier est attendu)."),
        (r"(\w+) (.+?) is a directory\.", r"\2 est un dossier (un fichier est attendu)."),
        (r"(\w+) (.+?) is not readable\.", r"\2 n'est pas lisible."),
        (r"(\w+) (.+?) is not writable\.", r"\2 n'est pas modifiable."),
        (r"Value must be an iterable\.", "une liste est attendue."),
    )
]


def translate(message: str) -> str:
    """One usage error of Typer/Click in French (as it is when no pattern knows it)."""
    text = message.strip()
    for pattern, french in PATTERNS:
        if pattern.match(text):
            text = pattern.sub(french, text, count=1)
            break
    for pattern, french in PIECES:
        text = pattern.sub(french, text)
    return text


def gettext(message: str) -> str:
    """The French wording of one of Typer's words (the word itself when unknown)."""
    return WORDS.get(message, message)


def _french_type(display: Callable[..., str | None]) -> Callable[..., str | None]:
    def wrapped(self: Any, ctx: Any) -> str | None:
        if getattr(self, "is_flag", False):
            return None
        text = display(self, ctx)
        if text is None:
            return None
        inner = text[1:-1] if text.startswith("<") and text.endswith(">") else text
        return f"<{TYPES.get(inner, inner)}>"

    return wrapped


_installed = False


def install() -> None:
    """Put the French wording in place (idempotent; call before the app runs).

    The help panels' module (`typer.rich_utils`, with Rich's Markdown: ~40 ms to import) is
    only imported by Typer for a help page or an error; its wording is put in place when
    it is imported (`_after_import`), so a command that needs neither does not pay for it.
    """
    global _installed
    if _installed:
        return
    import typer.core
    from typer import _click

    if hasattr(typer.core, "_"):
        typer.core._ = gettext  # type: ignore[attr-defined]
    write_usage = _click.formatting.HelpFormatter.write_usage

    def french_usage(self: Any, prog: str, args: str = "", prefix: str | None = None) -> None:
        args = args.replace("[OPTIONS]", "[RÉGLAGES]")
        write_usage(self, prog, args, USAGE if prefix is None else prefix)

    _click.formatting.HelpFormatter.write_usage = french_usage  # type: ignore[method-assign]

    get_help_option = _click.core.Command.get_help_option

    def french_help_option(self: Any, ctx: Any) -> Any:
        option = get_help_option(self, ctx)
        if option is not None:
            option.help = HELP_OPTION
        return option

    _click.core.Command.get_help_option = french_help_option  # type: ignore[method-assign]
    for cls in (typer.core._TyperParameter, typer.core.TyperOption):
        if "display_type" in vars(cls):
            cls.display_type = _french_type(cls.display_type)  # type: ignore[method-assign,assignment]
    _after_import("typer.rich_utils", _install_rich)
    _installed = True


def _install_rich(rich: Any) -> None:
    """The help panels' titles, tags and error box (`typer.rich_utils`) in French."""
    if hasattr(rich, "_"):
        rich._ = gettext
    english = {"DEPRECATED_STRING": "(deprecated) ", "DEFAULT_STRING": "[default: {}]",
               "ENVVAR_STRING": "[env var: {}]", "REQUIRED_LONG_STRING": "[required]",
               "ARGUMENTS_PANEL_TITLE": "Arguments", "OPTIONS_PANEL_TITLE": "Options",
               "COMMANDS_PANEL_TITLE": "Commands", "ERRORS_PANEL_TITLE": "Error",
               "ABORTED_TEXT": "Aborted.",
               "RICH_HELP": "Try [blue]'{command_path} {help_option}'[/] for help."}
    for name, text in english.items():
        if hasattr(rich, name):
            setattr(rich, name, gettext(text))
    rich.OptionHighlighter.highlights = [
        *(h for h in rich.OptionHighlighter.highlights if "usage" not in h),
        r"(?P<usage>Utilisation : )",
    ]
    format_error = rich.rich_format_error

    def french_error(self: Any) -> None:
        text = translate(self.format_message())
        self.format_message = lambda: text
        format_error(self)

    rich.rich_format_error = french_error


def _after_import(name: str, hook: Callable[[Any], None]) -> None:
    """Call `hook(module)` once the module `name` is imported (now, if it already is)."""
    import sys

    if name in sys.modules:
        hook(sys.modules[name])
        return
    import importlib.abc
    import importlib.util

    class Loader(importlib.abc.Loader):
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def create_module(self, spec: Any) -> Any:
            return self.inner.create_module(spec)

        def exec_module(self, module: Any) -> None:
            self.inner.exec_module(module)
            hook(module)

    class Finder(importlib.abc.MetaPathFinder):
        def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
            if fullname != name:
                return None
            sys.meta_path.remove(self)
            spec = importlib.util.find_spec(fullname)
            if spec is not None and spec.loader is not None:
                spec.loader = Loader(spec.loader)
            return spec

    sys.meta_path.insert(0, Finder())
