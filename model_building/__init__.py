"""What builds the box's scoring model, never installed on a box (model_building/pyproject.toml):

- `corpus`: the simulator's scenarios through the real sensor pipeline and rules, labelled by `ground_truth`;
- `training`: `appliance train-model` (the shipped model in appliance/engine/models) and retraining on
  analysts' verdicts;
- `demo_twin`: the demo's traffic offline, for its quality benchmark.

The box only loads and runs a model (appliance/engine/scoring).
"""
