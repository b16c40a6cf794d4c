"""How likely a Detection is a real attack, and why: one calibrated gradient-boosted model per rule, over that
rule's own features, explained per alert with SHAP.

The score comes from the explanation itself: SHAP TreeExplainer gives, in log-odds, a base value and one
contribution per feature that add up exactly to the model's margin; the rule's Platt calibration (slope,
intercept) is linear in log-odds, so slope x each contribution and slope x base + intercept still add up,
and score = sigmoid(base + sum). The `shap` dict of every alert reproduces its score, and scoring costs one
tree walk, not two. A rule without a model (too few training rows of either kind) scores a constant, its
base value, with no feature contributions.

`Score.shap` = {"base_value": float, "features": {name: contribution}, "model_version": str,
"model_sha256": str, "space": "log-odds", "rule": str}; features whose contribution is exactly zero are
left out (they add nothing to the sum).
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

import msgspec
import numpy as np
import shap

from appliance.engine.detection import Detection
from appliance.engine.scoring import artefact as artefacts
from appliance.engine.scoring.artefact import Artefact, ModelError, RuleModel
from appliance.engine.scoring.features import FeatureRow, row_from_detection, to_matrix

SHIPPED_MODEL_DIR = Path(__file__).resolve().parents[1] / "models"

__all__ = ["SHIPPED_MODEL_DIR", "FeatureRow", "ModelError", "Score", "Scorer"]


class Score(msgspec.Struct):
    score: float  # in [0, 1]: probability that the detection is a real attack
    shap: dict  # {"base_value", "features", "model_version", "model_sha256", "space"}


def _sigmoid(margin: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-margin))


class _RuleScorer:
    """One rule's calibrated model and its SHAP explainer."""

    def __init__(self, model: RuleModel):
        self.features = model.features
        self.slope, self.intercept = model.slope, model.intercept
        if model.classifier is None:
            self._explainer = None
            self.base_value = model.constant_logit
        else:
            self._explainer = shap.TreeExplainer(model.classifier)
            self.base_value = self.slope * float(np.ravel(self._explainer.expected_value)[0]) + self.intercept

    def explain(self, rows: list[FeatureRow]) -> np.ndarray:
        """Calibrated SHAP contributions, one row per FeatureRow, one column per feature."""
        if self._explainer is None:
            return np.zeros((len(rows), len(self.features)))
        contributions = np.asarray(self._explainer.shap_values(to_matrix(rows, self.features)))
        return self.slope * contributions.reshape(len(rows), len(self.features))


class Scorer:
    def __init__(self, artefact: Artefact):
        self.artefact = artefact
        self.model_version = artefact.manifest.model_version
        self.model_sha256 = artefact.manifest.model_sha256
        self.rules = {rule: _RuleScorer(model) for rule, model in artefact.rule_models().items()}
        self._unknown = _RuleScorer(RuleModel(features=[], constant_logit=artefact.manifest.prior_logit))

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
        by_rule: dict[str, list[int]] = defaultdict(list)
        for index, row in enumerate(rows):
            by_rule[row.rule_name].append(index)
        scores: list[Score | None] = [None] * len(rows)
        for rule, indices in by_rule.items():
            scorer = self.rules.get(rule, self._unknown)
            contributions = scorer.explain([rows[i] for i in indices])
            margins = scorer.base_value + contributions.sum(axis=1)
            for i, margin, row in zip(indices, margins, contributions, strict=True):
                scores[i] = self._explained(rule, scorer, float(_sigmoid(margin)), row)
        return scores

    def _explained(self, rule: str, scorer: _RuleScorer, score: float, contributions: np.ndarray) -> Score:
        features = {
            name: float(value) for name, value in zip(scorer.features, contributions, strict=True) if value != 0.0
        }
        return Score(
            score=min(1.0, max(0.0, score)) if math.isfinite(score) else 0.0,
            shap={
                "base_value": scorer.base_value,
                "features": features,
                "model_version": self.model_version,
                "model_sha256": self.model_sha256,
                "space": artefacts.EXPLANATION_SPACE,
                "rule": rule,
            },
        )
