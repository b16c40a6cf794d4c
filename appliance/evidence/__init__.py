"""Evidence an investigator and a regulator can use: the flow log (flow_log.py), the packets of an alert's flows
(packets.py, over the sensors' rings of sensor/packets), retention by age and disk share (retention.py) and
legal holds (legal_hold.py)."""
