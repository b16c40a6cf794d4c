"""Entry point of the `appliance` command."""

from __future__ import annotations

import argparse
import sys

import apsw

from appliance.cli import (
    demo_command,
    engine_commands,
    intel_commands,
    license_commands,
    notify_command,
    serve_command,
    settings_commands,
    store_commands,
    tenant_commands,
)
from appliance.cli.errors import CliError
from appliance.simulate import cli as simulate_command
from appliance.store.connection import WrongKeyError
from appliance.store.lifecycle import BackupError

COMMAND_GROUPS = [
    store_commands,
    serve_command,
    demo_command,
    engine_commands,
    intel_commands,
    notify_command,
    license_commands,
    simulate_command,
    tenant_commands,
    settings_commands,
]
# What a user can cause by bad input; anything else is a bug and keeps its traceback.
USER_ERRORS = (CliError, WrongKeyError, BackupError, FileExistsError, FileNotFoundError, PermissionError, apsw.Error)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="appliance", description="NetSenX on-prem network detection appliance")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for group in COMMAND_GROUPS:
        group.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, unparsed = parser.parse_known_args(argv)
    if getattr(args, "passes_options_through", False):
        args.options = unparsed
    elif unparsed:
        parser.error(f"unrecognized arguments: {' '.join(unparsed)}")
    try:
        return args.run(args)
    except USER_ERRORS as error:
        print(f"appliance {args.command}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
