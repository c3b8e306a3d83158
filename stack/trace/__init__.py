"""Tracing: one record per callback run, cheap on the hot path."""

from stack.trace.records import CallbackRecord, Tracer

__all__ = ["CallbackRecord", "Tracer"]
