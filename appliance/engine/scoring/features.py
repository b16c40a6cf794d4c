"""Each rule's model input space, and one Detection turned into one row of it.

A rule's columns are its own FEATURES, then a few columns every Detection has (GENERIC_FEATURES). A feature a
Detection does not report is missing (NaN); HistGradientBoosting learns where missing values go.

A `FeatureRow` is what the model needs from an alert and nothing else, so analyst verdicts and the training
corpus are stored as rows, not as Detections.
"""

from __future__ import annotations

import ipaddress
import math

import msgspec
import numpy as np

from appliance.engine.detection import Detection

INFINITY_STAND_IN = 1e18

# Present on every Detection whatever the rule: how long the incident lasted, how much traffic backs it,
# and whether it is about one target or many and about private or public addresses.
GENERIC_FEATURES = (
    "incident_duration_s",
    "evidence_flows",
    "single_target",
    "single_port",
    "source_private",
    "dest_private",
)


class UnknownFeature(ValueError):
    """A row carries a feature the model has no column for."""


class FeatureRow(msgspec.Struct, kw_only=True, array_like=True):
    rule_name: str
    values: dict[str, float]  # feature name -> finite value; a name absent here is missing (NaN) for the model


class LabelledRow(msgspec.Struct, kw_only=True, array_like=True):
    """A training row: the detection's features and whether it was a real attack."""

    row: FeatureRow
    label: int  # 1 = real attack
    weight: float = 1.0
    origin: str = ""  # "scenario:seed:mode" for the simulator's, "verdict" for an analyst's


def rule_feature_names() -> dict[str, list[str]]:
    """Per rule, the features of its model as the rules are in this code base (a trained model keeps its own)."""
    from appliance.engine.rules import RULE_MODULES

    return {
        name: [feature for feature in module.FEATURES if feature not in GENERIC_FEATURES] + list(GENERIC_FEATURES)
        for name, module in RULE_MODULES.items()
    }


def _is_private(ip: str) -> float:
    if not ip:
        return math.nan
    try:
        return float(ipaddress.ip_address(ip.split("%", 1)[0]).is_private)
    except ValueError:
        return math.nan


def row_from_detection(detection: Detection) -> FeatureRow:
    generic = {
        "incident_duration_s": max(0.0, detection.last_seen - detection.first_seen),
        "evidence_flows": float(len(detection.evidence_flow_uids)),
        "single_target": float(bool(detection.dest_ip)),
        "single_port": float(detection.port != 0),
        "source_private": _is_private(detection.source_ip),
        "dest_private": _is_private(detection.dest_ip),
    }
    values = {name: _finite(value) for name, value in {**detection.features, **generic}.items()}
    return FeatureRow(rule_name=detection.rule_name, values={k: v for k, v in values.items() if not math.isnan(v)})


def _finite(value: float) -> float:
    """A rule may report an unbounded ratio (upload over zero download) as inf: the model and JSON need a
    number, and any value this large lands in the same histogram bin anyway."""
    value = float(value)
    return value if math.isnan(value) else max(-INFINITY_STAND_IN, min(INFINITY_STAND_IN, value))


def to_matrix(rows: list[FeatureRow], feature_names: list[str]) -> np.ndarray:
    """Rows as a float64 matrix over `feature_names`, absent ones NaN. A name the model does not know is an
    error, not a dropped column: a rule measuring something its model was never trained on needs a new model."""
    column = {name: index for index, name in enumerate(feature_names)}
    matrix = np.full((len(rows), len(feature_names)), np.nan)
    for i, row in enumerate(rows):
        for name, value in row.values.items():
            j = column.get(name)
            if j is None:
                raise UnknownFeature(
                    f"{row.rule_name}: feature {name!r} is not one of the model's ({', '.join(feature_names)}); "
                    "retrain the model (appliance train-model)"
                )
            matrix[i, j] = value
    return matrix
