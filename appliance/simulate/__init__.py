"""Traffic simulator: realistic office captures (pcap) with labelled attacks, and a replayer.

from appliance.simulate import SCENARIOS, write
write("mixed", Path("demo.pcap"), seed=7, duration=600)   # demo.pcap + demo.labels.json (+ indicators)
"""

from appliance.simulate.labels import Label, read_labels
from appliance.simulate.scenarios import SCENARIOS, generate, write

__all__ = ["SCENARIOS", "Label", "generate", "read_labels", "write"]
