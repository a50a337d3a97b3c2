"""Every command and subcommand of the CLI describes itself in its own `--help`.

argparse shows a subcommand's `help=` in its parent's list only; `bookkeeper policy revoke
--help` would print no description. `describe` walks the parser tree once it is built and
gives every subcommand without a `description` its `help` text as one (capitalised, a full
sentence), so a command registered later by another module is covered too.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator


def subcommands(
    parser: argparse.ArgumentParser,
) -> Iterator[tuple[str, argparse.ArgumentParser, str | None]]:
    """(name path, parser, help) of every subcommand below `parser`, depth first."""
    for action in parser._actions:  # argparse keeps its subparsers only here
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            for name, child in action.choices.items():
                yield name, child, helps.get(name)
                for sub, grandchild, text in subcommands(child):
                    yield f"{name} {sub}", grandchild, text


def describe(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Give every subcommand without a description its help text as one; `parser`."""
    for _, child, text in subcommands(parser):
        if child.description is None and text:
            sentence = text[0].upper() + text[1:]
            child.description = sentence if sentence.endswith(".") else f"{sentence}."
    return parser
