"""Tracing: one record per callback run, cheap on the hot path, flushed by a background writer.

tracer = TraceWriter(run_dir)            # before building the Runtime
runtime = Runtime(graph, clock, tracer=tracer)
...                                      # run; Runtime.shutdown() closes the tracer
write_run_dir(run_dir, graph, runtime, mode="replay")
run = RunDir(run_dir)                    # read back: run.trace.records, run.chains, ...
"""

from stack.events import EventKind
from stack.trace.errors import TraceError
from stack.trace.fileformat import TraceFile, read_trace
from stack.trace.lineage import ChainSamples, chain_samples
from stack.trace.records import CallbackRecord, Tracer
from stack.trace.rundir import RunDir, write_run_dir
from stack.trace.writer import TraceWriter

__all__ = [
    "CallbackRecord",
    "ChainSamples",
    "EventKind",
    "RunDir",
    "TraceError",
    "TraceFile",
    "TraceWriter",
    "Tracer",
    "chain_samples",
    "read_trace",
    "write_run_dir",
]
