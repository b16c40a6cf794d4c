"""How long a simulated capture may last and when it may start: what `appliance simulate` checks its options
against before it loads the simulator."""

DEFAULT_DURATION = 600.0
MIN_DURATION = 20.0
MAX_DURATION = 2 * 3600.0  # the whole capture is built in memory: about 0.6 GB per mixed hour
LATEST_START = 2**32 - 1 - MAX_DURATION  # classic pcap stores seconds as an unsigned 32-bit number
