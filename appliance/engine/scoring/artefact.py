"""The model on disk: a pickled HistGradientBoostingClassifier, the rows it was trained on, and a manifest.

    DIR/manifest.json        model version, sha256 of both files, feature names, training seeds, sklearn version
    DIR/model.pkl            the classifier, unpickled only after its sha256 matched the manifest
    DIR/training_rows.json   the labelled rows (plain JSON, never unpickled), verified by sha256 as well

A pickle only loads into the scikit-learn version that wrote it, so when the running version differs (or the
pickle is not there, e.g. a wheel without it) the loader retrains from the shipped rows: single-threaded and
with a fixed random_state, so it costs about a second and gives the same bytes on every run with that
version. The result is written into `cache_dir` when one is given and reused from there, verified the same way.
"""

from __future__ import annotations

import hashlib
import io
import pickle
from pathlib import Path

import msgspec
import numpy as np
import sklearn
from sklearn.ensemble import HistGradientBoostingClassifier
from threadpoolctl import threadpool_limits

from appliance.engine.scoring.features import RULE_PREFIX, LabelledRow, to_matrix

MANIFEST_FILE = "manifest.json"
MODEL_FILE = "model.pkl"
ROWS_FILE = "training_rows.json"
EXPLANATION_SPACE = "log-odds"  # SHAP values and base_value add up to the logit of the score

# Small trees, many of them: the corpus is a few thousand rows. No early stopping, so no random validation
# split; random_state fixes what randomness remains.
HYPERPARAMETERS = {
    "max_iter": 150,
    "learning_rate": 0.1,
    "max_leaf_nodes": 15,
    "min_samples_leaf": 5,
    "l2_regularization": 1.0,
    "early_stopping": False,
    "random_state": 0,
}


class ModelError(Exception):
    """The model cannot be used: missing, unreadable, or failing its integrity check."""


class TrainingSpec(msgspec.Struct, kw_only=True):
    scenarios: list[str]
    seeds: list[int]  # every scenario runs with each of these
    duration_s: float
    benign_seeds: list[int] = []  # extra benign-office runs: other offices, more look-alikes
    learning_s: float  # of the office's history before each scenario: the baseline's learning period


class Manifest(msgspec.Struct, kw_only=True):
    format: int = 1
    model_version: str
    model_sha256: str
    rows_sha256: str
    feature_names: list[str]
    sklearn_version: str
    hyperparameters: dict
    explanation_space: str = EXPLANATION_SPACE
    training: TrainingSpec | None = None
    feedback_verdicts: int = 0
    positives: int = 0
    negatives: int = 0


class Artefact(msgspec.Struct, kw_only=True):
    manifest: Manifest
    model_bytes: bytes
    rows_json: bytes

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / MODEL_FILE).write_bytes(self.model_bytes)
        (directory / ROWS_FILE).write_bytes(self.rows_json)
        (directory / MANIFEST_FILE).write_bytes(msgspec.json.format(msgspec.json.encode(self.manifest)) + b"\n")

    def classifier(self) -> HistGradientBoostingClassifier:
        """The unpickled model; the bytes were checked against the manifest when the artefact was made or read."""
        return pickle.loads(self.model_bytes)

    def rows(self) -> list[LabelledRow]:
        return msgspec.json.decode(self.rows_json, type=list[LabelledRow])


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def observed_features(rows: list[LabelledRow], candidates: list[str]) -> list[str]:
    """The candidate features that have a value in at least one row: a feature no row has cannot teach the
    model anything (and an all-missing column trips scikit-learn's binning)."""
    present = {name for row in rows for name in row.row.values}
    return [name for name in candidates if name in present or name.startswith(RULE_PREFIX)]


def fit(rows: list[LabelledRow], feature_names: list[str]) -> HistGradientBoostingClassifier:
    labels = np.array([row.label for row in rows])
    if len(set(labels.tolist())) < 2:
        raise ModelError("training needs both real attacks and benign detections; the corpus has only one kind")
    matrix = to_matrix([row.row for row in rows], feature_names)
    model = HistGradientBoostingClassifier(**HYPERPARAMETERS)
    with threadpool_limits(1):  # one thread: identical float sums, hence identical bytes, on any machine
        model.fit(matrix, labels, sample_weight=np.array([row.weight for row in rows]))
    return model


def _pickle(model: HistGradientBoostingClassifier) -> bytes:
    buffer = io.BytesIO()
    pickle.dump(model, buffer, protocol=5)
    return buffer.getvalue()


def build(rows: list[LabelledRow], feature_names: list[str], *, training: TrainingSpec | None = None,
          feedback_verdicts: int = 0) -> Artefact:
    """Train on `rows` and describe the result. The version names what the model learned from (the rows),
    so the same seeds give the same version; the sha256 names the exact bytes."""
    rows_json = msgspec.json.encode(rows)
    feature_names = observed_features(rows, feature_names)
    model_bytes = _pickle(fit(rows, feature_names))
    version = f"hgb-{sha256(rows_json)[:12]}" + (f"-fb{feedback_verdicts}" if feedback_verdicts else "")
    positives = sum(row.label for row in rows)
    manifest = Manifest(
        model_version=version, model_sha256=sha256(model_bytes), rows_sha256=sha256(rows_json),
        feature_names=list(feature_names), sklearn_version=sklearn.__version__, hyperparameters=HYPERPARAMETERS,
        training=training, feedback_verdicts=feedback_verdicts, positives=positives, negatives=len(rows) - positives,
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
        raise ModelError(f"{directory / MANIFEST_FILE} is not a valid model manifest: {exc}") from None


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
    artefact = build(rows, manifest.feature_names, training=manifest.training,
                     feedback_verdicts=manifest.feedback_verdicts)
    if cached is not None:
        artefact.save(cached)
    return artefact
