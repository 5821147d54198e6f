"""Click's and Typer's own words in French: usage, help panels, usage errors.

Click words its messages through `gettext` (`_("Missing option")`…) and Typer builds its
help panels from module constants (« Arguments », « Options », « Error »). `install()`
replaces each module's `_`/`ngettext` by a lookup in `MESSAGES` and sets those constants,
so that `parcours --help`, a missing option, a wrong value or an unknown verb read in
French. A message missing from the table is shown as Click wrote it; the CLI tests list
the English words that must never appear.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

MESSAGES: dict[str, str] = {
    "%(prog)s, version %(version)s": "%(prog)s, version %(version)s",
    "(deprecated) ": "(obsolète) ",
    "(dynamic)": "(dynamique)",
    "Aborted!": "Interrompu.",
    "Aborted.": "Interrompu.",
    "Argument {name!r} takes {nargs} values.": "L'argument {name!r} prend {nargs} valeurs.",
    "Arguments": "Arguments",
    "Choice({choices})": "Choix({choices})",
    "Choose from:\n\t{choices}": "Choisir parmi :\n\t{choices}",
    "Commands": "Commandes",
    "Could not open file {filename!r}: {message}": "Impossible d'ouvrir le fichier {filename!r} : {message}",
    "Error": "Erreur",
    "Error: {message}": "Erreur : {message}",
    "Error: invalid input": "Erreur : saisie invalide",
    "Invalid start character for option ({option})": "Caractère initial invalide pour l'option ({option})",
    "Invalid value for {param_hint}: {message}": "Valeur invalide pour {param_hint} : {message}",
    "Invalid value: {message}": "Valeur invalide : {message}",
    "Missing argument": "Argument manquant",
    "Missing command.": "Commande manquante.",
    "Missing option": "Option manquante",
    "Missing parameter": "Paramètre manquant",
    "Missing parameter: {param_name}": "Paramètre manquant : {param_name}",
    "Missing {param_type}": "{param_type} manquant(e)",
    "No such command {name!r}.": "Commande inconnue : {name!r}.",
    "No such option {name!r}.": "Option inconnue : {name!r}.",
    "No such option: {name}": "Option inconnue : {name}",
    "Option {name!r} does not take a value.": "L'option {name!r} ne prend pas de valeur.",
    "Option {name!r} requires an argument.": "L'option {name!r} attend une valeur.",
    "Option {name!r} requires {nargs} arguments.": "L'option {name!r} attend {nargs} valeurs.",
    "Options": "Options",
    "Positional arguments": "Arguments positionnels",
    "Show the version and exit.": "Affiche la version et quitte.",
    "Show this message and exit.": "Affiche cette aide et quitte.",
    "Try '{command} {option}' for help.": "Voir « {command} {option} » pour l'aide.",
    "Try [blue]'{command_path} {help_option}'[/] for help.":
        "Voir [blue]« {command_path} {help_option} »[/] pour l'aide.",
    "Usage:": "Utilisation :",
    "Value must be an iterable.": "La valeur doit être une liste.",
    "[default: {}]": "[par défaut : {}]",
    "[env var: {}]": "[variable d'environnement : {}]",
    "[required]": "[obligatoire]",
    "default: {default}": "par défaut : {default}",
    "deprecated": "obsolète",
    "directory": "dossier",
    "env var: {var}": "variable d'environnement : {var}",
    "file": "fichier",
    "path": "chemin",
    "required": "obligatoire",
    "unknown error": "erreur inconnue",
    "{name} {filename!r} does not exist.": "{name} {filename!r} introuvable.",
    "{name} {filename!r} is a directory.": "{name} {filename!r} est un dossier.",
    "{name} {filename!r} is a file.": "{name} {filename!r} est un fichier.",
    "{name} {filename!r} is not executable.": "{name} {filename!r} n'est pas exécutable.",
    "{name} {filename!r} is not readable.": "{name} {filename!r} n'est pas lisible.",
    "{name} {filename!r} is not writable.": "{name} {filename!r} n'est pas modifiable.",
    "{value!r} is not a valid UUID.": "{value!r} n'est pas un UUID valide.",
    "{value!r} is not a valid {number_type}.": "{value!r} n'est pas un {number_type} valide.",
    "{value} is not in the range {range}.": "{value} n'est pas dans l'intervalle {range}.",
    "Got unexpected extra argument ({args})": "Argument en trop : {args}",
    "Got unexpected extra arguments ({args})": "Arguments en trop : {args}",
    "Takes {nargs} values but 1 was given.": "Attend {nargs} valeurs, 1 donnée.",
    "Takes {nargs} values but {len} were given.": "Attend {nargs} valeurs, {len} données.",
    "Did you mean {possibility}?": "Vouliez-vous dire {possibility} ?",
    "(Did you mean one of: {possibilities}?)": "(Vouliez-vous dire l'une de : {possibilities} ?)",
    "{value!r} is not {choice}.": "{value!r} n'est pas {choice}.",
    "{value!r} is not one of {choices}.": "{value!r} n'est pas l'une des valeurs {choices}.",
    "{value!r} does not match the format {format}.": "{value!r} ne suit pas le format {format}.",
    "{value!r} does not match the formats {formats}.": "{value!r} ne suit aucun des formats {formats}.",
    "{len_type} values are required, but {len_value} was given.":
        "{len_type} valeurs attendues, {len_value} donnée.",
    "{len_type} values are required, but {len_value} were given.":
        "{len_type} valeurs attendues, {len_value} données.",
    "integer": "entier",
    "float": "nombre",
}

# Type names Typer shows beside an option (`<path>`, `<int>`…), in French.
TYPES = {"path": "chemin", "str": "texte", "int": "entier", "float": "nombre", "bool": "oui/non",
         "list[str]": "texte…", "file": "fichier", "directory": "dossier"}

# Typer's own sentence for a misspelt verb (not through gettext).
_DID_YOU_MEAN = re.compile(r"Did you mean (.+)\?")


def gettext(message: str) -> str:
    """The French wording of one of Click's messages (the message itself when unknown)."""
    return MESSAGES.get(message, message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The French wording of a message that depends on a count."""
    return gettext(singular if n == 1 else plural)


def _french_type(display: Callable[..., str | None]) -> Callable[..., str | None]:
    def wrapped(self: Any, ctx: Any) -> str | None:
        text = display(self, ctx)
        if text is None or getattr(self, "is_flag", False):
            return None if getattr(self, "is_flag", False) else text
        inner = text[1:-1] if text.startswith("<") and text.endswith(">") else text
        return f"<{TYPES.get(inner, inner)}>"

    return wrapped


_installed = False


def install() -> None:
    """Put the French wording in place (idempotent; call before the app runs)."""
    global _installed
    if _installed:
        return
    import click.core
    import click.decorators
    import click.exceptions
    import click.formatting
    import click.parser
    import click.termui
    import click.types
    import typer.core
    import typer.rich_utils as rich

    for module in (click.core, click.decorators, click.exceptions, click.formatting, click.parser,
                   click.termui, click.types, typer.core, rich):
        if hasattr(module, "_"):
            module._ = gettext  # type: ignore[attr-defined]
        if hasattr(module, "ngettext"):
            module.ngettext = ngettext  # type: ignore[attr-defined]
    for name in ("DEPRECATED_STRING", "DEFAULT_STRING", "ENVVAR_STRING", "REQUIRED_LONG_STRING",
                 "ARGUMENTS_PANEL_TITLE", "OPTIONS_PANEL_TITLE", "COMMANDS_PANEL_TITLE",
                 "ERRORS_PANEL_TITLE", "ABORTED_TEXT", "RICH_HELP"):
        english = {"DEPRECATED_STRING": "(deprecated) ", "DEFAULT_STRING": "[default: {}]",
                   "ENVVAR_STRING": "[env var: {}]", "REQUIRED_LONG_STRING": "[required]",
                   "ARGUMENTS_PANEL_TITLE": "Arguments", "OPTIONS_PANEL_TITLE": "Options",
                   "COMMANDS_PANEL_TITLE": "Commands", "ERRORS_PANEL_TITLE": "Error",
                   "ABORTED_TEXT": "Aborted.",
                   "RICH_HELP": "Try [blue]'{command_path} {help_option}'[/] for help."}[name]
        setattr(rich, name, gettext(english))
    rich_usage = getattr(rich, "_RICH_HELP_PANEL_NAME", None)  # noqa: F841 (older Typer)
    for cls in (typer.core._TyperParameter, typer.core.TyperOption):
        if "display_type" in vars(cls):
            cls.display_type = _french_type(cls.display_type)  # type: ignore[method-assign]
    for cls_name in ("STRING", "INT", "FLOAT", "BOOL", "UUID"):
        click_type = getattr(click.types, cls_name, None)
        if click_type is not None and click_type.name in MESSAGES:
            click_type.name = MESSAGES[click_type.name]
    _installed = True


def french_suggestion(message: str) -> str:
    """Typer's « Did you mean 'x'? » (written without gettext) in French."""
    return _DID_YOU_MEAN.sub(lambda m: f"Vouliez-vous dire {m.group(1)} ?", message)
