"""Training the scoring model on the simulator's labelled traffic, and retraining it on analysts' verdicts.

`train(spec)` runs every scenario with every seed through the sensor and the rules (corpus.py), labels the
Detections, and fits the model. Everything is seeded, so the same spec gives the same rows, the same model
bytes and the same sha256. `appliance train-model` is `train_main`.

Analysts' verdicts (an alert closed as false_positive, or resolved as a real attack) are added to the
simulator's rows with a high weight: the analyst knows this site, the simulator only knows an office. A verdict
speaks for its near twins too (the site's own scanner never produces the same counts twice), so each one is
added as VERDICT_TWINS rows whose values lie within +-VERDICT_SPREAD of the marked alert's. After `retrain`,
alerts that look like ones marked false_positive score lower.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import msgspec

from appliance.cli.progress import Progress, ReportProgress, no_progress
from appliance.engine.detection import Detection
from appliance.engine.scoring import SHIPPED_MODEL_DIR, Scorer
from appliance.engine.scoring import artefact as artefacts
from appliance.engine.scoring.artefact import Artefact, ModelError, TrainingSpec
from appliance.engine.scoring.features import FeatureRow, LabelledRow, row_from_detection, rule_feature_names
from appliance.simulate.scenarios import MAX_DURATION, MIN_DURATION, SCENARIOS, UnknownScenario
from model_building.corpus import LEARNING_S, scenario_rows

TRAINING_SEEDS = (11, 12, 13)  # the benchmark uses other seeds
BENIGN_SEEDS = (21, 22, 23, 24, 25, 26)
DEFAULT_DURATION_S = 300.0
MAX_ROWS_PER_GROUP = 40  # per (run, rule, label): a DHCP starvation's 1,500 NEW_DEVICE rows must not drown the rest
VERDICT_WEIGHT = 10.0
VERDICT_TWINS = 8  # rows per verdict: the alert itself and its near twins, sharing VERDICT_WEIGHT
VERDICT_SPREAD = 0.1
VERDICT_LABELS = {"false_positive": 0, "resolved": 1}


def training_scenarios() -> list[str]:
    """Every scenario but "mixed", which only repeats the per-rule attacks on top of each other."""
    return [name for name in SCENARIOS if name != "mixed"]


def default_spec() -> TrainingSpec:
    return TrainingSpec(scenarios=training_scenarios(), seeds=list(TRAINING_SEEDS), duration_s=DEFAULT_DURATION_S,
                        benign_seeds=list(BENIGN_SEEDS), learning_s=LEARNING_S)


def thinned(rows: list[LabelledRow]) -> list[LabelledRow]:
    """Exact duplicates dropped, then at most MAX_ROWS_PER_GROUP evenly spread rows per (run, rule, label)."""
    unique: dict[bytes, LabelledRow] = {}
    for row in rows:
        unique.setdefault(msgspec.json.encode((row.row, row.label)), row)
    groups: dict[tuple, list[int]] = defaultdict(list)
    kept_rows = list(unique.values())
    for index, row in enumerate(kept_rows):
        groups[(row.origin, row.row.rule_name, row.label)].append(index)
    kept: set[int] = set()
    for members in groups.values():
        if len(members) <= MAX_ROWS_PER_GROUP:
            kept.update(members)
        else:
            step = (len(members) - 1) / (MAX_ROWS_PER_GROUP - 1)
            kept.update(members[round(i * step)] for i in range(MAX_ROWS_PER_GROUP))
    return [row for index, row in enumerate(kept_rows) if index in kept]


def build_corpus(spec: TrainingSpec, workers: int = 1, progress: ReportProgress = no_progress) -> list[LabelledRow]:
    for name in spec.scenarios:
        if name not in SCENARIOS:
            raise UnknownScenario(name)
    # One job per seed: its scenarios share the office's history, which is built once per job.
    jobs = [(tuple(spec.scenarios), seed, spec.duration_s, spec.learning_s) for seed in spec.seeds]
    jobs += [(("benign-office",), seed, spec.duration_s, spec.learning_s) for seed in spec.benign_seeds]
    progress("simulating and detecting", 0, len(jobs), "runs")
    results = []
    for rows in run_jobs(jobs, workers):
        results.append(rows)
        progress("simulating and detecting", len(results), len(jobs), "runs")
    return thinned([row for rows in results for row in rows])


def run_jobs(jobs: list[tuple], workers: int) -> Iterator[list[LabelledRow]]:
    """Each job's rows, in the jobs' order, as each is done."""
    if workers > 1:
        # fork: the workers inherit the imported simulator and sensor instead of importing them again
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
            yield from pool.map(scenario_rows, jobs)
    else:
        yield from map(scenario_rows, jobs)


def train(spec: TrainingSpec, workers: int = 1, progress: ReportProgress = no_progress) -> Artefact:
    rows = build_corpus(spec, workers, progress)
    progress("fitting the model", 0, None, "")
    return artefacts.build(rows, rule_feature_names(), training=spec)


class Verdict(msgspec.Struct, kw_only=True):
    row: FeatureRow
    label: int  # 0: the analyst closed it as false_positive; 1: resolved, a real attack

    @classmethod
    def of(cls, alert: Detection | FeatureRow, status: str) -> Verdict:
        if status not in VERDICT_LABELS:
            raise ValueError(f"only {' and '.join(VERDICT_LABELS)} verdicts train the model, not {status!r}")
        row = alert if isinstance(alert, FeatureRow) else row_from_detection(alert)
        return cls(row=row, label=VERDICT_LABELS[status])


def near_twins(row: FeatureRow) -> list[FeatureRow]:
    """The row and VERDICT_TWINS - 1 copies with every value scaled by up to +-VERDICT_SPREAD, drawn from a
    generator seeded by the row itself (the same verdict always gives the same twins)."""
    rng = random.Random(msgspec.json.encode(row))
    twins = [row]
    for _ in range(VERDICT_TWINS - 1):
        spread = (1 - VERDICT_SPREAD, 1 + VERDICT_SPREAD)
        values = {name: value * rng.uniform(*spread) for name, value in row.values.items()}
        twins.append(FeatureRow(rule_name=row.rule_name, values=values))
    return twins


def simulator_rows(artefact: Artefact) -> list[LabelledRow]:
    """The artefact's rows without earlier verdicts: the base that every retraining starts from."""
    return [row for row in artefact.rows() if row.origin != "verdict"]


def retrain(base_rows: list[LabelledRow], verdicts: list[Verdict], rule_features: dict[str, list[str]] | None = None,
            training: TrainingSpec | None = None) -> Scorer:
    """New models from the base rows plus the verdicts (weighted VERDICT_WEIGHT each). Deterministic."""
    rows = base_rows + [
        LabelledRow(row=row, label=verdict.label, weight=VERDICT_WEIGHT / VERDICT_TWINS, origin="verdict")
        for verdict in verdicts
        for row in near_twins(verdict.row)
    ]
    artefact = artefacts.build(rows, rule_features or rule_feature_names(), training=training,
                               feedback_verdicts=len(verdicts))
    return Scorer(artefact)


def with_feedback(scorer: Scorer, verdicts: list[Verdict]) -> Scorer:
    """`scorer`'s model retrained on its simulator rows and all of the site's verdicts so far."""
    return retrain(simulator_rows(scorer.artefact), verdicts, rule_feature_names(), scorer.artefact.manifest.training)


def _seeds(text: str) -> list[int]:
    try:
        seeds = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"seeds must be comma-separated integers, got {text!r}") from None
    if not seeds:
        raise argparse.ArgumentTypeError("give at least one seed")
    return seeds


class _OneLineErrorParser(argparse.ArgumentParser):
    def error(self, message: str) -> None:
        print(f"train-model: {message}", file=sys.stderr)
        sys.exit(2)


def _parser() -> argparse.ArgumentParser:
    parser = _OneLineErrorParser(prog="appliance train-model",
                                 description="train the alert-scoring model on simulated, labelled traffic")
    parser.add_argument("--out", type=Path, default=SHIPPED_MODEL_DIR,
                        help="directory for model.pkl, training_rows.json, manifest.json (default: the shipped model)")
    parser.add_argument("--seeds", type=_seeds, default=list(TRAINING_SEEDS),
                        help=f"comma-separated simulator seeds (default {','.join(map(str, TRAINING_SEEDS))})")
    parser.add_argument("--benign-seeds", type=_seeds, default=list(BENIGN_SEEDS),
                        help=f"seeds of extra benign-office runs (default {','.join(map(str, BENIGN_SEEDS))})")
    parser.add_argument("--duration", type=float, default=DEFAULT_DURATION_S,
                        help=f"seconds of traffic per scenario (default {DEFAULT_DURATION_S:.0f})")
    parser.add_argument("--learning", type=float, default=LEARNING_S,
                        help=f"seconds of the office's ordinary history before each scenario, the baseline's "
                             f"learning period (default {LEARNING_S:.0f})")
    parser.add_argument("--scenario", action="append", dest="scenarios",
                        help="a scenario to train on (repeatable; default: every scenario but 'mixed')")
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1),
                        help="processes simulating in parallel (default: up to 2)")
    return parser


def train_main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    for option, value in (("--duration", args.duration), ("--learning", args.learning)):
        if not MIN_DURATION <= value <= MAX_DURATION:
            print(f"train-model: {option} must be between {MIN_DURATION:.0f} and {MAX_DURATION:.0f} seconds",
                  file=sys.stderr)
            return 2
    spec = TrainingSpec(scenarios=args.scenarios or training_scenarios(), seeds=args.seeds, duration_s=args.duration,
                        benign_seeds=args.benign_seeds, learning_s=args.learning)
    started = time.monotonic()
    try:
        with Progress("train-model") as progress:
            artefact = train(spec, workers=max(1, args.workers), progress=progress)
            progress("writing the model", 0, None, "")
            artefact.save(args.out)
    except UnknownScenario as exc:
        print(f"train-model: unknown scenario {exc.args[0]!r}; `appliance simulate --list` names them", file=sys.stderr)
        return 2
    except ModelError as exc:
        print(f"train-model: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"train-model: cannot write {args.out}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    manifest = artefact.manifest
    print(f"{args.out}: model {manifest.model_version} sha256 {manifest.model_sha256}, "
          f"{manifest.positives} attack and {manifest.negatives} benign rows, {time.monotonic() - started:.1f} s")
    return 0
