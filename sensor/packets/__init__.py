"""The packet store: the most recent packets a sensor saw, kept as sealed pcap segments in a bounded ring."""
