"""What a long command (analyze, backup, restore, rekey, simulate, train-model) shows while it works, on stderr.

The work reports through one callback, `progress(stage, done, total, unit)` (ReportProgress), called as it
goes: a stage is named by what it does ("copying pages"), `done` and `total` count `unit`s ("bytes", "pages",
"packets"; total None when not known beforehand). The library code takes the callback as a parameter,
`no_progress` by default, and imports nothing else from here: how it is shown is the command's business.

On a terminal each stage is a bar (done/total, rate, time left); elsewhere (a log, a pipe, a test) each stage
is one plain line when it ends; with `--json` nothing at all, so stdout and stderr stay what scripts read.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

ReportProgress = Callable[[str, float, float | None, str], None]


def no_progress(stage: str, done: float, total: float | None = None, unit: str = "") -> None:
    """The default of library code run without a command around it (tests, the API, the engine service)."""


def amount(done: float, unit: str) -> str:
    """`done` units as a person reads them: 12,345 pages, 1.2 GiB."""
    if unit != "bytes":
        return f"{done:,.0f} {unit}".rstrip()
    for size, prefix in ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
        if done >= size:
            return f"{done / size:.1f} {prefix}"
    return f"{done:.0f} bytes"


def rate(per_second: float, unit: str) -> str:
    """12,345 pages/s, 0.2 runs/s, 61.0 MiB/s."""
    if unit != "bytes" and per_second < 10:
        return f"{per_second:.1f} {unit}/s"
    return f"{amount(per_second, unit)}/s"


def done_of(done: float, total: float | None, unit: str) -> str:
    """12,000/48,000 pages, 1.0 GiB/3.9 GiB."""
    if total is None:
        return amount(done, unit)
    if unit == "bytes":
        return f"{amount(done, unit)}/{amount(total, unit)}"
    return f"{done:,.0f}/{amount(total, unit)}"


class Progress:
    """One command's stages. Use as a context manager; call it as the work's progress callback."""

    def __init__(self, command: str, *, quiet: bool = False, stream: TextIO | None = None) -> None:
        self.command = command
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.on_terminal = not quiet and self.stream.isatty()
        self._stage: str | None = None
        self._done = 0.0
        self._unit = ""
        self._started = 0.0
        self._bars = None  # rich's Progress, made at the first stage shown on a terminal
        self._task = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, kind, error, traceback) -> None:
        if kind is None:
            self._finish_stage()
        if self._bars is not None:
            self._bars.stop()

    def __call__(self, stage: str, done: float, total: float | None = None, unit: str = "") -> None:
        if self.quiet:
            return
        if stage != self._stage:
            self._finish_stage()
            self._start_stage(stage, total, unit)
        self._done = done
        if self._bars is not None:
            self._bars.update(self._task, completed=done, total=total)

    def _start_stage(self, stage: str, total: float | None, unit: str) -> None:
        self._stage, self._unit, self._started = stage, unit, time.monotonic()
        if self.on_terminal:
            if self._bars is None:
                self._bars = terminal_bars(self.stream)
                self._bars.start()
            self._task = self._bars.add_task(stage, total=total, unit=unit)

    def _finish_stage(self) -> None:
        if self._stage is None:
            return
        if self._bars is not None:
            finished = max(self._done, 1)  # a stage without a total shows as a full bar once it is done
            self._bars.update(self._task, total=self._bars.tasks[self._task].total or finished, completed=finished)
        else:
            print(self._line(time.monotonic() - self._started), file=self.stream, flush=True)
        self._stage = None

    def _line(self, seconds: float) -> str:
        took = f"{seconds:.1f} s"
        if self._done:
            took = f"{amount(self._done, self._unit)} in {took}"
            if seconds > 0:
                took += f" ({rate(self._done / seconds, self._unit)})"
        return f"appliance {self.command}: {self._stage}: {took}"


def terminal_bars(stream: TextIO):
    """rich's bars (it comes with Litestar): imported only when a terminal shows them."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, ProgressColumn, TextColumn, TimeRemainingColumn
    from rich.text import Text

    class Counts(ProgressColumn):
        def render(self, task) -> Text:
            unit = task.fields["unit"]
            speed = task.finished_speed or task.speed
            per_second = f"  {rate(speed, unit)}" if speed else ""
            return Text(done_of(task.completed, task.total, unit) + per_second)

    return Progress(
        TextColumn("{task.description}"), BarColumn(), Counts(), TimeRemainingColumn(), TextColumn("left"),
        console=Console(file=stream), transient=False, redirect_stdout=False,
    )
