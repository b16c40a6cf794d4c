"""The scorer's contract with the engine: a score in [0, 1] per Detection, an explanation that adds up to it,
the model's identity on every score, and a model file that is verified before it is unpickled."""

from __future__ import annotations

import math
import pickle
import shutil

import msgspec
import numpy as np
import pytest

from appliance.engine.scoring import Score, Scorer
from appliance.engine.scoring.artefact import MANIFEST_FILE, MODEL_FILE, ROWS_FILE, ModelError, read_manifest
from appliance.engine.scoring.features import GENERIC_FEATURES, row_from_detection, to_matrix
from model_building.ground_truth import is_attack


def _all_detections(outcome):
    return [d for detections in outcome.detections.values() for d in detections]


def _calibrated_probability(scorer, detection) -> float:
    """What the rule's own classifier says, through its Platt calibration, computed without SHAP."""
    model = scorer.artefact.rule_models()[detection.rule_name]
    if model.classifier is None:
        return 1 / (1 + math.exp(-model.constant_logit))
    margin = model.classifier.decision_function(to_matrix([row_from_detection(detection)], model.features))[0]
    return 1 / (1 + math.exp(-(model.slope * margin + model.intercept)))


def test_score_and_explanation_add_up_to_the_model_output(small_scorer, unseen_outcome):
    detections = _all_detections(unseen_outcome)
    scores = small_scorer.score_many(detections)
    assert {d.rule_name for d in detections} >= {"PORT_SCAN"}
    for detection, score in zip(detections, scores, strict=True):
        assert isinstance(score, Score) and 0.0 <= score.score <= 1.0
        assert score.shap["space"] == "log-odds" and score.shap["rule"] == detection.rule_name
        margin = score.shap["base_value"] + sum(score.shap["features"].values())
        assert 1 / (1 + math.exp(-margin)) == pytest.approx(score.score, abs=1e-9)
        assert score.score == pytest.approx(_calibrated_probability(small_scorer, detection), abs=1e-9)


def test_each_rule_is_explained_by_its_own_features_only(small_scorer, unseen_outcome):
    """A port scan's score is never explained by a feature the port-scan rule does not measure."""
    manifest = small_scorer.artefact.manifest
    for detection, score in zip(_all_detections(unseen_outcome), small_scorer.score_many(_all_detections(
            unseen_outcome)), strict=True):
        assert set(score.shap["features"]) <= set(manifest.rules[detection.rule_name].features)
        assert set(manifest.rules[detection.rule_name].features) <= set(detection.features) | set(GENERIC_FEATURES)


def test_a_rule_the_model_never_saw_scores_the_prior(small_scorer, unseen_outcome):
    detection = msgspec.structs.replace(unseen_outcome.detections["default"][0], rule_name="NOT_A_RULE")
    score = small_scorer.score(detection)
    assert score.shap["features"] == {}
    assert score.shap["base_value"] == small_scorer.artefact.manifest.prior_logit


def test_every_score_names_the_model(small_scorer, small_model_dir, unseen_outcome):
    manifest = read_manifest(small_model_dir)
    detection = unseen_outcome.detections["default"][0]
    score = small_scorer.score(detection)
    assert score.shap["model_version"] == manifest.model_version == small_scorer.model_version
    assert score.shap["model_sha256"] == manifest.model_sha256 == small_scorer.model_sha256
    assert set(score.shap["features"]) <= set(manifest.rules[detection.rule_name].features)
    assert msgspec.json.decode(msgspec.json.encode(score), type=Score) == score  # storable as shap_json
    assert small_scorer.score_many([]) == []
    assert [s.score for s in small_scorer.score_many([detection, detection])] == [score.score, score.score]


def test_real_attacks_outscore_the_look_alikes_on_unseen_traffic(small_scorer, unseen_outcome):
    """Seed 31 was not trained on: sensitive-threshold detections of ordinary hosts score below the scans."""
    detections = _all_detections(unseen_outcome)
    attack = [small_scorer.score(d).score for d in detections if is_attack(d, unseen_outcome.labels)]
    benign = [small_scorer.score(d).score for d in detections if not is_attack(d, unseen_outcome.labels)]
    assert attack and benign
    assert np.median(attack) > 0.5 > np.median(benign)


class _WritesAFileWhenUnpickled:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_a_tampered_model_is_refused_before_unpickling(small_model_dir, tmp_path):
    copy = tmp_path / "model"
    shutil.copytree(small_model_dir, copy)
    marker = tmp_path / "unpickled"
    (copy / MODEL_FILE).write_bytes(pickle.dumps(_WritesAFileWhenUnpickled(marker)))
    with pytest.raises(ModelError, match="integrity check"):
        Scorer.load(copy)
    assert not marker.exists()


def test_tampered_training_rows_are_refused(small_model_dir, tmp_path):
    copy = tmp_path / "model"
    shutil.copytree(small_model_dir, copy)
    rows = (copy / ROWS_FILE).read_bytes()
    relabelled = rows.replace(b"}],1,1.0,", b"}],0,1.0,", 1)  # one real attack turned benign
    assert relabelled != rows
    (copy / ROWS_FILE).write_bytes(relabelled)
    with pytest.raises(ModelError, match=r"training_rows\.json fails its integrity check"):
        Scorer.load(copy)


def test_missing_or_broken_model_directory_is_a_clear_error(tmp_path):
    with pytest.raises(ModelError, match="cannot read"):
        Scorer.load(tmp_path / "nowhere")
    (tmp_path / MANIFEST_FILE).write_text("{not json")
    with pytest.raises(ModelError, match="not a valid model manifest"):
        Scorer.load(tmp_path)


def test_other_sklearn_version_retrains_the_same_model_into_the_cache(small_model_dir, tmp_path):
    """A pickle from another scikit-learn is never unpickled: the model is rebuilt from the verified rows,
    deterministically (same bytes as the original under this version), and reused from the cache."""
    copy, cache = tmp_path / "model", tmp_path / "cache"
    shutil.copytree(small_model_dir, copy)
    manifest = read_manifest(copy)
    (copy / MANIFEST_FILE).write_bytes(msgspec.json.encode(msgspec.structs.replace(manifest, sklearn_version="0.0.1")))
    marker = tmp_path / "unpickled"
    (copy / MODEL_FILE).write_bytes(pickle.dumps(_WritesAFileWhenUnpickled(marker)))  # must not even be read

    rebuilt = Scorer.load(copy, cache_dir=cache)
    assert not marker.exists()
    assert rebuilt.model_sha256 == manifest.model_sha256
    assert rebuilt.model_version == manifest.model_version
    (cached,) = cache.iterdir()
    assert read_manifest(cached).model_sha256 == manifest.model_sha256

    (cached / MODEL_FILE).write_bytes(b"tampered")  # the cached copy is verified like any other
    with pytest.raises(ModelError, match="integrity check"):
        Scorer.load(copy, cache_dir=cache)


def test_a_model_directory_without_the_pickle_still_loads(small_model_dir, tmp_path):
    copy = tmp_path / "model"
    shutil.copytree(small_model_dir, copy)
    (copy / MODEL_FILE).unlink()
    assert Scorer.load(copy / MANIFEST_FILE).model_sha256 == read_manifest(small_model_dir).model_sha256
