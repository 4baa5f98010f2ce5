"""Library-level implementations of the CLI commands (the CLI only parses and prints)."""
