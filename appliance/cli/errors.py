class CliError(Exception):
    """Shown to the user as one line on stderr, with a non-zero exit."""
