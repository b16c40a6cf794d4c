"""Application protocols as their bytes on the wire, so real decoders (the sensor, Wireshark, scapy) parse them."""
