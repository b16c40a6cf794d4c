"""Build the lab LAN in network namespaces, run real attack tools and real benign work, capture the switch.

    python tests/lab/make_captures.py [--only NAME[,NAME...]] [--list] [--out DIR]

Needs root. Installs its Debian packages with apt-get when missing. Every namespace, process and lab user
it created is removed on exit, also on Ctrl-C. Writes one pcap per scenario to tests/data/lab-captures/,
then labels.json and MANIFEST.md (entries of scenarios not re-run are kept).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.lab.labels import write_outputs
from tests.lab.scenarios import SCENARIOS, Lab

PACKAGES = [
    "iproute2",
    "ethtool",
    "tshark",
    "netcat-openbsd",
    "iputils-ping",
    "curl",
    "wget",
    "openssl",
    "openssh-server",
    "openssh-client",
    "sshpass",
    "expect",
    "vsftpd",
    "mariadb-server",
    "mariadb-client",
    "postgresql",
    "postgresql-client",
    "nginx-light",
    "inetutils-telnetd",
    "inetutils-telnet",
    "openbsd-inetd",
    "tigervnc-standalone-server",
    "tigervnc-tools",
    "samba",
    "smbclient",
    "dnsmasq",
    "chrony",
    "ansible-core",
    "hydra",
    "medusa",
    "ncrack",
    "nmap",
    "masscan",
    "hping3",
    "dsniff",
    "ettercap-text-only",
    "bettercap",
    "iodine",
    "lftp",
]
PYTHON_PACKAGES = {"requests": "requests>=2.31", "websockets": "websockets>=13"}
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "data" / "lab-captures"
WORK = Path("/tmp/nxlab")


def ensure_packages() -> None:
    missing = [p for p in PACKAGES if subprocess.run(["dpkg", "-s", p], capture_output=True).returncode != 0]
    if missing:
        print(f"installing {' '.join(missing)}", flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing], check=True, env=env)
    for module, requirement in PYTHON_PACKAGES.items():
        if subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True).returncode != 0:
            subprocess.run([sys.executable, "-m", "pip", "install", "-q", requirement], check=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", help="comma-separated scenario names (default: all)")
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    if args.list:
        for scenario in SCENARIOS:
            print(f"{scenario.name:40} {scenario.kind:7} {scenario.what}")
        return 0
    chosen = SCENARIOS
    if args.only:
        names = args.only.split(",")
        unknown = sorted(set(names) - {s.name for s in SCENARIOS})
        if unknown:
            print(f"unknown scenario(s): {', '.join(unknown)} (see --list)", file=sys.stderr)
            return 2
        chosen = [s for s in SCENARIOS if s.name in names]
    if os.geteuid() != 0:
        print("make_captures.py needs root (network namespaces)", file=sys.stderr)
        return 2
    ensure_packages()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    args.out.mkdir(parents=True, exist_ok=True)
    WORK.mkdir(exist_ok=True)
    lab = Lab(WORK)
    results = {}
    failed: list[str] = []
    try:
        lab.up()
        for scenario in chosen:
            print(f"== {scenario.name}", flush=True)
            started = time.time()
            try:
                results[scenario.name] = lab.capture(scenario, args.out)
            except (RuntimeError, subprocess.SubprocessError, OSError) as error:
                failed.append(scenario.name)
                print(f"   FAILED: {error}", flush=True)
                continue
            write_outputs(args.out, {scenario.name: results[scenario.name]}, PACKAGES)  # kept even if a later one fails
            print(f"   {results[scenario.name]['packets']} packets in {time.time() - started:.0f} s", flush=True)
    except KeyboardInterrupt:
        print("interrupted: cleaning up", file=sys.stderr)
        return 130
    finally:
        lab.down()
    if failed:
        print(f"failed: {','.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
