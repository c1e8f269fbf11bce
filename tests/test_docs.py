"""The README and docs/: every relative link points at a file that exists, and an anchor at one of its headings."""

from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from markdown_it import MarkdownIt
from mdit_py_plugins.anchors import anchors_plugin

ROOT = Path(__file__).parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
MARKDOWN = MarkdownIt("commonmark").enable("table").use(anchors_plugin, max_level=6)


def tokens(path: Path) -> list:
    """Every token of a Markdown file, inline tokens' children included."""
    found = []
    for token in MARKDOWN.parse(path.read_text()):
        found.append(token)
        found.extend(token.children or [])
    return found


def anchors(path: Path) -> set[str]:
    """The anchors GitHub gives the headings of a Markdown file."""
    return {token.attrs["id"] for token in tokens(path) if token.type == "heading_open"}


def relative_links(path: Path) -> list[str]:
    """The targets of a file's links and images that are not URLs (code blocks and spans excluded)."""
    targets = []
    for token in tokens(path):
        target = token.attrs.get("href") or token.attrs.get("src")
        if token.type in ("link_open", "image") and target and not urlsplit(target).scheme:
            targets.append(target)
    return targets


def test_links_and_anchors_are_found():
    names = {path.relative_to(ROOT).as_posix() for path in DOCS}
    assert {"README.md", "docs/rules.md", "docs/ingestion.md", "docs/benchmarks.md"} <= names
    assert "docs/rules.md#changing-rules-while-the-job-runs" in relative_links(ROOT / "README.md")
    assert "https://cel.dev" not in relative_links(ROOT / "docs" / "rules.md")
    # GitHub's anchors: lower case, punctuation dropped, spaces as hyphens
    assert "analysts-access-one-user-per-tenant-that-sees-only-its-rows" in anchors(ROOT / "docs" / "clickhouse.md")


@pytest.mark.parametrize("doc", DOCS, ids=lambda path: path.relative_to(ROOT).as_posix())
def test_every_relative_link_resolves(doc: Path):
    broken = []
    for target in relative_links(doc):
        file, _, anchor = target.partition("#")
        linked = (doc.parent / unquote(file)).resolve() if file else doc
        if not linked.exists():
            broken.append(f"{target}: no file {linked.relative_to(ROOT) if linked.is_relative_to(ROOT) else linked}")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            broken.append(f"{target}: no heading with anchor #{anchor} in {linked.relative_to(ROOT)}")
    assert not broken, f"{doc.relative_to(ROOT)} has broken links:\n" + "\n".join(broken)
