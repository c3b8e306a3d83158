"""Generic nodes: synthetic sources, pass-through and work nodes, sinks (demos, tests, benches)."""
