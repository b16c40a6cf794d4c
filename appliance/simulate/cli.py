"""`appliance simulate`: write a scenario's capture and its labels, or list the scenarios."""

from __future__ import annotations

import argparse
import calendar
import sys
import time
from pathlib import Path

from appliance.cli.progress import Progress
from appliance.simulate.span import DEFAULT_DURATION, LATEST_START, MAX_DURATION, MIN_DURATION

HELP = "write a simulated office capture (pcap) with labelled attacks"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("scenario", nargs="?", help="scenario name (see --list)")
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    parser.add_argument("--out", type=Path, help="pcap file to write; FILE.labels.json is written beside it")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument(
        "--duration",
        type=float,
        default=DEFAULT_DURATION,
        help=f"seconds of traffic (default {DEFAULT_DURATION:.0f}, {MIN_DURATION:.0f} to {MAX_DURATION:.0f})",
    )
    parser.add_argument(
        "--start",
        help="capture start, UTC: 2026-03-02T08:00:00 or epoch seconds (default: the scenario's, a Monday 08:00)",
    )


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """The `appliance simulate` subcommand (the appliance CLI calls `args.run(args)`)."""
    parser = subparsers.add_parser("simulate", help=HELP, description=HELP)
    configure(parser)
    parser.set_defaults(run=run)
    return parser


class UsageError(ValueError):
    pass


def _parse_start(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        start = float(text)
    except ValueError:
        try:
            start = float(calendar.timegm(time.strptime(text.rstrip("Z"), "%Y-%m-%dT%H:%M:%S")))
        except ValueError:
            raise UsageError(f"--start {text!r} is neither epoch seconds nor YYYY-MM-DDTHH:MM:SS") from None
    if not 0 <= start <= LATEST_START:  # NaN fails too
        raise UsageError(f"--start {text!r} is outside what a pcap file can hold (1970-2106)")
    return start


def _check(args: argparse.Namespace, scenarios: dict) -> None:
    if args.scenario is None:
        raise UsageError("give a SCENARIO (or --list to see them)")
    if args.scenario not in scenarios:
        raise UsageError(f"unknown scenario {args.scenario!r}; --list shows the {len(scenarios)} scenarios")
    if args.out is None:
        raise UsageError("--out FILE.pcap is required")
    if not args.out.parent.is_dir():
        raise UsageError(f"directory {str(args.out.parent)!r} does not exist")
    if not MIN_DURATION <= args.duration <= MAX_DURATION:  # NaN fails both comparisons
        raise UsageError(f"--duration must be between {MIN_DURATION:.0f} and {MAX_DURATION:.0f} seconds")


def run(args: argparse.Namespace) -> int:
    from appliance.simulate.scenarios import SCENARIOS, write

    if args.list:
        width = max(len(name) for name in SCENARIOS)
        for scenario in SCENARIOS.values():
            print(f"{scenario.name:<{width}}  {scenario.description}")
        return 0
    try:
        _check(args, SCENARIOS)
        start = _parse_start(args.start)
        with Progress("simulate") as progress:
            summary = write(args.scenario, args.out, seed=args.seed, duration=args.duration, start=start,
                            progress=progress)
    except UsageError as error:
        print(f"simulate: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"simulate: cannot write {args.out}: {error.strerror}", file=sys.stderr)
        return 1
    extra = f", indicators in {summary.indicators_file}" if summary.indicators_file else ""
    print(f"{summary.pcap}: {summary.packets} packets, {summary.labels} labels in {summary.labels_file}{extra}")
    return 0


class _OneLineErrorParser(argparse.ArgumentParser):
    def error(self, message: str) -> None:
        print(f"simulate: {message}", file=sys.stderr)
        sys.exit(2)


def main(argv: list[str] | None = None) -> int:
    parser = _OneLineErrorParser(prog="python -m appliance.simulate", description=HELP)
    configure(parser)
    return run(parser.parse_args(argv))
