"""`l4 launch --telemetry` on a "Jetson" (stand-in tegrastats, nvpmodel and jetson_clocks
printing recorded output) and `l4 report` showing GPU load, temperatures and power."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from stack.cli.main import main
from tests.stack.telemetry import samples

ROOT = Path(__file__).resolve().parents[3]


def _script(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


@pytest.fixture
def jetson_tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    lines = "\n".join([samples.XAVIER_JP5, samples.XAVIER_JP4])
    _script(bin_dir, "tegrastats", f"while true; do printf '%s\\n' '{lines}'; sleep 0.1; done\n")
    _script(bin_dir, "nvpmodel", f"printf '{samples.NVPMODEL_Q}'\n")
    _script(bin_dir, "jetson_clocks", "cat <<'END'\n" + samples.JETSON_CLOCKS_PINNED + "END\n")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return bin_dir


def test_launch_records_telemetry_and_the_report_shows_it(
    jetson_tools: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    run = tmp_path / "run"
    rc = main(["launch", str(ROOT / "launch" / "demo.yaml"), "--duration", "1.0",
               "--run-dir", str(run), "--telemetry"])  # fmt: skip
    assert rc == 0
    log_lines = (run / "telemetry" / "tegrastats.log").read_text().splitlines()
    perf_ns, wall_ns, first = log_lines[0].split("\t")
    assert len(log_lines) >= 4 and first.startswith("RAM ") and int(wall_ns) > int(perf_ns)
    state = json.loads((run / "telemetry" / "power_state.json").read_text())
    assert state["nvpmodel_mode"] == "MAXN" and state["clocks_pinned"] is True
    capsys.readouterr()
    out_json, out_html = tmp_path / "r.json", tmp_path / "r.html"
    main(["report", str(run), "--json", str(out_json), "--html", str(out_html)])
    text = capsys.readouterr().out
    assert "Jetson telemetry" in text and "MAXN, jetson_clocks on" in text
    assert "GPU load" in text and "hottest (PMIC)" in text and "power SYS5V" in text
    tel = json.loads(out_json.read_text())["telemetry"]
    assert tel["samples"] == len(log_lines) and tel["bad_lines"] == 0
    first_s, last_s = tel["span_s"]  # on the run's time axis: the chains' clock
    assert -2.0 < first_s < 0.5 and 0.5 < last_s < 3.0
    assert tel["gpu_load_pct"]["max"] == 87.0 and tel["temps_c"]["GPU"]["max"] == 47.0
    assert tel["power_mw"]["GPU"]["max"] == 9284
    html = out_html.read_text()
    assert "id='telemetry'" in html and 'alt="GPU and CPU load, temperatures, power"' in html


def test_telemetry_off_a_jetson_runs_on(tmp_path: Path, monkeypatch, caplog) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no tegrastats anywhere
    from stack.telemetry.sampler import TegrastatsSampler

    sampler = TegrastatsSampler(tmp_path / "run", command="tegrastats")
    assert sampler.start() is False and not (tmp_path / "run" / "telemetry").exists()


def test_telemetry_needs_a_run_dir(capsys) -> None:
    rc = main(["launch", str(ROOT / "launch" / "demo.yaml"), "--duration", "0.1", "--telemetry"])
    assert rc == 2 and "--telemetry needs --run-dir" in capsys.readouterr().err


def test_a_torn_last_line_is_counted(tmp_path: Path) -> None:
    from stack.report.telemetry import load_telemetry

    folder = tmp_path / "telemetry"
    folder.mkdir()
    (folder / "tegrastats.log").write_text(
        f"1000\t9\t{samples.ORIN_JP6}\n2000\t9\t{samples.ORIN_JP6}\n3000\t9\tRAM 47"
    )
    tel = load_telemetry(tmp_path)
    assert len(tel.samples) == 2 and tel.bad_lines == 1
    assert load_telemetry(tmp_path / "nothing") is None
