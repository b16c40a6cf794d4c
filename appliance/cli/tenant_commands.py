"""`appliance erase`: the GDPR erasure from the console (same as DELETE /api/v1/tenant)."""

from __future__ import annotations

from appliance.cli.errors import CliError
from appliance.store.data_dir import DataDirectory


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "erase", help="destroy the data key and every file of the box, irreversibly (GDPR erasure)"
    )
    parser.add_argument("--data-dir", required=True)
    parser.add_argument(
        "--yes-erase-everything", action="store_true", help="confirm: nothing can be recovered afterwards"
    )
    parser.set_defaults(run=run_erase)


def run_erase(args) -> int:
    from appliance.tenant.erasure import NothingToErase, erase

    data_dir = DataDirectory.at(args.data_dir)
    if not args.yes_erase_everything:
        raise CliError(
            f"refusing to erase {data_dir.root} without --yes-erase-everything: it destroys the data key and "
            "every file irreversibly"
        )
    try:
        receipt = erase(data_dir)
    except NothingToErase as error:
        raise CliError(str(error)) from error
    print(
        f"erased {receipt.data_dir} at {receipt.erased_at}: {len(receipt.destroyed)} files destroyed, key material "
        "first; a running service answers 410 from now on. Run `appliance init` to start again."
    )
    return 0
