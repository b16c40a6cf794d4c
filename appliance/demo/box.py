"""Run the demo: the API (Granian), the engine, a sensor and the simulator's office network, as separate
processes wired exactly like a real installation (the sensor ships to the API as an agent).

The office is not a recording played in a loop (a loop turns every visit into a perfectly periodic beacon):
a stream process keeps generating the same office's next segments (appliance/simulate/stream.py), with the
scenario's attacks on a schedule, and the replay plays them one after another on one timeline, after the
office's ordinary history that the baseline learns from."""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import msgspec

from appliance.demo.license import demo_license, demo_vendor_key, trusted_key_text
from appliance.demo.network import CAPTURE_END, REPLAY_END, DemoNetwork, can_create_namespaces
from appliance.licensing import box_license
from appliance.simulate import scenarios
from appliance.simulate.labels import labels_path, write_indicators
from appliance.simulate.replay import segment_path
from appliance.store import keys
from appliance.store.data_dir import DataDirectory
from appliance.store.database import Store

SENSOR_ID = "demo-sensor"


PR_SET_PDEATHSIG = 1


def end_with_parent() -> None:
    """In the child, before exec: the kernel sends SIGTERM when the demo process dies, even by SIGKILL."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class DemoProcesses:
    """Child processes, each in its own process group so that stopping one stops all of its workers."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.running: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, command: list[str], environment: dict[str, str]) -> subprocess.Popen:
        log = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - the child keeps writing to it
        # preexec_fn is safe here: the demo process runs no threads.
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=environment, start_new_session=True,
            preexec_fn=end_with_parent,  # noqa: PLW1509
        )
        log.close()
        self.running.append((name, process))
        return process

    def stop(self) -> None:
        """Newest first, one at a time: the sensor hands its last batches to an API that is still up."""
        for _, process in reversed(self.running):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=15)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # whatever the group still holds
            process.wait()

    def exited(self) -> list[str]:
        return [name for name, process in self.running if process.poll() is not None]

    def failed(self) -> list[str]:
        return [name for name, process in self.running if process.poll() not in (None, 0)]


def install_demo_license(data_dir: DataDirectory) -> tuple[str, str]:
    """(license key, trusted vendor key text); installed on the box once."""
    vendor = demo_vendor_key(data_dir)
    trusted = trusted_key_text(vendor)
    store = Store(data_dir, keys.load_key(data_dir))
    try:
        public_keys = box_license.trusted_keys({box_license.VENDOR_KEYS_ENV: trusted})
        current = box_license.installed(store, public_keys)
        if current is None or current.license.expires_at < time.time() + 30 * 86_400:
            box_license.install(store, demo_license(vendor), public_keys)
            current = box_license.installed(store, public_keys)
        return current.key, trusted
    finally:
        store.close()


def office_history(directory: Path, scenario: str, seed: int, seconds: float) -> Path:
    """The same office's ordinary afternoon before the scenario: what the baseline learns the site from."""
    start = scenarios.history_start(scenarios.SCENARIOS[scenario].default_start, seconds)
    path = directory / f"history-{seed}-{int(seconds)}s-at-{int(start)}.pcap"
    if not path.exists():
        scenarios.write("benign-office", path, seed=seed, duration=seconds, start=start)
    return path


def scenario_indicators(data_dir: DataDirectory, scenario: str) -> Path | None:
    """The indicator list the scenario's threat-intel attack matches (None when it has none)."""
    indicators = scenarios.SCENARIOS[scenario].indicators
    if not indicators:
        return None
    path = data_dir.root / "indicators.txt"
    write_indicators(path, indicators)
    return path


def stream_directory(data_dir: DataDirectory) -> Path:
    """Where the stream writes segments and the replay consumes them; emptied of an earlier run's leftovers."""
    directory = data_dir.root / "stream"
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(mode=0o700)
    return directory


def set_learning_period(data_dir: DataDirectory, seconds: float) -> None:
    """Learn the site for `seconds` of packet time, unless the baseline already started learning (a demo box
    started again keeps what it learned)."""
    from appliance.engine.process import load_settings

    store = Store(data_dir, keys.load_key(data_dir))
    try:
        if store.query_one("SELECT 1 AS started FROM engine_state WHERE key = 'baseline'"):
            return
        settings = load_settings(store)
        settings.site.learning_period_s = seconds
        store.set_setting("engine", msgspec.to_builtins(settings))
    finally:
        store.close()


def packet_store_arguments(data_dir: DataDirectory) -> list[str]:
    """The box's sensor keeps its packets in the box's packet store, so an alert's packets can be downloaded."""
    from appliance.evidence.packets import sensor_arguments

    store = Store(data_dir, keys.load_key(data_dir))
    try:
        return sensor_arguments(store, SENSOR_ID)
    finally:
        store.close()


def wait_for_api(url: str, certificate: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            trust = ssl.create_default_context(cafile=str(certificate))
            if httpx.get(f"{url}/api/v1/health", verify=trust, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.3)
    raise RuntimeError(f"the API did not answer on {url} within {timeout:.0f} s")


def free_port(host: str, port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex((host, port)) != 0


def run_demo_box(data_dir: DataDirectory, *, host: str, port: int, scenario: str, seed: int, duration: float,
                 speed: float, loops: int | None, learning: float, on_ready) -> int:
    """Start everything, call `on_ready(url)`, ship `learning` seconds of the office's ordinary history (read as
    a file) for the baseline to learn, then replay the office's ever new segments of `duration` seconds at
    `speed` until interrupted (or `loops` segments)."""
    if not free_port(host, port):
        raise RuntimeError(f"port {port} on {host} is already in use: pass --port")
    license_key, trusted = install_demo_license(data_dir)
    history = [office_history(data_dir.root, scenario, seed, learning)] if learning else []
    segments = stream_directory(data_dir)
    environment = dict(os.environ, **{box_license.VENDOR_KEYS_ENV: trusted})
    url = f"https://{host}:{port}"
    python = sys.executable
    logs = data_dir.root / "logs"
    logs.mkdir(exist_ok=True, mode=0o700)
    processes = DemoProcesses(logs)
    stop = {"requested": False}

    def request_stop(*_) -> None:
        stop["requested"] = True

    previous = signal.signal(signal.SIGTERM, request_stop)
    network = DemoNetwork(f"nsx-demo-{os.getpid()}") if can_create_namespaces() else None
    if history:
        # The history is read as a file, so it keeps its own timestamps: the baseline learns an hour of the
        # office in its own time (its rhythms, its scanners, its automation) within seconds. Replayed live it
        # would have to be either an hour long or compressed, and compressed time is another network: a
        # 60 s agent poll at 10x is a 6 s beacon.
        set_learning_period(data_dir, learning)
    count = [] if loops is None else ["--count", str(loops)]
    try:
        processes.start("api", [python, "-m", "appliance", "serve", "--data-dir", str(data_dir.root), "--host", host,
                                "--port", str(port), "--workers", "2"], environment)
        processes.start("engine", [python, "-m", "appliance", "engine", "--data-dir", str(data_dir.root)],
                        environment)
        processes.start("stream", [python, "-m", "appliance.simulate.stream", "--scenario", scenario, "--seed",
                                   str(seed), "--segment", str(duration), "--out-dir", str(segments), *count],
                        environment)
        wait_for_api(url, data_dir.certificate)
        shipping = ["--appliance", url, "--license-key", license_key, "--ca-cert", str(data_dir.certificate),
                    "--agent-id", SENSOR_ID, "--spool-dir", str(data_dir.root / "sensor-spool"),
                    *packet_store_arguments(data_dir)]
        if network is not None:
            network.__enter__()
        on_ready(url, "live capture on a veth pair" if network else "capture file (not root: no veth pair)")
        if network is not None:
            for path in history:  # before the live sensor starts: one agent ships one sequence at a time
                _wait(_read_file(processes, "history", path, shipping, environment), processes, stop, logs)
            processes.start("sensor", [python, "-m", "sensor", "capture", "--iface", CAPTURE_END,
                                       "--netns", network.namespace, *shipping], environment)
            time.sleep(2)  # the sensor's ring is open before the first frame is replayed
            replay = processes.start("replay", ["ip", "netns", "exec", network.namespace, python, "-m",
                                                "appliance.simulate.replay", "--follow", str(segments), *count,
                                                "--iface", REPLAY_END, "--speed", str(speed)], environment)
            _wait(replay, processes, stop, logs)
        else:
            _read_files(history, segments, loops, shipping, processes, environment, stop, logs)
        while loops is not None and not stop["requested"]:
            _check(processes, logs)
            time.sleep(0.5)  # the replays are done; the box keeps serving until stopped
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
        processes.stop()
        if network is not None:
            network.remove()


def _check(processes: DemoProcesses, logs: Path) -> None:
    """The box's processes run until the demo stops; the stream may end, but only when its segments are done."""
    stopped = set(processes.exited()) & {"api", "engine", "sensor"}
    stopped |= {name for name in processes.failed() if name == "stream"}
    if stopped:
        raise RuntimeError(f"demo process(es) stopped: {sorted(stopped)}; see {logs}")


def _wait(child: subprocess.Popen, processes: DemoProcesses, stop: dict, logs: Path) -> None:
    while child.poll() is None and not stop["requested"]:
        _check(processes, logs)
        time.sleep(0.5)


def _read_file(processes: DemoProcesses, name: str, path: Path, shipping: list[str],
               environment: dict[str, str]) -> subprocess.Popen:
    """The sensor reading one capture file (packets keep their own timestamps) and shipping it to the box."""
    return processes.start(name, [sys.executable, "-m", "sensor", "read", str(path), *shipping], environment)


def _read_files(history: list[Path], segments: Path, loops: int | None, shipping: list[str],
                processes: DemoProcesses, environment: dict[str, str], stop: dict, logs: Path) -> None:
    """Without a veth pair the sensor reads the files themselves: the history, then each segment as the
    stream writes it (removed once read)."""
    index = 0
    plays = [("history", path) for path in history]
    while not stop["requested"] and (loops is None or index < loops):
        if plays:
            name, path = plays.pop(0)
        else:
            name, path = f"segment-{index}", segment_path(segments, index)
            if not path.exists():
                _check(processes, logs)
                time.sleep(0.2)
                continue
            index += 1
        _wait(_read_file(processes, name, path, shipping, environment), processes, stop, logs)
        if name != "history":
            path.unlink(missing_ok=True)
            labels_path(path).unlink(missing_ok=True)
