"""Reading passwords and passphrases: from a file for automation, or typed at a prompt."""

from __future__ import annotations

import getpass
import sys

from appliance.cli.errors import CliError


def read_secret_file(path: str, what: str) -> str:
    try:
        with open(path, encoding="utf-8") as source:
            value = source.read().rstrip("\r\n")
    except OSError as error:
        raise CliError(f"cannot read the {what} file {path}: {error.strerror}") from error
    if not value:
        raise CliError(f"the {what} file {path} is empty")
    return value


def secret(path: str | None, what: str, *, confirm: bool = False) -> str:
    """From `path` if given, else asked twice (when confirming) at the terminal."""
    if path:
        return read_secret_file(path, what)
    if not sys.stdin.isatty():
        raise CliError(f"no {what} given: pass --{what.replace(' ', '-')}-file or run interactively")
    value = getpass.getpass(f"{what.capitalize()}: ")
    if confirm and getpass.getpass(f"Repeat the {what}: ") != value:
        raise CliError(f"the two {what}s differ")
    if not value:
        raise CliError(f"the {what} is empty")
    return value
