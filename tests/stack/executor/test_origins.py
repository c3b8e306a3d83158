"""Lineage origins are Origin NamedTuples: made where a chain starts, carried unchanged, read by
name, and written to and read back from the trace file."""

from __future__ import annotations

from pathlib import Path

from stack.graph import parse_graph
from stack.trace import chain_samples, read_trace
from stack.trace.records import Origin, Tracer
from stack.trace.rundir import write_trace
from tests.stack.executor.test_runtime import REC, header, runtime

CHAIN = f"""
nodes:
  first: {{class: "{REC}", params: {{input: /in, output: /mid}}}}
  second: {{class: "{REC}", params: {{input: /mid, output: /out}}}}
chains:
  c: {{path: [/in, /mid, /out], budget_ms: 100}}
"""


def _run(stamps: list[int]) -> tuple[object, Tracer]:
    tracer = Tracer()
    rt = runtime(CHAIN, tracer=tracer)
    for stamp in stamps:
        rt.inject("/in", header(f"s{stamp}", stamp))
        rt.run_until_idle()
    return rt, tracer


def test_outputs_carry_the_origin_of_the_chain_start():
    rt, tracer = _run([7_000, 9_000])
    outputs = [o for r in tracer.records for o in r[7]]
    assert [topic for topic, _, _ in outputs] == ["/mid", "/out", "/mid", "/out"]
    origins = [o[2]["/in"] for o in outputs]
    assert all(type(o) is Origin for o in origins)
    assert [o.stamp_ns for o in origins] == [7_000, 7_000, 9_000, 9_000]
    # both hops of one input share its one origin, published before either output
    assert origins[0] is origins[1] and origins[2] is origins[3]
    assert all(o.publish_ns < pub for (_, pub, _), o in zip(outputs, origins))
    ends = [pub - o.publish_ns for (topic, pub, _), o in zip(outputs, origins) if topic == "/out"]
    assert [lat for _, lat in rt.chain_latencies["c"]] == ends


def test_origins_survive_the_trace_file(tmp_path: Path):
    rt, tracer = _run([7_000])
    write_trace(tmp_path / "trace.l4t", list(tracer.records))
    records = read_trace(tmp_path / "trace.l4t").records
    origin = records[-1][7][0][2]["/in"]
    assert type(origin) is Origin and origin.stamp_ns == 7_000
    samples = chain_samples(records, parse_graph(_launch(), "t.yaml").chains)["c"]
    assert samples.stamp_ns.tolist() == [7_000]
    assert samples.latency_ns.tolist() == [lat for _, lat in rt.chain_latencies["c"]]


def test_traces_written_before_origins_had_names_still_read():
    """Older traces hold (stamp_ns, publish_ns) pairs: lineage reads them the same."""
    records = [("n", "sub:/mid", "t", 0, 0, 10, (), (("/out", 50, {"/in": (3, 20)}),), "", ())]
    samples = chain_samples(records, parse_graph(_launch(), "t.yaml").chains)["c"]
    assert samples.stamp_ns.tolist() == [3] and samples.latency_ns.tolist() == [30]


def _launch() -> str:
    return "allow_external_modules: true\n" + CHAIN
