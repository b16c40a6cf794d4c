"""Decision traces: every decision the engine takes, in a hash chain with Ed25519-signed checkpoints."""
