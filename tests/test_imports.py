"""Imports go one way: jobs/ (wiring) → operators/ (Flink adapters) → pulse/ and models/ (plain logic). The plain
logic never imports the job's modules, so `pulse` runs without Flink's job graph and no import cycle can form."""

import ast
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
JOB_PACKAGES = {"jobs", "operators"}


def imported(path: Path) -> set[str]:
    """The top-level packages a module imports, at any depth of its code (function-level imports too)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_the_plain_logic_imports_nothing_of_the_job():
    modules = [*(PROJECT / "pulse").rglob("*.py"), *(PROJECT / "models").rglob("*.py")]
    assert len(modules) > 40
    offending = {str(m.relative_to(PROJECT)): imported(m) & JOB_PACKAGES for m in modules}
    assert {m: names for m, names in offending.items() if names} == {}


def test_operators_import_no_wiring():
    modules = list((PROJECT / "operators").rglob("*.py"))
    assert modules
    assert {str(m.relative_to(PROJECT)) for m in modules if "jobs" in imported(m)} == set()
