"""The model on disk: one small gradient-boosted model per rule, the rows they were trained on, and a manifest.

    DIR/manifest.json        model version, sha256 of both files, each rule's features, rows and calibration,
                             training seeds, sklearn version
    DIR/model.pkl            {"format": 2, "rules": {rule: RuleModel fields}}, unpickled only after its sha256
                             matched the manifest
    DIR/training_rows.json   the labelled rows (plain JSON, never unpickled), verified by sha256 as well

One model per rule, not one over every rule's columns: a model over the union leaves most columns missing
for most rows, and SHAP then explained a DNS alert with Kerberos features. Each rule's model sees only its
own features and the few every Detection has (features.GENERIC_FEATURES), learns where real attacks and
their look-alikes differ for that rule alone, and its SHAP values name only what the rule measured.

Each model's margin is calibrated by Platt scaling fitted on out-of-fold margins (stratified k-fold), so a
0.9 is right about nine times in ten on data like the training data. Platt scaling is linear in log-odds,
so the calibrated SHAP values (slope x raw values) still add up, with the calibrated base value
(slope x base + intercept), to the score's logit. Features a rule declares MORE_IS_WORSE are monotone
constraints: more of that evidence never lowers the score, so an incident that grows keeps its rank.

A rule with too few rows of either kind gets a constant: the smoothed share of real attacks among its rows.

A pickle only loads into the scikit-learn version that wrote it, so when the running version differs (or the
pickle is not there, e.g. a wheel without it) the loader retrains from the shipped rows: single-threaded and
with a fixed random_state, so it gives the same bytes on every run with that version. The result is written
into `cache_dir` when one is given and reused from there, verified the same way.
"""

from __future__ import annotations

import hashlib
import io
import math
import pickle
import sys
from collections import defaultdict
from pathlib import Path

import msgspec
import numpy as np
import sklearn
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from threadpoolctl import threadpool_limits

from appliance.engine.scoring.features import LabelledRow, to_matrix

FORMAT = 2
MANIFEST_FILE = "manifest.json"
MODEL_FILE = "model.pkl"
ROWS_FILE = "training_rows.json"
EXPLANATION_SPACE = "log-odds"  # SHAP values and base_value add up to the logit of the score

# Small trees, many of them: a rule has a few hundred rows. No early stopping, so no random validation split;
# random_state fixes what randomness remains.
HYPERPARAMETERS = {
    "max_iter": 100,
    "learning_rate": 0.1,
    "max_leaf_nodes": 8,
    "min_samples_leaf": 5,
    "l2_regularization": 1.0,
    "early_stopping": False,
    "random_state": 0,
}
MIN_ROWS_PER_CLASS = 5  # fewer real attacks or look-alikes than this: the rule gets a constant score
CALIBRATION_FOLDS = 5


class ModelError(Exception):
    """The model cannot be used: missing, unreadable, or failing its integrity check."""


class TrainingSpec(msgspec.Struct, kw_only=True):
    scenarios: list[str]
    seeds: list[int]  # every scenario runs with each of these
    duration_s: float
    benign_seeds: list[int] = []  # extra benign-office runs: other offices, more look-alikes
    learning_s: float  # of the office's history before each scenario: the baseline's learning period


class RuleSummary(msgspec.Struct, kw_only=True):
    """What the manifest says of one rule's model, for an auditor and for the benchmark."""

    features: list[str]
    rows: int
    positives: int
    calibration_slope: float = 1.0
    calibration_intercept: float = 0.0
    constant_logit: float | None = None  # set when the rule has no model, only a constant


class Manifest(msgspec.Struct, kw_only=True):
    format: int = FORMAT
    model_version: str
    model_sha256: str
    rows_sha256: str
    rules: dict[str, RuleSummary]
    prior_logit: float  # for a rule the model has never seen
    sklearn_version: str
    hyperparameters: dict
    explanation_space: str = EXPLANATION_SPACE
    training: TrainingSpec | None = None
    feedback_verdicts: int = 0
    positives: int = 0
    negatives: int = 0


class RuleModel(msgspec.Struct, kw_only=True):
    """One rule's model: a classifier over `features` whose margin is calibrated as slope x margin + intercept,
    or, without a classifier, a constant logit."""

    features: list[str]
    classifier: object | None = None
    slope: float = 1.0
    intercept: float = 0.0
    constant_logit: float = 0.0


class Artefact(msgspec.Struct, kw_only=True):
    manifest: Manifest
    model_bytes: bytes
    rows_json: bytes

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / MODEL_FILE).write_bytes(self.model_bytes)
        (directory / ROWS_FILE).write_bytes(self.rows_json)
        (directory / MANIFEST_FILE).write_bytes(msgspec.json.format(msgspec.json.encode(self.manifest)) + b"\n")

    def rule_models(self) -> dict[str, RuleModel]:
        """The unpickled models; the bytes were checked against the manifest when the artefact was made or read."""
        stored = pickle.loads(self.model_bytes)
        return {rule: RuleModel(**fields) for rule, fields in stored["rules"].items()}

    def rows(self) -> list[LabelledRow]:
        return msgspec.json.decode(self.rows_json, type=list[LabelledRow])


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def smoothed_logit(positives: float, total: float) -> float:
    """The logit of the share of real attacks, smoothed (Laplace) so that a rule with few rows is not certain."""
    return _logit((positives + 1.0) / (total + 2.0))


def _fit_classifier(matrix: np.ndarray, labels: np.ndarray, weights: np.ndarray,
                    monotone: list[int]) -> HistGradientBoostingClassifier:
    model = HistGradientBoostingClassifier(**HYPERPARAMETERS, monotonic_cst=monotone if any(monotone) else None)
    with threadpool_limits(1):  # one thread: identical float sums, hence identical bytes, on any machine
        model.fit(matrix, labels, sample_weight=weights)
    return model


def _platt(matrix: np.ndarray, labels: np.ndarray, weights: np.ndarray, monotone: list[int]) -> tuple[float, float]:
    """Slope and intercept mapping a model's margin to calibrated log-odds, fitted on out-of-fold margins."""
    folds = min(CALIBRATION_FOLDS, int(np.bincount(labels).min()))
    if folds < 2:
        return 1.0, 0.0
    margins = np.zeros(len(labels))
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=0).split(matrix, labels):
        if len(set(labels[train].tolist())) < 2:
            return 1.0, 0.0
        fold_model = _fit_classifier(matrix[train], labels[train], weights[train], monotone)
        margins[test] = fold_model.decision_function(matrix[test])
    platt = LogisticRegression(C=1e4).fit(margins.reshape(-1, 1), labels, sample_weight=weights)
    slope, intercept = float(platt.coef_[0][0]), float(platt.intercept_[0])
    return (slope, intercept) if slope > 0 else (1.0, 0.0)


def monotone_features() -> dict[str, frozenset[str]]:
    """Per rule, the features it declares MORE_IS_WORSE (more of that evidence never lowers the score)."""
    from appliance.engine.rules import RULE_MODULES

    return {name: frozenset(getattr(module, "MORE_IS_WORSE", ())) for name, module in RULE_MODULES.items()}


def fit_rule(rows: list[LabelledRow], candidates: list[str], more_is_worse: frozenset[str]) -> RuleModel:
    """One rule's model from its rows, over the candidate features some row has a value for."""
    present = {name for row in rows for name in row.row.values}
    # interned: pickle shares equal strings by identity, so names read back from a manifest must be the same
    # objects as the rules' own for a rebuilt model to have the same bytes
    features = [sys.intern(name) for name in candidates if name in present]
    labels = np.array([row.label for row in rows])
    weights = np.array([row.weight for row in rows])
    counts = np.bincount(labels, minlength=2)
    if counts.min() < MIN_ROWS_PER_CLASS or not features:
        return RuleModel(features=features, constant_logit=smoothed_logit(weights[labels == 1].sum(), weights.sum()))
    matrix = to_matrix([row.row for row in rows], features)
    monotone = [1 if name in more_is_worse else 0 for name in features]
    slope, intercept = _platt(matrix, labels, weights, monotone)
    return RuleModel(features=features, classifier=_fit_classifier(matrix, labels, weights, monotone),
                     slope=slope, intercept=intercept)


def _pickle(models: dict[str, RuleModel]) -> bytes:
    buffer = io.BytesIO()
    pickle.dump({"format": FORMAT, "rules": {rule: msgspec.structs.asdict(m) for rule, m in models.items()}},
                buffer, protocol=5)
    return buffer.getvalue()


def build(rows: list[LabelledRow], rule_features: dict[str, list[str]], *, training: TrainingSpec | None = None,
          feedback_verdicts: int = 0) -> Artefact:
    """Train one model per rule on `rows` and describe the result. `rule_features` names each rule's candidate
    features. The version names what the models learned from (the rows), so the same seeds give the same
    version; the sha256 names the exact bytes."""
    if not rows or len({row.label for row in rows}) < 2:
        raise ModelError("training needs both real attacks and benign detections; the corpus has only one kind")
    by_rule: dict[str, list[LabelledRow]] = defaultdict(list)
    for row in rows:
        by_rule[row.row.rule_name].append(row)
    monotone = monotone_features()
    models = {
        rule: fit_rule(rule_rows, rule_features.get(rule, []), monotone.get(rule, frozenset()))
        for rule, rule_rows in sorted(by_rule.items())
    }
    rows_json = msgspec.json.encode(rows)
    model_bytes = _pickle(models)
    version = f"hgb-rules-{sha256(rows_json)[:12]}" + (f"-fb{feedback_verdicts}" if feedback_verdicts else "")
    positives = sum(row.label for row in rows)
    summaries = {
        rule: RuleSummary(
            features=model.features, rows=len(by_rule[rule]), positives=sum(r.label for r in by_rule[rule]),
            calibration_slope=model.slope, calibration_intercept=model.intercept,
            constant_logit=None if model.classifier is not None else model.constant_logit,
        )
        for rule, model in models.items()
    }
    weights = np.array([row.weight for row in rows])
    labels = np.array([row.label for row in rows])
    manifest = Manifest(
        model_version=version, model_sha256=sha256(model_bytes), rows_sha256=sha256(rows_json), rules=summaries,
        prior_logit=smoothed_logit(weights[labels == 1].sum(), weights.sum()), sklearn_version=sklearn.__version__,
        hyperparameters=HYPERPARAMETERS, training=training, feedback_verdicts=feedback_verdicts,
        positives=positives, negatives=len(rows) - positives,
    )
    return Artefact(manifest=manifest, model_bytes=model_bytes, rows_json=rows_json)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ModelError(f"cannot read {path}: {exc.strerror or exc}") from None


def read_manifest(directory: Path) -> Manifest:
    try:
        return msgspec.json.decode(_read(directory / MANIFEST_FILE), type=Manifest)
    except msgspec.DecodeError as exc:
        raise ModelError(
            f"{directory / MANIFEST_FILE} is not a valid model manifest (format {FORMAT}): {exc}"
        ) from None


def _verified(path: Path, expected: str) -> bytes:
    data = _read(path)
    actual = sha256(data)
    if actual != expected:
        raise ModelError(f"{path} fails its integrity check: sha256 {actual} but the manifest says {expected}; "
                         "refusing to load it")
    return data


def load(directory: Path, cache_dir: Path | None = None) -> Artefact:
    """The verified artefact in `directory`, retrained from its rows when this scikit-learn cannot use its
    pickle (see the module docstring)."""
    manifest = read_manifest(directory)
    if manifest.sklearn_version == sklearn.__version__ and (directory / MODEL_FILE).exists():
        return Artefact(manifest=manifest, model_bytes=_verified(directory / MODEL_FILE, manifest.model_sha256),
                        rows_json=_verified(directory / ROWS_FILE, manifest.rows_sha256))
    return _rebuilt(directory, manifest, cache_dir)


def _rebuilt(directory: Path, manifest: Manifest, cache_dir: Path | None) -> Artefact:
    rows_json = _verified(directory / ROWS_FILE, manifest.rows_sha256)
    cached = cache_dir / f"{manifest.rows_sha256[:16]}-sklearn-{sklearn.__version__}" if cache_dir else None
    if cached is not None and (cached / MANIFEST_FILE).exists():
        artefact = load(cached)
        if artefact.manifest.rows_sha256 == manifest.rows_sha256:
            return artefact
    rows = msgspec.json.decode(rows_json, type=list[LabelledRow])
    artefact = build(rows, {rule: summary.features for rule, summary in manifest.rules.items()},
                     training=manifest.training, feedback_verdicts=manifest.feedback_verdicts)
    if cached is not None:
        artefact.save(cached)
    return artefact
