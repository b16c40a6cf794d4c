"""`appliance COMMAND` imports only the module registering COMMAND (appliance/cli/main.py): the table that
says which module that is must name every command each module registers, and nothing else."""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys

from appliance.cli import main


def registered_by(module: str) -> list[str]:
    subparsers = argparse.ArgumentParser().add_subparsers()
    importlib.import_module(module).register(subparsers)
    return list(subparsers.choices)


def appliance(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "appliance", *arguments], capture_output=True, text=True)


def test_the_table_names_each_command_with_the_module_that_registers_it():
    table = {command: module for module in main.COMMAND_GROUPS for command in registered_by(module)}
    assert table == main.COMMAND_MODULES


def test_a_command_loads_its_module_only_and_help_lists_every_command():
    probe = (
        "import sys; from appliance.cli import main; main.build_parser('serve');"
        "print(sorted(m for m in main.COMMAND_GROUPS if m in sys.modules))"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    # serve's module needs store_commands' (the data dir check), none of the others
    assert loaded.strip() == "['appliance.cli.serve_command', 'appliance.cli.store_commands']"
    listed = appliance("--help")
    assert listed.returncode == 0
    assert all(command in listed.stdout for command in main.COMMAND_MODULES)


def test_every_command_is_reachable_by_its_name(capsys):
    """Each command's help comes from the parser built for that command alone (its own module), as typed."""
    for command in main.COMMAND_MODULES:
        try:
            args, _ = main.build_parser(command).parse_known_args([command, "--help"])
        except SystemExit as exit:
            assert exit.code == 0, command
            assert capsys.readouterr().out.startswith(f"usage: appliance {command}"), command
        else:  # train-model hands its options, --help too, to the training code
            assert args.command == command and args.passes_options_through


def test_an_unknown_command_is_refused_with_the_list_of_commands():
    result = appliance("no-such-command")
    assert result.returncode == 2
    assert "invalid choice: 'no-such-command'" in result.stderr and "firewall-egress" in result.stderr
