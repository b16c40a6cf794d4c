"""Traffic simulator: realistic office captures (pcap) with labelled attacks, and a replayer.

from appliance.simulate import SCENARIOS, write
write("mixed", Path("demo.pcap"), seed=7, duration=600)   # demo.pcap + demo.labels.json (+ indicators)
"""

from appliance.simulate.labels import Label, read_labels

__all__ = ["SCENARIOS", "Label", "generate", "read_labels", "write"]


def __getattr__(name: str):
    """The scenarios load with every protocol the simulator speaks (a third of a second): only when asked for,
    so `appliance simulate --help` and the other commands start without them."""
    if name in ("SCENARIOS", "generate", "write"):
        from appliance.simulate import scenarios

        return getattr(scenarios, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
