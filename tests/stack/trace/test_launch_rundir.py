"""`l4 launch --run-dir` on real threads writes a run directory that `l4 report` reads."""

from __future__ import annotations

from stack.cli.main import main
from stack.trace import RunDir

LAUNCH = """
name: threaded
executors:
  sensing: {threads: 1}
  processing: {threads: 1}
nodes:
  camera:
    class: stack.nodes.synthetic:SyntheticCamera
    executor: sensing
    params: {topic: /cam, rate_hz: 50.0, width: 8, height: 8}
  work:
    class: stack.nodes.synthetic:Work
    executor: processing
    params: {input: /cam, output: /objects, work_ms: 1.0}
chains:
  cam_to_objects: {path: [/cam, /objects], budget_ms: 500}
"""


def test_threaded_launch_writes_a_reportable_run_dir(write_launch, tmp_path):
    run_dir = tmp_path / "run"
    assert (
        main(["launch", str(write_launch(LAUNCH)), "--duration", "0.4", "--run-dir", str(run_dir)])
        == 0
    )
    run = RunDir(run_dir)
    assert run.mode == "launch" and run.meta["trace"]["lost"] == 0
    recs = run.trace.records
    threads = {(r[0], r[2]) for r in recs}
    assert ("camera", "sensing-0") in threads and ("work", "processing-0") in threads
    work = [r for r in recs if r[0] == "work"]
    assert work and all(r[5] - r[4] >= 1_000_000 for r in work)
    assert all(isinstance(r[3], int) for r in recs)
    assert main(["report", str(run_dir), "--quiet"]) == 0


def test_launch_without_run_dir_does_not_trace(write_launch, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["launch", str(write_launch(LAUNCH)), "--duration", "0.2"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["launch.yaml"]
