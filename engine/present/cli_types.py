"""Plain command-line values converted without pydantic: `parcours rules` answers at once.

Typer (0.29) converts every parameter's text through a pydantic `TypeAdapter`
(`typer._coercion.build_runtime_param`), so any command, even `parcours rules`, first
imports pydantic and builds adapters: about 0.12 s before the command starts. Our options
are almost all text, paths and switches, whose conversion cannot fail: `install()` gives
those a direct conversion and leaves every other kind (numbers, choices, files, paths with
checks such as `exists=True`) to Typer's own, with its messages (translated by
`cli_french`).
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_installed = False


def _plain(annotation: Any) -> tuple[type, bool] | None:
    """(the item type, whether a list) for `str`, `Path`, `bool`, their `| None` and `list[str]`."""
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _plain(args[0]) if len(args) == 1 else None
    if origin is list:
        (item,) = typing.get_args(annotation) or (None,)
        return (item, True) if item in (str, Path) else None
    if annotation in (str, Path, bool):
        return annotation, False
    return None


def _path_checks(info: Any) -> bool:
    """Whether a path parameter asks Typer for checks (existence, resolution, permissions)."""
    return bool(info.exists or info.resolve_path or info.writable or info.allow_dash
                or not info.file_okay or not info.dir_okay or info.path_type is not None)


def install() -> None:
    """Route plain parameters past pydantic (idempotent; call before the app runs)."""
    global _installed
    if _installed:
        return
    import typer.core
    from typer import _coercion

    original = _coercion.build_runtime_param

    @dataclass(frozen=True)
    class PlainRuntimeParam(_coercion.RuntimeParam):
        """Text as given, a path made a `Path`, a switch's True/False, a list of either."""

        item: type = str
        many: bool = False

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            if self.many:
                values = value if isinstance(value, list | tuple) else [value]
                return [self._one(v) for v in values]
            return self._one(value)

        def _one(self, value: Any) -> Any:
            if self.item is Path:
                return value if isinstance(value, Path) else Path(value)
            if self.item is bool:
                return bool(value)
            return value if isinstance(value, str) else str(value)

    def build_runtime_param(descriptor: Any) -> Any:
        plain = None if descriptor.file_annotation is not None else _plain(descriptor.annotation)
        info = descriptor.parameter_info
        if plain is None or info.parser is not None or _path_checks(info):
            return original(descriptor)
        if plain[0] is bool and not isinstance(descriptor.annotation, type):
            return original(descriptor)  # an optional switch (`bool | None`): Typer's own rules
        return PlainRuntimeParam(parameter_info=descriptor.parameter_info, annotation=descriptor.annotation,
                                 item=plain[0], many=plain[1])

    _coercion.build_runtime_param = build_runtime_param  # type: ignore[assignment]
    if getattr(typer.core, "build_runtime_param", None) is original:  # imported there by name
        typer.core.build_runtime_param = build_runtime_param  # type: ignore[attr-defined]
    _installed = True


__all__ = ["install"]
