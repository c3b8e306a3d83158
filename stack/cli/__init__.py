"""The `l4` command line."""
