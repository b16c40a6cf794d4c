"""analyze, engine, traces verify: running the detection engine and checking its proof trails."""

from __future__ import annotations

import argparse
import itertools
import json
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from appliance.cli.errors import CliError
from appliance.cli.progress import Progress
from appliance.store import keys, lifecycle
from appliance.store.data_dir import DataDirectory

if TYPE_CHECKING:
    from appliance.store.database import Store


def register(subparsers) -> None:
    analyze = subparsers.add_parser("analyze", help="run the sensor decoding and the engine over capture files")
    analyze.add_argument("pcaps", nargs="+", metavar="PCAP")
    analyze.add_argument("--json", action="store_true", help="one JSON object per alert")
    analyze.add_argument("--data-dir", help="an initialised box to store into (default: a temporary store)")
    analyze.set_defaults(run=run_analyze)

    engine = subparsers.add_parser("engine", help="the engine service: process ingested batches as they arrive")
    engine.add_argument("--data-dir", required=True)
    engine.add_argument("--poll-interval", type=float, default=0.5)
    engine.add_argument("--once", action="store_true", help="process what is pending, then exit")
    engine.add_argument(
        "--checkpoint-batches",
        type=positive_int,
        help="save the rules' state at least every N batches (default: appliance.engine.process.CHECKPOINT_BATCHES)",
    )
    engine.add_argument(
        "--checkpoint-seconds",
        type=float,
        help="... and at least every T seconds (default: CHECKPOINT_SECONDS)",
    )
    engine.set_defaults(run=run_engine)

    # Its options live with the training code, which imports scikit-learn and shap: they are handed over
    # unparsed so that every other command starts without that import.
    train = subparsers.add_parser(
        "train-model", add_help=False, help="train the scoring model on simulator traffic (reproducible; --help)"
    )
    train.set_defaults(run=run_train, passes_options_through=True)

    traces = subparsers.add_parser("traces", help="decision traces")
    traces_commands = traces.add_subparsers(dest="traces_command", required=True)
    verify = traces_commands.add_parser("verify", help="verify an exported proof trail offline")
    verify.add_argument("file")
    verify.add_argument("--public-key", help="the box's Ed25519 public key (hex), obtained from the box separately")
    verify.set_defaults(run=run_verify)


def open_store(data_dir: DataDirectory) -> Store:
    from appliance.store.database import Store

    try:
        return Store(data_dir, keys.load_key(data_dir))
    except keys.SealedError as error:
        raise CliError("the box is sealed: unseal it first (POST /api/v1/system/unseal)") from error


LICENSE_RECHECK_SECONDS = 60


def licensed_rules(store: Store):
    """`rule_allowed(rule_name)` for the engine: what the installed license's plan includes, re-read every
    minute so an upgrade takes effect without a restart. Without a license (first boot, `analyze`) every rule
    runs; expiry never switches a rule off."""
    from appliance.licensing import box_license, state

    cached = {"at": -LICENSE_RECHECK_SECONDS, "license": None}

    def rule_allowed(rule_name: str) -> bool:
        if time.monotonic() - cached["at"] >= LICENSE_RECHECK_SECONDS:
            installed = box_license.installed(store, box_license.trusted_keys())
            cached.update(at=time.monotonic(), license=installed.license if installed else None)
        return cached["license"] is None or state.rule_allowed(cached["license"], rule_name)

    return rule_allowed


def build_engine(store: Store, **checkpoints):
    from appliance.engine.process import Engine
    from appliance.engine.scoring import Scorer

    # A model retrained for this scikit-learn (when the shipped pickle cannot be read) is kept in the data dir.
    scorer = Scorer.load(cache_dir=store.data_dir.root / "models")
    given = {name: value for name, value in checkpoints.items() if value is not None}
    return Engine(store, scorer, rule_allowed=licensed_rules(store), **given)


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def check_captures(paths: list[str], progress: Progress) -> int:
    """Every file must be a capture we can read before a store is made for it; what the reader will skip
    in one (a truncated end, corrupt blocks) is said up front, as `sensor read` says it. Returns their bytes."""
    from sensor.pcap import CaptureFile, CaptureFormatError

    for path in paths:
        if not Path(path).is_file():
            raise CliError(f"no such capture file: {path}")
    sizes = [Path(path).stat().st_size for path in paths]
    total, checked = sum(sizes), 0
    for path, size in zip(paths, sizes, strict=True):
        progress("checking captures", checked, total, "bytes")
        try:
            capture = CaptureFile(path)
        except CaptureFormatError as error:
            raise CliError(str(error)) from error
        for _ in capture.batches():  # reading only: the reader's problems show once it has walked the file
            pass
        for problem in capture.errors:
            print(f"appliance analyze: warning: {path}: {problem}", file=sys.stderr)
        checked += size
    progress("checking captures", checked, total, "bytes")
    return total


def run_analyze(args) -> int:
    with Progress("analyze", quiet=args.json) as progress:
        stats, alerts = analyze_captures(args, progress)
    for alert in alerts:
        alert["shap_json"] = json.loads(alert["shap_json"])
        if args.json:
            print(json.dumps(alert, sort_keys=False))
        else:
            target = f"{alert['dest_ip']}:{alert['port']}" if alert["dest_ip"] else "(many)"
            print(
                f"{alert['severity']:8s} {alert['rule_name']:22s} {alert['source_ip']:>15s} -> {target:22s} "
                f"score {alert['score']:.2f}  trace {alert['trace_id']}"
            )
    if not args.json:
        print(f"{len(alerts)} alert(s) from {stats.packets} packets ({stats.malformed} malformed)", file=sys.stderr)
    return 0


def analyze_captures(args, progress: Progress):
    """The captures through the box's own sensor path and the engine: their stats and the alerts they raised."""
    from appliance.alerts.repository import ALERT_COLUMNS
    from appliance.ingest.local_sensor import queue_capture_files

    size = check_captures(args.pcaps, progress)
    with tempfile.TemporaryDirectory(prefix="netsenx-analyze-") as scratch:
        if args.data_dir:
            data_dir = DataDirectory.at(args.data_dir)
            if not data_dir.is_initialised():
                raise CliError(f"{data_dir.root} holds no NetSenX database: run `appliance init` first")
        else:
            data_dir = DataDirectory.at(Path(scratch) / "box")
            lifecycle.create_database(data_dir)
        store = open_store(data_dir)
        try:
            started = store.query_one("SELECT coalesce(max(seq), 0) AS seq FROM decision_traces")["seq"]
            stats = queue_capture_files(
                store, args.pcaps, bytes_read=lambda done: progress("decoding captures", done, size, "bytes")
            )
            pending = store.query_one("SELECT count(*) AS n FROM ingest_batches WHERE done = 0 AND failed_at IS NULL")
            progress("loading the scoring model", 0, None, "")
            engine = build_engine(store)
            taken = itertools.count(1)
            engine.process_all(taken_one=lambda: progress("detecting", next(taken), pending["n"], "batches"))
            # The seed's alert fields, as the alerts API lists them, plus the decision trace that raised each.
            alerts = store.query(
                f"SELECT {ALERT_COLUMNS}, trace_id FROM alerts WHERE id IN "
                "(SELECT alert_id FROM decision_traces WHERE seq > ? AND alert_id IS NOT NULL) "
                "ORDER BY timestamp, rule_name",
                (started,),
            )
        finally:
            store.close()
    return stats, alerts


def run_engine(args) -> int:
    from appliance.evidence.retention import RetentionPruner

    data_dir = DataDirectory.at(args.data_dir)
    if not data_dir.is_initialised():
        raise CliError(f"{data_dir.root} holds no NetSenX database: run `appliance init` first")
    while True:
        try:
            store = open_store(data_dir)
            break
        except CliError:
            if args.once:
                raise
            time.sleep(args.poll_interval)  # sealed: wait for an admin to unseal through the API
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):  # finish the batch in hand, save the rules' state, exit
        signal.signal(signum, lambda *_: stopping.set())
    engine = build_engine(store, checkpoint_batches=args.checkpoint_batches, checkpoint_seconds=args.checkpoint_seconds)
    pruner = RetentionPruner(store)  # the engine is the store's single writer: it prunes too
    try:
        while not stopping.is_set():
            pruner.run_if_due()
            processed = engine.process_pending(stop=stopping)
            if args.once and not processed:
                break
            if not processed:
                stopping.wait(args.poll_interval)
        engine.checkpoint()
        return 0
    finally:
        store.close()


def run_train(args) -> int:
    try:
        from model_building.training import train_main
    except ModuleNotFoundError as missing:
        if missing.name != "model_building":
            raise
        raise CliError("model building is not installed here (a box runs models, it does not build "
                       "them); run it from a development checkout") from None
    return train_main(args.options)


def run_verify(args) -> int:
    from appliance.traces.chain import REPORT_EVIDENCE_FORMAT
    from appliance.traces.verify import report_trails, verify_document

    try:
        document = json.loads(Path(args.file).read_text())
    except OSError as error:
        raise CliError(f"cannot read {args.file}: {error.strerror}") from error
    except ValueError as error:
        raise CliError(f"{args.file} is not JSON: {error}") from error
    problems = verify_document(document, args.public_key)
    if problems:
        for problem in problems:
            print(f"FAIL: {problem}", file=sys.stderr)
        return 1
    if document.get("format") == REPORT_EVIDENCE_FORMAT:
        trails = report_trails(document)
        print(f"OK: report {document['report']['reference']}: {len(trails)} decision trace(s) of "
              f"{len({alert_id for alert_id, _ in trails})} alert(s), each in a chain signed by box "
              f"{trails[0][1]['checkpoint']['box_id']}")
        return 0
    checkpoint = document["checkpoint"]
    print(
        f"OK: trace {document['trace']['content']['trace_id']} (seq {document['trace']['seq']}) is in the chain "
        f"signed at seq {checkpoint['seq']} by box {checkpoint['box_id']} (key {checkpoint['public_key'][:16]}…)"
    )
    return 0
