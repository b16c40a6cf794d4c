"""The shipped model is the model of the rules in this code base: a rule that measures something new, or a new
rule, fails here until the model is retrained (`appliance train-model`), instead of being scored without its
own features."""

from __future__ import annotations

from collections import defaultdict

import msgspec
import numpy as np
import pytest

from appliance.engine.scoring import SHIPPED_MODEL_DIR
from appliance.engine.scoring.artefact import ROWS_FILE, read_manifest
from appliance.engine.scoring.features import (
    GENERIC_FEATURES,
    FeatureRow,
    LabelledRow,
    UnknownFeature,
    rule_feature_names,
    to_matrix,
)


def _features_in_training_rows() -> dict[str, set[str]]:
    rows = msgspec.json.decode((SHIPPED_MODEL_DIR / ROWS_FILE).read_bytes(), type=list[LabelledRow])
    carried: dict[str, set[str]] = defaultdict(set)
    for labelled in rows:
        carried[labelled.row.rule_name] |= set(labelled.row.values)
    return carried


def test_the_shipped_model_has_each_rules_declared_features():
    """One model per rule, over the features the rule declares, in its order. A generic feature may be left
    out only where no training row of the rule ever had it (NEW_DEVICE never names a destination, so it has no
    dest_private); a rule's own features never are."""
    manifest = read_manifest(SHIPPED_MODEL_DIR)
    declared = rule_feature_names()
    carried = _features_in_training_rows()
    assert sorted(manifest.rules) == sorted(declared)
    for rule, features in declared.items():
        model = manifest.rules[rule].features
        assert carried[rule] <= set(features), rule
        assert model == [name for name in features if name in carried[rule]], rule
        assert set(features) - set(GENERIC_FEATURES) <= set(model), rule


def test_a_feature_the_model_does_not_know_is_an_error_not_a_dropped_column():
    row = FeatureRow(rule_name="PORT_SCAN", values={"distinct_ports": 20.0, "made_up_feature": 1.0})
    with pytest.raises(UnknownFeature, match=r"PORT_SCAN: feature 'made_up_feature'.*retrain"):
        to_matrix([row], ["distinct_ports", "probes"])
    matrix = to_matrix([FeatureRow(rule_name="PORT_SCAN", values={"probes": 3.0})], ["distinct_ports", "probes"])
    assert matrix.shape == (1, 2) and matrix[0, 1] == 3.0 and np.isnan(matrix[0, 0])
