"""Safe YAML loading that remembers the line of every key and list item, for error messages.

Anchors and aliases (`&a`, `*a`, `<<: *a`) are refused: a few hundred bytes of nested aliases expand
to billions of nodes (an "alias bomb"), and a config written by a person never needs them.

>>> data, lines = load_yaml("a: 1\\nrules:\\n  - id: x\\n    when: y\\n")
>>> data["rules"][0]["when"], lines[("rules", 0, "when")]
('y', 4)
>>> try:
...     load_yaml("a: &x [1]\\nb: *x\\n")
... except yaml.YAMLError as refused:
...     print(refused.problem, "(line", refused.problem_mark.line + 1, end=")")
anchors and aliases (& and *) are not allowed: write the value out (line 2)
"""

from __future__ import annotations

from typing import Any

import yaml

from pulse.tenants.limits import MAX_CONFIG_BYTES

Path = tuple[str | int, ...]


class _NoAliasLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing aliases when it composes the node graph (before anything expands)."""

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            raise yaml.composer.ComposerError(
                None, None, "anchors and aliases (& and *) are not allowed: write the value out", mark
            )
        return super().compose_node(parent, index)


def load_yaml(text: str) -> tuple[Any, dict[Path, int]]:
    """Parse YAML with the safe loader; return the data and a map from field path to 1-based line."""
    size = len(text.encode())
    if size > MAX_CONFIG_BYTES:
        raise yaml.YAMLError(f"the file has {size:,} bytes; the limit is {MAX_CONFIG_BYTES:,}")
    loader = _NoAliasLoader(text)
    try:
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    finally:
        loader.dispose()
    lines: dict[Path, int] = {}
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
