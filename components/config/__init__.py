"""The stack config: its model, the stack files, new clusters, and the README reference."""
