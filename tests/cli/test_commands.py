"""Every command module registers its parser, `pulse X` lives in pulse/cli/X.py, and every help text renders."""

import argparse
import contextlib
import importlib
import io
import pkgutil

import pytest

from pulse import cli


def subcommands(p: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    actions = [a for a in p._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(actions[0].choices) if actions else {}


def commands(
    p: argparse.ArgumentParser, words: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every parser of the tree under `p`, with the words that reach it."""
    found = [(words, p)]
    for name, child in subcommands(p).items():
        found += commands(child, (*words, name))
    return found


def test_every_module_with_a_parser_is_a_command_named_after_it():
    modules = [importlib.import_module(f"pulse.cli.{m.name}") for m in pkgutil.iter_modules(cli.__path__)]
    with_register = {module.__name__.removeprefix("pulse.cli.") for module in modules if hasattr(module, "register")}
    listed = [module.__name__.removeprefix("pulse.cli.") for module in cli.COMMANDS]
    assert sorted(listed) == sorted(with_register)
    assert list(subcommands(cli.parser())) == listed


def test_every_command_ends_in_a_handler_of_its_module():
    leaves = [(words, p) for words, p in commands(cli.parser()) if words and not subcommands(p)]
    assert len(leaves) > 25
    for words, p in leaves:
        handler = p.get_default("func")
        assert callable(handler), words
        assert handler.__module__ == f"pulse.cli.{words[0]}", words


@pytest.mark.parametrize(
    "words", [words for words, _ in commands(cli.parser())], ids=lambda words: " ".join(("pulse", *words))
)
def test_help_renders(words):
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as exited:
        cli.main([*words, "--help"])
    assert exited.value.code == 0
    text = out.getvalue()
    assert text.startswith(f"usage: {' '.join(('pulse', *words))}") and "-h, --help" in text
