"""license install / show: the box's license from the command line (works offline, e.g. air-gapped sites)."""

from __future__ import annotations

import getpass
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from appliance.cli.errors import CliError
from appliance.cli.store_commands import add_key_arguments, current_key, initialised_data_dir
from appliance.licensing import keys
from appliance.licensing.keys import LicenseError

if TYPE_CHECKING:
    from appliance.store.database import Store


def register(subparsers) -> None:
    license_parser = subparsers.add_parser("license", help="install or show the box's license")
    commands = license_parser.add_subparsers(dest="license_command", required=True)
    install = commands.add_parser("install", help="install a license key or license file (verified offline)")
    install.add_argument("key_or_file", metavar="KEY|FILE", help="an nsx_… key, or a license file holding one")
    add_key_arguments(install)
    install.set_defaults(run=run_install)
    show = commands.add_parser("show", help="the installed license and its status")
    add_key_arguments(show)
    show.add_argument("--json", action="store_true", help="print it as one JSON object")
    show.set_defaults(run=run_show)


def open_store(args) -> Store:
    from appliance.store.database import Store

    data_dir = initialised_data_dir(args.data_dir)
    return Store(data_dir, current_key(data_dir, args.passphrase_file))


def key_from_argument(text: str) -> str:
    if "".join(text.split()).startswith(keys.KEY_PREFIX):
        return text
    path = Path(text)
    if not path.is_file():
        raise CliError(f"{text!r} is neither a license key ({keys.KEY_PREFIX}…) nor a license file")
    try:
        return keys.read_license_file(path)
    except LicenseError as error:
        raise CliError(str(error)) from error


def run_install(args) -> int:
    from appliance.audit import log as audit
    from appliance.licensing import box_license

    key = key_from_argument(args.key_or_file)
    store = open_store(args)
    try:
        try:
            license, changed = box_license.install(store, key, box_license.trusted_keys())
        except LicenseError as error:
            raise CliError(str(error)) from error
        if changed:
            audit.record(
                store,
                username=f"cli:{getpass.getuser()}",
                source_ip="local",
                action="license.installed",
                target=license.license_id,
                details={"plan": license.plan, "expires_at": license.expires_at, "max_sensors": license.max_sensors},
            )
        print(
            f"license {license.license_id} ({license.plan}, up to {license.max_sensors} sensors) "
            f"{'installed' if changed else 'was already installed'}"
        )
        print(box_license.view(store, box_license.trusted_keys()).hint)
    finally:
        store.close()
    return 0


def run_show(args) -> int:
    from appliance.licensing import box_license

    store = open_store(args)
    try:
        seen = box_license.view(store, box_license.trusted_keys())
    finally:
        store.close()
    if args.json:
        print(json.dumps(msgspec.to_builtins(seen)))
        return 0
    if not seen.installed:
        print(seen.hint)
        return 0
    license = seen.license
    expires = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(license.expires_at))
    print(f"license     {license.license_id} for {license.customer}")
    print(f"plan        {license.plan} ({', '.join(license.features) or 'no extra features'})")
    print(f"sensors     {seen.sensors_registered} of {license.max_sensors}")
    print(f"expires     {expires} ({seen.status}, {seen.days_left} days left)")
    print(seen.hint)
    return 0
