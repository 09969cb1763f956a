"""``churnwatch config show``: the effective settings, as the commands would load them.

Prints the settings after the defaults, the TOML file and the ``CHURNWATCH_*`` environment
are combined and validated, as JSON; secrets are masked.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import orjson

from config.settings import SECRET_FIELDS, load_settings
from streams.errors import EXIT_OK

MASK = "**********"


def register(commands: Any) -> None:
    """Add ``config show`` to the ``churnwatch`` parser's subcommands."""
    config = commands.add_parser("config", help="inspect the configuration")
    actions = config.add_subparsers(dest="action", required=True, metavar="ACTION")
    show = actions.add_parser(
        "show",
        help="print the effective settings (secrets masked)",
        description="Print the settings every command would use: defaults, then the TOML "
        "file, then CHURNWATCH_* environment variables, validated; JSON, secrets masked.",
    )
    show.add_argument("--config", metavar="PATH", help="TOML settings file")
    show.set_defaults(run=run_config_show)


def effective_settings(path: str | None) -> dict[str, Any]:
    """The validated settings as plain JSON values, with every secret masked."""
    values: dict[str, Any] = load_settings(path).model_dump(mode="json")
    for name in SECRET_FIELDS:
        if values.get(name) is not None:
            values[name] = MASK
    return values


def run_config_show(args: argparse.Namespace) -> int:
    shown = orjson.dumps(effective_settings(args.config), option=orjson.OPT_INDENT_2)
    sys.stdout.write(shown.decode() + "\n")
    return EXIT_OK
