"""Entry point of the `appliance` command."""

from __future__ import annotations

import argparse
import importlib
import sys

import apsw

from appliance.cli.errors import CliError
from appliance.store.connection import WrongKeyError
from appliance.store.lifecycle import BackupError

# The module that registers each command, in the order help lists them. `appliance COMMAND` imports only its
# module, and each module imports what a command needs when it runs: a service, a first-boot step or `--help`
# then starts without the engine's, the store's and the reports' libraries (numba, scikit-learn, sqlite-utils,
# fpdf), which took most of a second. Help and unknown commands load every module (tests/cli keeps it true).
COMMAND_MODULES = {
    **dict.fromkeys(("init", "migrate", "rekey", "backup", "restore", "seal"), "appliance.cli.store_commands"),
    "serve": "appliance.cli.serve_command",
    "demo": "appliance.cli.demo_command",
    **dict.fromkeys(("analyze", "engine", "train-model", "traces"), "appliance.cli.engine_commands"),
    "intel": "appliance.cli.intel_commands",
    **dict.fromkeys(("notify", "firewall-egress"), "appliance.cli.notify_command"),
    "license": "appliance.cli.license_commands",
    "simulate": "appliance.simulate.cli",
    "erase": "appliance.cli.tenant_commands",
    "settings": "appliance.cli.settings_commands",
}
COMMAND_GROUPS = list(dict.fromkeys(COMMAND_MODULES.values()))
# What a user can cause by bad input; anything else is a bug and keeps its traceback.
USER_ERRORS = (CliError, WrongKeyError, BackupError, FileExistsError, FileNotFoundError, PermissionError, apsw.Error)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of `command` alone when it is one, else of every command."""
    parser = argparse.ArgumentParser(prog="appliance", description="NetSenX on-prem network detection appliance")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for module in [COMMAND_MODULES[command]] if command in COMMAND_MODULES else COMMAND_GROUPS:
        importlib.import_module(module).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(argv[0] if argv else None)
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
