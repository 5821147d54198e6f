"""The one YAML loader: safe, line-tracking, duplicate keys collected."""

from __future__ import annotations

from datetime import date
from typing import Any

import yaml


class LineDict(dict):
    """A mapping read from YAML that remembers the line of each of its keys."""

    line: int = 0
    lines: dict[str, int]


class _Loader(yaml.SafeLoader):
    """Safe loader that records lines and refuses duplicate keys (collected, not raised)."""

    duplicates: list[tuple[int, str]]

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> LineDict:  # type: ignore[override]
        mapping = LineDict()
        mapping.line = node.start_mark.line + 1
        mapping.lines = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, date):
                key_text: Any = key
            else:
                key_text = key if isinstance(key, str) else str(key)
            if key_text in mapping:
                self.duplicates.append((key_node.start_mark.line + 1, str(key_text)))
                continue
            mapping[key_text] = self.construct_object(value_node, deep=True)
            mapping.lines[str(key_text)] = key_node.start_mark.line + 1
        return mapping


    def construct_yaml_timestamp(self, node: yaml.ScalarNode) -> Any:  # type: ignore[override]
        """A date-looking scalar that is not a real date stays text, to be reported in context."""
        try:
            return super().construct_yaml_timestamp(node)
        except ValueError:
            return str(node.value)


_Loader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _Loader.construct_mapping,  # type: ignore[arg-type]
)
_Loader.add_constructor("tag:yaml.org,2002:timestamp", _Loader.construct_yaml_timestamp)  # type: ignore[arg-type]


def _line(mapping: Any, key: str | None = None) -> int:
    if isinstance(mapping, LineDict):
        if key is not None and key in mapping.lines:
            return mapping.lines[key]
        return mapping.line
    return 0


