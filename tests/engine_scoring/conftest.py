"""One small model per test session, trained through the real `appliance train-model` entry point on real
simulator captures (two attack scenarios and a benign office, one seed, two minutes each, after five minutes
of the office's ordinary history)."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.engine.scoring import Scorer
from model_building.corpus import run_scenario
from model_building.training import train_main

SMALL_TRAINING = ["--scenario", "lateral-movement", "--scenario", "port-scan", "--seeds", "11",
                  "--benign-seeds", "21", "--duration", "120", "--learning", "300", "--workers", "1"]


@pytest.fixture(scope="session")
def small_model_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("small-model")
    assert train_main([*SMALL_TRAINING, "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="session")
def small_scorer(small_model_dir) -> Scorer:
    return Scorer.load(small_model_dir)


@pytest.fixture(scope="session")
def unseen_outcome():
    """Detections and labels of a port scan the small model was not trained on (another seed)."""
    return run_scenario("port-scan", 31, 120.0, modes=("default", "sensitive"), learning_s=300.0)
