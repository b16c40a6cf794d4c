"""How likely a Detection is a real attack, and why: one gradient-boosted model over every rule's features,
explained per alert with SHAP.

The score comes from the explanation itself: SHAP TreeExplainer gives, in log-odds, a base value and one
contribution per feature that add up exactly to the model's margin, and score = sigmoid(base + sum). So the
`shap` dict of every alert reproduces its score, and scoring costs one tree walk, not two.

`Score.shap` = {"base_value": float, "features": {name: contribution}, "model_version": str,
"model_sha256": str, "space": "log-odds"}; features whose contribution is exactly zero are left out (they
add nothing to the sum). Rule indicator features are named "rule=PORT_SCAN" and so on.
"""

from __future__ import annotations

import math
from pathlib import Path

import msgspec
import numpy as np
import shap

from appliance.engine.detection import Detection
from appliance.engine.scoring import artefact as artefacts
from appliance.engine.scoring.artefact import Artefact, ModelError
from appliance.engine.scoring.features import FeatureRow, row_from_detection, to_matrix

SHIPPED_MODEL_DIR = Path(__file__).resolve().parents[1] / "models"

__all__ = ["SHIPPED_MODEL_DIR", "FeatureRow", "ModelError", "Score", "Scorer"]


class Score(msgspec.Struct):
    score: float  # in [0, 1]: probability that the detection is a real attack
    shap: dict  # {"base_value", "features", "model_version", "model_sha256", "space"}


def _sigmoid(margin: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-margin))


class Scorer:
    def __init__(self, artefact: Artefact):
        self.artefact = artefact
        self.model_version = artefact.manifest.model_version
        self.model_sha256 = artefact.manifest.model_sha256
        self.feature_names = list(artefact.manifest.feature_names)
        self.model = artefact.classifier()
        self._explainer = shap.TreeExplainer(self.model)
        self.base_value = float(np.ravel(self._explainer.expected_value)[0])

    @classmethod
    def load(cls, path: str | Path | None = None, cache_dir: str | Path | None = None) -> Scorer:
        """The model in directory `path` (default: the shipped one), its sha256 verified before unpickling.
        When this scikit-learn cannot read its pickle, it is retrained from the shipped rows, into
        `cache_dir` (e.g. the data dir) when given. Raises ModelError with the reason."""
        directory = Path(path) if path is not None else SHIPPED_MODEL_DIR
        if directory.name == artefacts.MANIFEST_FILE:
            directory = directory.parent
        return cls(artefacts.load(directory, Path(cache_dir) if cache_dir is not None else None))

    def score(self, detection: Detection) -> Score:
        return self.score_rows([row_from_detection(detection)])[0]

    def score_many(self, detections) -> list[Score]:
        return self.score_rows([row_from_detection(detection) for detection in detections])

    def score_rows(self, rows: list[FeatureRow]) -> list[Score]:
        if not rows:
            return []
        contributions = np.asarray(self._explainer.shap_values(to_matrix(rows, self.feature_names)))
        contributions = contributions.reshape(len(rows), len(self.feature_names))
        scores = _sigmoid(self.base_value + contributions.sum(axis=1))
        return [self._explained(float(score), row) for score, row in zip(scores, contributions, strict=True)]

    def _explained(self, score: float, contributions: np.ndarray) -> Score:
        features = {
            name: float(value) for name, value in zip(self.feature_names, contributions, strict=True) if value != 0.0
        }
        return Score(
            score=min(1.0, max(0.0, score)) if math.isfinite(score) else 0.0,
            shap={
                "base_value": self.base_value,
                "features": features,
                "model_version": self.model_version,
                "model_sha256": self.model_sha256,
                "space": artefacts.EXPLANATION_SPACE,
            },
        )
