"""Granian's main process as `appliance serve` starts it: Granian's own command line, with one change to
how its workers start.

Granian forks its workers from the main process, so a worker inherits the main process's Python handler
for SIGTERM and SIGINT. That handler only flags the main loop (of the worker's useless copy of it): a worker
signalled while it still imports the app, before Granian installs the worker's own handlers, swallows the
signal, starts serving, and the main process waits for it forever (`systemctl restart` hung until systemd
killed the unit). Each forked worker starts with the default dispositions instead: signalled while loading,
it simply ends; once loaded, Granian's worker handlers take over and it stops gracefully.
"""

from __future__ import annotations

import os
import signal
import sys

from granian.cli import entrypoint

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def default_stop_signals() -> None:
    for stop in STOP_SIGNALS:
        signal.signal(stop, signal.SIG_DFL)


if __name__ == "__main__":
    os.register_at_fork(after_in_child=default_stop_signals)
    sys.exit(entrypoint())
