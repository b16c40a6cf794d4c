"""Evidence an investigator and a regulator can use: the flow log (and, later, packets per alert and retention)."""
