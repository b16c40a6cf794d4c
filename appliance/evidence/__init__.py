"""Evidence an investigator and a regulator can use: the flow log (flow_log.py) and retention (retention.py)."""
