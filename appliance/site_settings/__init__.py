"""The site and per-rule settings an admin changes in the UI, the API or the CLI; the engine follows them."""
