"""The IP whitelist: known-benign hosts whose detections are suppressed (and still traced)."""
