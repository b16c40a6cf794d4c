"""The `appliance` command: one module per group of subcommands, each with `register(subparsers)`."""
