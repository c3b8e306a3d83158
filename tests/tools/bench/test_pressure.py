"""CPU pressure (Linux PSI) around a run: the share of its wall time some task waited."""

from __future__ import annotations

import time

from tools.bench.pressure import CpuPressure, some_total_us


def psi(total_us: int) -> str:
    return (
        f"some avg10=1.00 avg60=0.50 avg300=0.10 total={total_us}\n"
        "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"
    )


def test_the_some_total_is_read_and_its_share_of_the_run_reported(tmp_path):
    path = tmp_path / "cpu"
    path.write_text(psi(1_000_000))
    assert some_total_us(path) == 1_000_000
    with CpuPressure(path) as cpu:
        time.sleep(0.05)
        path.write_text(psi(1_000_000 + 25_000))  # 25 ms waited
    share = cpu.share()
    assert share is not None and 0.05 < share <= 0.5  # 25 ms of >= 50 ms
    assert cpu.to_json()["cpu_wait_share"] == share and len(cpu.to_json()["load_average"]) == 3


def test_no_psi_gives_none_not_an_error(tmp_path):
    assert some_total_us(tmp_path / "missing") is None
    (tmp_path / "odd").write_text("some avg10=1.0\n")
    assert some_total_us(tmp_path / "odd") is None
    with CpuPressure(tmp_path / "missing") as cpu:
        pass
    assert cpu.share() is None and cpu.to_json()["cpu_wait_share"] is None
