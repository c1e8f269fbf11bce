"""Safe YAML loading that remembers the line of every key and list item, for error messages.

>>> data, lines = load_yaml("a: 1\\nrules:\\n  - id: x\\n    when: y\\n")
>>> data["rules"][0]["when"], lines[("rules", 0, "when")]
('y', 4)
"""

from __future__ import annotations

from typing import Any

import yaml

Path = tuple[str | int, ...]


def load_yaml(text: str) -> tuple[Any, dict[Path, int]]:
    """Parse YAML with the safe loader; return the data and a map from field path to 1-based line."""
    data = yaml.safe_load(text)
    lines: dict[Path, int] = {}
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    if root is not None:
        _walk(root, (), lines)
    return data, lines


def line_of(lines: dict[Path, int], path: Path) -> int | None:
    """The line of `path`, or of its nearest parent that has one."""
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return lines.get(())


def _walk(node: yaml.Node, path: Path, lines: dict[Path, int]) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            child = (*path, key.value)
            lines[child] = key.start_mark.line + 1
            _walk(value, child, lines)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, (*path, i), lines)
