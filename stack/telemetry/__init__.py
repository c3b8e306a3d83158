"""Jetson telemetry of a live run: tegrastats lines and the power/clock state, in the run
directory (``telemetry/``), read back by ``l4 report``."""

from stack.telemetry.tegrastats import TegraSample, TelemetryError, parse_line

__all__ = ["TegraSample", "TelemetryError", "parse_line"]
