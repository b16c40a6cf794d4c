"""Live packet capture: `live.LiveCapture` reads a network interface through a TPACKET_V3 ring, `bpf` compiles
the kernel-side filters it can attach. Import `sensor.capture.live` lazily: it is Linux-only."""
