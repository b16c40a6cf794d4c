"""The shipped scoring model (manifest.json, model.pkl, training_rows.json), written by `appliance train-model`."""
