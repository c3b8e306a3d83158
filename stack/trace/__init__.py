"""Tracing: one record per callback run, cheap on the hot path, flushed by a background writer.

tracer = trace_writer(run_dir, graph, "replay")  # a TraceWriter, the run's facts in its header
runtime = Runtime(graph, clock, tracer=tracer)
...                                      # run; Runtime.shutdown() closes the tracer
write_run_dir(run_dir, graph, runtime, mode="replay")  # interrupted="SIGINT" if a signal stopped it
run = RunDir(run_dir)                    # read back: run.trace.records, run.chains, ...
                                         # (from the trace alone if run.json is missing)
"""

from stack.events import EventKind
from stack.trace.errors import TraceError
from stack.trace.fileformat import TraceFile, read_trace
from stack.trace.lineage import ChainSamples, chain_samples
from stack.trace.records import CallbackRecord, Tracer
from stack.trace.rundir import RunDir, trace_writer, write_run_dir
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
    "trace_writer",
    "write_run_dir",
]
